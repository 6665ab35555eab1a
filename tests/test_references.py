"""Published reference curves: the shipped data, ids, loading, the data-set check, their use
in a sweep (plots, BD against a reference) and the CompressAI-format export read back by
CompressAI's own plot utility."""

from __future__ import annotations

import fnmatch
import json
import math
import sys
from pathlib import Path

import pytest
from PIL import Image

from codeccmp.errors import UsageError
from codeccmp.model.images import from_array, load_image
from codeccmp.references import (
    COMPRESSAI_ROOT,
    DATA,
    catalogue,
    check_dataset,
    load_curve,
    resolve,
)

KODAK = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "kodak"
needs_kodak = pytest.mark.skipif(not (KODAK / "kodim24.png").exists(),
                                 reason="the Kodak set is not at ../shared/datasets/kodak")

sys.path.insert(0, str(Path(__file__).parent))
import test_sweep  # noqa: E402  (the sweep tests' codecs)
from test_sweep import count, make_image  # noqa: E402

fake_plugin = test_sweep.fake_plugin  # the same fixture: (plugin file, encode-count file)


@pytest.fixture
def registry(fake_plugin: tuple[Path, Path]):
    from codeccmp.plugins import load_registry

    return load_registry([fake_plugin[0]])


# ---------------------------------------------------------------------------- catalogue


def test_ids_are_unique_per_data_set_and_licence_ships_beside() -> None:
    refs = catalogue()
    keys = [(r.dataset, r.id) for r in refs]
    assert len(keys) == len(set(keys))
    assert {r.dataset for r in refs} == {"kodak", "clic2020-mobile", "clic2020-professional"}
    assert (DATA / "compressai" / "LICENSE").read_text().startswith("Copyright")
    assert "869a9f5" in (DATA / "compressai" / "README.md").read_text()


def test_resolve_ids_variants_and_data_sets() -> None:
    vtm = resolve("vtm")
    assert (vtm.dataset, vtm.path.name, vtm.name) == ("kodak", "vtm.json", "ref:vtm")
    assert resolve("ref:vtm") == vtm and resolve("kodak/vtm") == vtm
    cuda = resolve("compressai-mbt2018_ms-ssim")
    assert (cuda.device, cuda.path.name) == ("cuda", "compressai-mbt2018_ms-ssim_cuda.json")
    assert resolve("compressai-mbt2018_ms-ssim@cuda") == cuda
    cpu = resolve("compressai-mbt2018_ms-ssim@cpu")
    assert (cpu.device, cpu.path.name) == ("cpu", "compressai-mbt2018_ms-ssim_cpu.json")
    eight = resolve("compressai-mbt2018_mse@8bit")
    assert eight.decoded == "8bit" and eight.path.parent.parent.name == "8bit-decoded"
    assert resolve("bpg").path.name == "bpg_444_x265_ycbcr.json"
    clic = resolve("clic2020-mobile/vtm")
    assert clic.dataset == "clic2020-mobile" and clic.path.parent.name == "clic2020-mobile"


def test_unknown_reference_suggests_close_ids() -> None:
    with pytest.raises(UsageError, match="did you mean vtm"):
        resolve("vtn")
    with pytest.raises(UsageError, match="unknown reference"):
        resolve("clic2020-mobile/paper-mbt2018")  # a Kodak-only curve


def test_mislabelled_8bit_ms_ssim_files_are_left_out() -> None:
    """CompressAI's 8bit-decoded *_ms-ssim files repeat the MSE model's numbers."""
    ids = {r.id for r in catalogue() if r.dataset == "kodak"}
    assert "compressai-mbt2018_mse@8bit" in ids
    assert "compressai-mbt2018_ms-ssim@8bit" not in ids
    assert "compressai-mbt2018_ms-ssim" in ids  # the float run is a real MS-SSIM model
    a = json.loads((COMPRESSAI_ROOT / "8bit-decoded/kodak/compressai-mbt2018_ms-ssim_ans_cuda"
                    ".json").read_text())["results"]
    b = json.loads((COMPRESSAI_ROOT / "8bit-decoded/kodak/compressai-mbt2018_mse_ans_cuda"
                    ".json").read_text())["results"]
    assert a["bpp"] == b["bpp"]  # why they are left out


