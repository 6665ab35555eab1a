"""The sweep as a user watches it: the job count before the first job, the full codec spec
in every table."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from test_sweep import fake_plugin, make_image, options, registry  # noqa: F401 - fixtures

from codeccmp.model.images import from_array
from codeccmp.sweep import runner as sweep_mod
from codeccmp.sweep.runner import run_sweep


def test_job_count_is_known_before_any_work(tmp_path: Path, fake_plugin, registry,  # noqa: ANN001, F811
                                            monkeypatch) -> None:  # noqa: ANN001
    """The bar gets its total before the first image's stripe regions are looked for (which
    takes seconds per image), not only once the cache has been asked about every job."""
    events: list[tuple[str, object]] = []
    real = sweep_mod._resolve_rois

    def rois(*a, **k):  # noqa: ANN002, ANN003, ANN202
        events.append(("rois", None))
        return real(*a, **k)

    monkeypatch.setattr(sweep_mod, "_resolve_rois", rois)
    images = [from_array(make_image(s), f"im{s}") for s in (1, 2)]
    run_sweep(images, registry, options(tmp_path, fake_plugin[0], targets=[0.5, 1.0]),
              progress=lambda task, outcome: events.append(("job", len(outcome.outcomes))),
              on_start=lambda n: events.append(("total", n)))
    assert events[0] == ("total", 4)  # 2 images × 2 targets × 1 codec
    assert events.index(("total", 4)) < events.index(("rois", None))
    assert sum(n for kind, n in events if kind == "job") == 4


def test_progress_bar_never_shows_none(monkeypatch) -> None:  # noqa: ANN001
    """Before the count is set the bar says "?", then "0/N", and rich's ETA column is on."""
    from rich.console import Console
    from rich.progress import TimeRemainingColumn

    from codeccmp.cli.sweep import _Progress

    monkeypatch.setattr("sys.stderr.isatty", lambda: True)  # a bar only in a terminal
    bar = _Progress(quiet=False)
    assert bar.__enter__() is bar
    try:
        def shown() -> str:
            out = Console(file=io.StringIO(), width=200, color_system=None)
            out.print(bar.bar.make_tasks_table(bar.bar.tasks))
            return out.file.getvalue()

        assert "None" not in shown() and "0/?" in shown()
        bar.start(12)
        assert "0/12" in shown() and "None" not in shown()
        assert any(isinstance(c, TimeRemainingColumn) for c in bar.bar.columns)
    finally:
        bar.__exit__(None, None, None)


def test_bd_table_names_codecs_with_their_options(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """Options in brackets are the codec's name, not rich markup to strip."""
    rng = np.random.default_rng(0)
    img = tmp_path / "img.png"
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(img)
    r = cli("sweep", str(img), "--bpp", "2,4", "--codecs",
            "jpeg[optimize=false],webp[method=4],jpeg2000", "--anchor", "jpeg2000",
            "--roi", "none", "--no-cache", "-q")
    assert r.code == 0, r.stderr
    bd = r.stdout[r.stdout.index("BD against"):]
    assert "│ jpeg[optimize=false] │" in bd and "│ webp[method=4]" in bd, bd
