"""``codeccmp.installed`` answers as ``importlib.metadata`` does, without importing it.

Checked against the library itself on this environment's hundreds of distributions, and on
made-up layouts for the rules that matter when they differ: the first distribution on
``sys.path`` wins, names compare normalised, a zip file on ``sys.path`` hands the question
to the library.
"""

from __future__ import annotations

import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from codeccmp import installed


def _dist(site: Path, folder: str, name: str, version: str, entry_points: str = "") -> None:
    d = site / folder
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                "Summary: x\n\nVersion: 9.9 (in the description, not a header)\n")
    if entry_points:
        (d / "entry_points.txt").write_text(entry_points)


def test_every_installed_version_is_the_librarys() -> None:
    dists = list(metadata.distributions())
    assert len(dists) > 20  # the test's own environment: pytest, numpy, pillow, ...
    for d in dists:
        name = d.metadata["Name"]
        assert installed.version(name) == metadata.version(name), name
    assert installed.version("no-such-distribution-here") is None


@pytest.mark.parametrize("group", ["console_scripts", "codeccmp", "pytest11"])
def test_entry_points_are_the_librarys(group: str) -> None:
    ours = installed.entry_points(group)
    assert ours is not None  # a plain environment: answered directly
    theirs = [(ep.name, ep.value) for d in metadata.distributions()
              for ep in d.entry_points if ep.group == group]
    assert [(ep.name, ep.value) for ep in ours] == theirs
    if group == "codeccmp":
        assert {"pillow", "compressai", "external", "metrics"} <= {ep.name for ep in ours}


def test_first_on_sys_path_wins_and_names_are_normalised(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist(first, "Fancy_Pkg-2.0.dist-info", "Fancy.Pkg", "2.0",
          "# a comment\n[codeccmp]\nfancy = fancy_mod:Thing.attr [extra]\n\n[other]\nx = y\n")
    _dist(second, "fancy_pkg-1.0.dist-info", "fancy-pkg", "1.0", "[codeccmp]\nfancy = old\n")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    for name in ("fancy-pkg", "Fancy.Pkg", "FANCY_pkg", "fancy__pkg"):
        assert installed.version(name) == metadata.version(name) == "2.0", name
    eps = [(ep.name, ep.value) for ep in installed.entry_points("codeccmp") or []]
    assert eps[:2] == [("fancy", "fancy_mod:Thing.attr [extra]"), ("fancy", "old")]


def test_a_package_installed_meanwhile_is_seen(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    assert installed.version("late-pkg") is None
    _dist(site, "late_pkg-0.3.dist-info", "late-pkg", "0.3")
    # A folder is listed again when its modification time moves (importlib.metadata's rule
    # too); set apart here, since a file system's clock may not tick between the two.
    os.utime(site, ns=(1, 1))
    assert installed.version("late-pkg") == "0.3"


def test_a_zip_on_sys_path_is_left_to_the_library(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("zipped_pkg-4.5.dist-info/METADATA",
                   "Metadata-Version: 2.1\nName: zipped-pkg\nVersion: 4.5\n")
        z.writestr("zipped_pkg-4.5.dist-info/entry_points.txt", "[codeccmp]\nzipped = zp\n")
    monkeypatch.syspath_prepend(str(archive))
    assert installed.entry_points("codeccmp") is None  # pluggy's own loader then
    assert installed.version("zipped-pkg") == "4.5"


def test_entry_point_load_follows_attributes(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ep_target_mod.py").write_text("class Thing:\n    attr = 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "ep_target_mod", raising=False)
    ep = installed.EntryPoint("t", "ep_target_mod:Thing.attr [extra]", "codeccmp")
    assert ep.load() == 42
    assert installed.EntryPoint("m", "ep_target_mod", "codeccmp").load().Thing.attr == 42
    with pytest.raises(ValueError, match="malformed"):
        installed.EntryPoint("bad", "not a value!", "codeccmp").load()


def test_the_recorded_environment_names_the_installed_versions() -> None:
    """The results' provenance (read once a process, handed out as copies)."""
    from codeccmp.model.results import environment

    env = environment()
    assert {"numpy", "pillow", "scipy"} <= set(env["versions"])
    for name, v in env["versions"].items():
        if name != "codeccmp":
            assert v == metadata.version(name), name
    env["versions"]["numpy"] = "edited by a caller"
    assert environment()["versions"]["numpy"] == metadata.version("numpy")
