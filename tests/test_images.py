"""Input handling: every mode reduced to the same 8-bit pixels, with warnings where lossy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.errors import UsageError
from codeccmp.model.images import load_image, to_gray, to_rgb


def save(tmp_path: Path, img: Image.Image, name: str, **kw) -> Path:  # noqa: ANN003
    p = tmp_path / name
    img.save(p, **kw)
    return p


@pytest.mark.parametrize("name", ["a.png", "a.tiff", "a.bmp", "a.ppm", "a.jpg"])
def test_rgb_formats(tmp_path: Path, rgb_image: np.ndarray, name: str) -> None:
    src = load_image(save(tmp_path, Image.fromarray(rgb_image), name))
    assert src.pixels.shape == rgb_image.shape and src.pixels.dtype == np.uint8
    assert src.notes == []
    if not name.endswith(".jpg"):
        assert np.array_equal(src.pixels, rgb_image)


def test_pgm_gray(tmp_path: Path, gray_image: np.ndarray) -> None:
    src = load_image(save(tmp_path, Image.fromarray(gray_image), "g.pgm"))
    assert src.is_gray and np.array_equal(src.pixels, gray_image)


def test_palette_becomes_rgb_or_gray(tmp_path: Path, rgb_image: np.ndarray,
                                     gray_image: np.ndarray) -> None:
    p = Image.fromarray(rgb_image).quantize(64)
    src = load_image(save(tmp_path, p, "p.png"))
    assert src.pixels.ndim == 3 and np.array_equal(src.pixels, np.asarray(p.convert("RGB")))
    gp = Image.fromarray(gray_image).convert("P")
    assert load_image(save(tmp_path, gp, "gp.png")).is_gray


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_dropped_with_warning(tmp_path: Path, rgb_image: np.ndarray, mode: str) -> None:
    img = Image.fromarray(rgb_image).convert(mode)
    src = load_image(save(tmp_path, img, "a.png"))
    assert "alpha channel dropped" in src.notes
    assert src.pixels.ndim == (3 if mode == "RGBA" else 2)


def test_16_bit_reduced_with_warning(tmp_path: Path) -> None:
    arr = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    src = load_image(save(tmp_path, Image.fromarray(arr), "d.png"))
    assert src.is_gray and "16-bit image reduced to 8 bits" in src.notes
    assert src.pixels.max() == round(arr.max() / 257)


def test_bad_inputs(tmp_path: Path, rgb_image: np.ndarray) -> None:
    with pytest.raises(UsageError, match="image not found"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(UsageError, match="not an image"):
        load_image(tmp_path / "t.png")
    good = save(tmp_path, Image.fromarray(rgb_image), "g.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(UsageError, match="cannot read image"):
        load_image(tmp_path / "trunc.png")
    small = save(tmp_path, Image.fromarray(rgb_image[:15, :40]), "s.png")
    with pytest.raises(UsageError, match=r"image too small: 40×15"):
        load_image(small)


def test_no_file_is_left_to_the_garbage_collector(tmp_path: Path,
                                                  rgb_image: np.ndarray) -> None:
    """The image is read once and decoded from memory. Opened by path, a truncated file's
    failed decode and a multi-frame file (Pillow keeps a file open for its other frames)
    left their file open for the garbage collector to close, with a ResourceWarning."""
    import gc
    import warnings

    good = save(tmp_path, Image.fromarray(rgb_image), "g.png").read_bytes()
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(good[: len(good) // 2])
    frames = [Image.fromarray(rgb_image), Image.fromarray(rgb_image[::-1])]
    gif = tmp_path / "two.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    gc.collect()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(UsageError, match="cannot read image"):
            load_image(trunc)
        assert "multi-frame file: first frame used" in load_image(gif).notes
        gc.collect()
    assert [str(w.message) for w in seen if w.category is ResourceWarning] == []


@pytest.mark.parametrize(("ext", "module", "fmt"), [("heic", "pillow_heif", "HEIF"),
                                                   ("jxl", "pillow_jxl", "JXL")])
def test_heif_and_jpeg_xl_files_are_images(tmp_path: Path, rgb_image: np.ndarray, ext: str,
                                           module: str, fmt: str) -> None:
    """A HEIF or JPEG XL file (what codeccmp's own codecs write: a source, or a decoded
    image given to ``measure``) was "not an image": Pillow reads them only through plugins,
    which nothing registered unless a HEIF or JPEG XL codec had run. In a fresh process,
    where nothing has."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from procs import python_argv, run

    plugin = pytest.importorskip(module)
    if module == "pillow_heif":
        plugin.register_heif_opener()
    path = tmp_path / f"a.{ext}"
    Image.fromarray(rgb_image).save(path, quality=90)
    code = ("import sys; from codeccmp.model.images import load_image; "
            "s = load_image(sys.argv[1]); print(s.source_format, *s.pixels.shape)")
    r = run(python_argv(code, str(path)), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == [fmt, *map(str, rgb_image.shape)]
    # Not an image is still that, with the plugins registered.
    (tmp_path / "t.heic").write_text("not an image")
    code = ("import sys; from codeccmp.model.images import load_image\n"
            "try:\n    load_image(sys.argv[1])\nexcept Exception as e:\n    print(e)")
    r = run(python_argv(code, str(tmp_path / "t.heic")), timeout=120)
    assert r.stdout.startswith("not an image (or an unsupported format)"), r.stdout + r.stderr


def test_gray_replication_round_trip(gray_image: np.ndarray) -> None:
    assert np.array_equal(to_gray(to_rgb(gray_image)), gray_image)


def _with_orientation(path: Path, pixels: np.ndarray, orientation: int, **save: object) -> Path:
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = orientation  # ExifTags.Base.Orientation
    img.save(path, exif=exif, **save)
    return path


def test_a_sideways_camera_jpeg_is_coded_upright_and_says_so(tmp_path: Path) -> None:
    """A portrait from a camera: stored 48 × 32 (landscape), EXIF orientation 6 (turn 90°
    clockwise to view). codeccmp codes what a viewer shows: 32 wide, 48 high."""
    yy, xx = np.mgrid[0:32, 0:48]
    stored = np.stack([xx * 5, yy * 7, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    path = _with_orientation(tmp_path / "portrait.jpg", stored, 6, quality=95)
    src = load_image(path)
    assert src.pixels.shape == (48, 32, 3)
    assert src.notes == ["EXIF orientation 6 applied (rotated 90° clockwise)"]
    decoded = np.asarray(Image.open(path).convert("RGB")).astype(int)  # as stored
    # Turned 90° clockwise: the stored image's first column, read bottom to top, is the
    # upright image's first row.
    assert np.array_equal(src.pixels, np.rot90(decoded, k=-1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_as_pillow_turns_it(tmp_path: Path, rgb_image: np.ndarray,
                                                    orientation: int) -> None:
    from PIL import ImageOps

    path = _with_orientation(tmp_path / "o.png", rgb_image[:40, :56], orientation)
    src = load_image(path)
    want = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(src.pixels, want)
    assert bool(src.notes) == (orientation != 1)


def test_orientation_note_reaches_the_user(cli, tmp_path: Path, rgb_image: np.ndarray) -> None:  # noqa: ANN001
    path = _with_orientation(tmp_path / "p.png", rgb_image, 8)
    r = cli("compare", str(path), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    assert "EXIF orientation 8 applied (rotated 90° counter-clockwise)" in r.stderr + r.stdout


def test_standard_input_that_is_a_terminal_is_refused(monkeypatch) -> None:  # noqa: ANN001
    """``-`` with nothing piped in, at a terminal: one line, not a wait for typed bytes."""
    import io
    import sys

    class Terminal(io.BytesIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(Terminal()))
    with pytest.raises(UsageError, match="standard input is a terminal"):
        load_image("-")