def test_package_data_globs_cover_every_shipped_file() -> None:
    """A non-editable install gets only what pyproject's package-data names."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the backport pyproject installs there
        import tomli as tomllib

    root = Path(__file__).resolve().parents[1]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"]["codeccmp"]
    pkg = root / "src" / "codeccmp"
    shipped = [p.relative_to(pkg).as_posix() for p in (pkg / "references").rglob("*")
               if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts]
    assert len(shipped) > 100
    missing = [f for f in shipped if not any(fnmatch.fnmatchcase(f, g) for g in globs)]
    assert missing == []


# ---------------------------------------------------------------------------- curves


def test_load_curve_known_values() -> None:
    c = load_curve(resolve("vtm").path)
    assert len(c.bpp) == 8 and c.bpp[0] == pytest.approx(0.04824490017361111)
    assert c.psnr[0] == pytest.approx(26.14484539430146)
    # MS-SSIM dB of the published mean MS-SSIM, as CompressAI's plot computes it.
    assert c.ms_ssim_db[0] == pytest.approx(-10 * math.log10(1 - 0.8606081604957581))
    paper = load_curve(resolve("paper-elic2022_ms-ssim").path)  # gives ms-ssim-db-rgb only
    assert all(v is None for v in paper.psnr) and paper.ms_ssim_db[0] is not None


@pytest.mark.parametrize("content, message", [
    ("not json", "not JSON"),
    ('{"results": {"psnr-rgb": [30]}}', "no results.bpp"),
    ('{"results": {"bpp": [0.1, 0.2], "psnr-rgb": [30]}}', "as long as"),
    ('{"results": {"bpp": [0.1, -0.2], "psnr-rgb": [30, 31]}}', "positive"),
    ('{"results": {"bpp": [0.1, 0.2], "ms-ssim-rgb": [0.9, 1.5]}}', "[0, 1]"),
    ('{"results": {"bpp": [0.1, 0.2]}}', "needs psnr-rgb"),
])
def test_bad_reference_files_are_usage_errors(tmp_path: Path, content: str,
                                              message: str) -> None:
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        resolve(str(f))


# ---------------------------------------------------------------------------- data sets


@pytest.fixture(scope="module")
def kodak_images() -> list:
    return [load_image(KODAK / f"kodim{i:02d}.png") for i in range(1, 25)]


@needs_kodak
def test_kodak_check_passes_on_exactly_the_set(kodak_images, tmp_path: Path) -> None:
    vtm = resolve("vtm")
    assert check_dataset(vtm, kodak_images) == "passed"
    with pytest.raises(UsageError, match="has 23 of them"):
        check_dataset(vtm, kodak_images[:23])
    other = from_array(make_image(1), "other")
    with pytest.raises(UsageError, match="24 of them and 1 other"):
        check_dataset(vtm, [*kodak_images, other])
    with pytest.raises(UsageError, match="some twice"):
        check_dataset(vtm, [*kodak_images[:23], kodak_images[0]])
    assert check_dataset(vtm, kodak_images[:3], "off") == "off"
    # A copy re-encoded with other PNG settings has other file bytes but the same pixels.
    copy = tmp_path / "kodim01.png"
    Image.open(KODAK / "kodim01.png").save(copy, compress_level=1)
    recoded = load_image(copy)
    assert recoded.sha256 != kodak_images[0].sha256
    assert check_dataset(vtm, [recoded, *kodak_images[1:]]) == "passed"


def test_clic_cannot_be_recognised_without_override() -> None:
    img = [from_array(make_image(1), "a")]
    ref = resolve("clic2020-professional/vtm")
    with pytest.raises(UsageError, match="cannot recognise.*--reference-dataset-check off"):
        check_dataset(ref, img)
    assert check_dataset(ref, img, "off") == "off"


def test_user_file_has_no_data_set_to_check(tmp_path: Path) -> None:
    f = tmp_path / "mine.json"
    f.write_text(json.dumps({"name": "mine", "results": {"bpp": [0.1, 0.2],
                                                        "psnr-rgb": [30.0, 32.0]}}))
    ref = resolve(str(f))
    assert ref.dataset is None and ref.name == "ref:mine"
    assert check_dataset(ref, [from_array(make_image(1), "a")]) == "unknown data set"


# ---------------------------------------------------------------------------- CLI


def test_references_command_lists_them(cli) -> None:
    r = cli("references", "--json")
    assert r.code == 0
    rows = json.loads(r.stdout)
    vtm = next(x for x in rows if x["spec"] == "kodak/vtm")
    assert vtm["metrics"] == ["psnr", "ms-ssim"] and vtm["points"] == 8
    mbt = next(x for x in rows if x["spec"] == "kodak/compressai-mbt2018_ms-ssim")
    assert mbt["device"] == "cuda"
    r = cli("references", "--dataset", "kodak")
    assert r.code == 0 and "compressai-mbt2018_ms-ssim@cpu" in r.stdout
    assert "clic2020" not in r.stdout
    r = cli("references", "--dataset", "imagenet")
    assert r.code == 2 and "--dataset must be one of" in r.stderr


def test_references_table_is_a_line_per_curve_at_80_columns(cli, monkeypatch) -> None:  # noqa: ANN001
    """Each curve on one line of an 80-column terminal with its id whole (it is typed into
    --reference; below 120 columns every column used to fold to a few letters), under a
    title per data set saying how to name it; where each curve comes from waits for -v."""
    rows = json.loads(cli("references", "--json").stdout)
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("references")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    for row in rows:  # the data set's title, then its curves, one line each, in order
        lo, hi = row["bpp_range"]
        assert any(line.split() == [row["id"], *row["metrics"], str(row["points"]),
                                    f"{lo:.2f}–{hi:.2f}"] for line in lines), row["spec"]
    assert "kodak: sweep --reference ID" in lines
    assert "clic2020-mobile: sweep --reference clic2020-mobile/ID" in lines
    assert "Pillow version" not in r.stdout and "-v adds" in r.stdout
    monkeypatch.setenv("COLUMNS", "200")
    r = cli("references", "-v", "--dataset", "kodak")
    jpeg = next(line for line in r.stdout.splitlines() if line.startswith("jpeg "))
    assert jpeg.endswith("JPEG. Pillow version 7.1.2"), jpeg
    cpu = next(line for line in r.stdout.splitlines()
               if line.startswith("compressai-mbt2018_mse@cpu "))
    assert cpu.endswith("CompressAI zoo model, on cpu"), cpu


@pytest.fixture
def imgs(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for s in (1, 2):  # large enough for MS-SSIM (over 160 px a side)
        Image.fromarray(make_image(s, 168, 168)).save(d / f"im{s}.png")
    return d


def test_reference_on_other_images_refused_before_any_encode(cli, tmp_path: Path, imgs,
                                                             fake_plugin) -> None:
    plugin, counter = fake_plugin
    base = ["sweep", str(imgs), "--bpp", "0.5,1", "--codecs", "quant", "--plugin", str(plugin),
            "--cache-dir", str(tmp_path / "c"), "--roi", "none", "-j", "1", "-q"]
    r = cli(*base, "--reference", "vtm")
    assert r.code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert "mean over the 24 kodak images; the sweep has 0 of them and 2 other" in r.stderr
    assert count(counter) == 0
    for extra, msg in [(["--reference", "vtn"], "did you mean vtm"),
                       (["--reference", "vtm", "--anchor", "hm"], "not among the codecs"),
                       (["--average", "median"], "--average must be"),
                       (["--reference-dataset-check", "maybe"], "must be on or off")]:
        r = cli(*base, *extra)
        assert r.code == 2 and msg in r.stderr, (extra, r.stderr)
    assert count(counter) == 0


def test_sweep_with_references_json_plot_and_export(cli, tmp_path: Path, imgs,
                                                    fake_plugin,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    plugin, _ = fake_plugin
    out = tmp_path / "cai"
    r = cli("sweep", str(imgs), "--bpp", "0.5,1,2,3", "--codecs", "quant,lquant",
            "--plugin", str(plugin), "--cache-dir", str(tmp_path / "c"), "--roi", "none",
            "-j", "1", "-q", "--reference", "vtm", "--reference", "bpg", "--anchor", "vtm",
            "--reference-dataset-check", "off", "--json", str(tmp_path / "s.json"),
            "--plot", str(tmp_path / "s.png"), "--compressai-json", str(out))
    assert r.code == 0, r.stderr
    assert "BD against vtm (published)" in r.stdout and "bpg (published)" in r.stdout
    assert "data-set check off, not verified" in r.stderr
    d = json.loads((tmp_path / "s.json").read_text())
    assert d["average"] == "quality"  # the default with references: their convention
    assert d["anchor"] == "ref:vtm"
    assert [(x["name"], x["dataset_check"]) for x in d["references"]] == [
        ("ref:vtm", "off"), ("ref:bpg", "off")]
    assert d["references"][0]["curve"]["psnr"][0] == pytest.approx(26.14484539430146)
    assert set(d["bd"]["psnr"]) == {"quant", "lquant", "ref:bpg"}
    assert d["bd_per_image"] == {}  # references have no per-image curves

    # The export, read back by CompressAI's own plot utility (its CLI's main()).
    files = sorted(out.iterdir())
    assert [f.name for f in files] == ["lquant.json", "quant.json"]
    doc = json.loads((out / "quant.json").read_text())
    avg = [a for a in d["averaged"] if a["codec"] == "quant"]
    assert doc["results"]["bpp"] == sorted(a["bpp"] for a in avg)
    assert set(doc["results"]) == {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
                                   "decoding_time"}
    import matplotlib

    matplotlib.use("Agg")
    from compressai.utils.plot.__main__ import main as compressai_plot

    for metric in ("psnr", "ms-ssim"):
        png = tmp_path / f"cai-{metric}.png"
        compressai_plot(["-f", *map(str, files), str(resolve("vtm").path), "-m", metric,
                         "-o", str(png)])
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Existing export files are not overwritten without --force.
    r = cli("sweep", str(imgs), "--bpp", "1", "--codecs", "quant", "--plugin", str(plugin),
            "--cache-dir", str(tmp_path / "c"), "--roi", "none", "-q",
            "--compressai-json", str(out))
    assert r.code == 2 and "--force" in r.stderr


def test_bd_against_a_reference_file_known_answer(tmp_path: Path) -> None:
    """A reference at twice the measured rates for the same quality: BD-rate −50 %."""
    from codeccmp.plugins import load_registry
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    registry = load_registry()
    images = [from_array(make_image(s, 168, 168), f"im{s}") for s in (1, 2)]
    opts = dict(targets=[0.5, 1.0, 1.5, 2.0, 3.0], codecs=["jpeg"], cache_dir=tmp_path / "c",
                jobs=1, rois=None, average="quality")
    first = run_sweep(images, registry, SweepOptions(**opts))
    pts = sorted((a.bpp, a.psnr, a.ms_ssim) for a in first.averaged)
    assert len(pts) == 5
    ref = tmp_path / "twice.json"
    ref.write_text(json.dumps({"name": "twice", "results": {
        "bpp": [2 * b for b, _, _ in pts], "psnr-rgb": [p for _, p, _ in pts],
        "ms-ssim-rgb": [m for _, _, m in pts]}}))
    res = run_sweep(images, registry, SweepOptions(**opts, references=[str(ref)],
                                                   anchor="twice"))
    assert res.anchor == "ref:twice"
    assert res.references[0]["dataset_check"] == "unknown data set"
    for metric in ("psnr", "ms_ssim_db"):
        assert res.bd[metric]["jpeg"]["bd_rate_percent"] == pytest.approx(-50.0, abs=1e-6)
    # and with the codec as anchor, the reference costs twice the bits: +100 %
    res = run_sweep(images, registry, SweepOptions(**opts, references=[str(ref)],
                                                   anchor="jpeg"))
    assert res.bd["psnr"]["ref:twice"]["bd_rate_percent"] == pytest.approx(100.0, abs=1e-6)
    assert res.cache["encodes"] == 0  # the reruns came from the cache


def test_names_of_codecs_and_references_do_not_clash() -> None:
    """``--reference jpeg`` beside the ``jpeg`` codec: ``ref:jpeg`` is the published one."""
    from codeccmp.sweep.runner import resolve_anchor

    refs = [{"name": "ref:jpeg", "id": "jpeg", "spec": "kodak/jpeg"}]
    assert resolve_anchor("jpeg", ["jpeg", "webp"], refs) == "jpeg"
    assert resolve_anchor("ref:jpeg", ["jpeg", "webp"], refs) == "ref:jpeg"
    assert resolve_anchor("jpeg", ["webp"], refs) == "ref:jpeg"
    with pytest.raises(UsageError, match=r"or the references \(ref:jpeg\)"):
        resolve_anchor("vtm", ["webp"], refs)


def test_reference_curve_is_checked_against_images_in_the_library_api(
        tmp_path: Path, fake_plugin, registry) -> None:
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    plugin, counter = fake_plugin
    with pytest.raises(UsageError, match="kodak"):
        run_sweep([from_array(make_image(1), "a")], registry, SweepOptions(
            targets=[1.0], codecs=["quant"], cache=False, rois=None, jobs=1,
            plugin_files=[plugin], references=["webp"]))
    assert count(counter) == 0
