"""The image file formats an external tool can be given or write, and the colour conversions
the raw ones take, by name.

Why apart from :mod:`codeccmp_external.pixels`, which reads and writes them: reading a TOML
definition checks its formats against these names, and every run (and every shell
completion of a codec name) reads the shipped definitions; the pixels need NumPy and Pillow,
the names do not.
"""

from __future__ import annotations

#: Formats and their file extensions (what a tool recognises the file by).
FORMATS: dict[str, str] = {
    "png": "png", "ppm": "ppm", "yuv444": "yuv", "yuv420": "yuv",
    "y4m444": "y4m", "y4m420": "y4m",
}
#: Headerless planar YUV: the decoder needs the size and colour given.
RAW = ("yuv444", "yuv420")
#: YCbCr matrices and ranges, as ``color = "..."`` names them.
COLOR = ("bt601-full", "bt601-limited", "bt709-full", "bt709-limited")


def needs_color(fmt: str) -> bool:
    """Whether files of ``fmt`` hold YCbCr (raw YUV, Y4M), which codeccmp converts itself."""
    return fmt in RAW or fmt.startswith("y4m")
