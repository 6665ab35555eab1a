"""``sweep --out DIR``: every point's bitstream and reconstruction, the very bytes the table
reports, the reconstruction decoded from them alone."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from codeccmp.measure.metrics import psnr


def _img(folder: Path) -> Path:
    rng = np.random.default_rng(8)
    y, x = np.mgrid[0:72, 0:96]
    img = 128 + 70 * np.sin(x / 3.0 + y / 5.0)[..., None] + rng.normal(0, 6, (72, 96, 3))
    path = folder / "pic.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def test_sweep_out_saves_the_measured_points(cli, tmp_path: Path) -> None:  # noqa: ANN001
    img = _img(tmp_path)
    original = np.asarray(Image.open(img))
    out, js = tmp_path / "recon", tmp_path / "s.json"
    args = ["sweep", str(img), "--bpp", "0.8,1.6", "--codecs", "jpeg,webp[method=4]",
            "--roi", "none", "--cache-dir", str(tmp_path / "cache"), "-q"]
    r = cli(*args, "--out", str(out), "--json", str(js))
    assert r.code == 0, r.stderr
    points = json.loads(js.read_text())["points"]
    assert len(points) == 4
    for p in points:
        res = p["result"]
        stem = f"{res['codec']}-{p['value']:g}bpp"
        bits = out / "pic" / f"{stem}.{res['extension']}"
        png = out / "pic" / f"{stem}.png"
        assert res["outputs"] == {"reconstruction": str(png.resolve()),
                                  "bitstream": str(bits.resolve())}
        data = bits.read_bytes()
        assert len(data) == res["nbytes"]  # the bytes the table's bpp counts
        recon = np.asarray(Image.open(png))
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert np.array_equal(recon, decoded)  # decoded from those bytes alone
        assert psnr(original, recon) == res["psnr"]  # the reconstruction that was measured
    # Again: the files exist; refused before any coding, nothing changed.
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    r = cli(*args, "--out", str(out))
    assert r.code == 2 and "exists" in r.stderr and "--force" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_sweep_out_without_a_cache_codes_again(cli, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """No cache to take the bytes from: coded again at the chosen parameter (the codecs are
    deterministic), the same bytes."""
    from codeccmp.sweep import cache as cache_mod

    img = _img(tmp_path)
    monkeypatch.setenv("CODECCMP_CACHE_DIR", str(tmp_path / "c1"))
    js, out = tmp_path / "s.json", tmp_path / "o"
    r = cli("sweep", str(img), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q",
            "--json", str(js))
    assert r.code == 0, r.stderr
    want = json.loads(js.read_text())["points"][0]["result"]
    monkeypatch.setattr(cache_mod.ResultCache, "get_trial", lambda self, key: None)
    r = cli("sweep", str(img), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q",
            "--out", str(out))
    assert r.code == 0, r.stderr
    assert len((out / "pic" / "jpeg-1bpp.jpg").read_bytes()) == want["nbytes"]


def test_sweep_out_refuses_bytes_other_than_the_measured(cli, tmp_path: Path,  # noqa: ANN001
                                                         monkeypatch) -> None:  # noqa: ANN001
    """An encoder that gives other bytes when asked again (no cache to take the measured
    ones from): the point is not saved, a note says why, and no file of it is left; the
    JSON records no outputs for it."""
    import itertools

    from codeccmp_pillow.codecs import JpegCodec

    from codeccmp.sweep import cache as cache_mod

    img = _img(tmp_path)
    monkeypatch.setenv("CODECCMP_CACHE_DIR", str(tmp_path / "c1"))
    js, out = tmp_path / "s.json", tmp_path / "o"
    r = cli("sweep", str(img), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    monkeypatch.setattr(cache_mod.ResultCache, "get_trial", lambda self, key: None)
    calls = itertools.count(1)
    encode = JpegCodec.encode

    def padded(self, image, param):  # noqa: ANN001, ANN202
        enc = encode(self, image, param)  # bytes after the end-of-image marker: decodable
        enc.data += b"\0" * next(calls)
        return enc

    monkeypatch.setattr(JpegCodec, "encode", padded)
    r = cli("sweep", str(img), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q",
            "--out", str(out), "--json", str(js))
    assert r.code == 0, r.stderr
    assert "pic/jpeg-1bpp not saved" in r.stderr and "not deterministic" in r.stderr
    assert not list(out.rglob("*.jpg")) and not list(out.rglob("*.png"))
    assert json.loads(js.read_text())["points"][0]["result"].get("outputs") in (None, {})


def test_sweep_out_refuses_parameter_named_files_before_coding(cli, tmp_path: Path,  # noqa: ANN001
                                                               monkeypatch) -> None:  # noqa: ANN001
    """``--average quality`` saves points named by the parameter the sweep pins
    (``jpeg-quality12.png``), which no one knows before the coding: an existing file of that
    kind for a swept codec is refused before any encode, not after the sweep; a file of a
    codec not swept is not in the way; ``--force`` goes through."""
    from codeccmp_pillow.codecs import JpegCodec

    img = _img(tmp_path)
    out = tmp_path / "o"
    args = ["sweep", str(img), "--bpp", "0.8,1.6", "--codecs", "jpeg", "--roi", "none", "-q",
            "--average", "quality", "--no-cache", "--out", str(out)]
    r = cli(*args)
    assert r.code == 0, r.stderr
    pinned = sorted(p.name for p in (out / "pic").glob("jpeg-quality*"))
    assert pinned and all(n.endswith((".png", ".jpg")) for n in pinned)
    for p in (out / "pic").iterdir():  # only the rate points' files, known in advance, left
        if p.name not in pinned[:1]:
            p.unlink()
    (out / "pic" / "webp-quality5.png").write_bytes(b"not ours")
    encodes: list[int] = []
    encode = JpegCodec.encode

    def counted(self, image, param):  # noqa: ANN001, ANN202
        encodes.append(param)
        return encode(self, image, param)

    monkeypatch.setattr(JpegCodec, "encode", counted)
    r = cli(*args)
    assert r.code == 2 and pinned[0] in r.stderr and "--force" in r.stderr
    assert encodes == []  # refused before the coding
    r = cli(*args, "--force")
    assert r.code == 0, r.stderr and encodes
    assert (out / "pic" / "webp-quality5.png").read_bytes() == b"not ours"
