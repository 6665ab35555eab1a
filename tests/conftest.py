"""Shared fixtures: paths to ../shared, small synthetic images, an in-process CLI runner."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test cleanly when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture
def rgb_image() -> np.ndarray:
    """A 96×80 RGB image with smooth gradients, an edge and a grating: compressible, not flat."""
    h, w = 80, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(2 * np.pi * (x * np.cos(0.5) + y * np.sin(0.5)) / 9)
    g = 255 * x / w
    b = np.where(y > h / 2, 200.0, 40.0)
    return np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8)


@pytest.fixture
def gray_image(rgb_image: np.ndarray) -> np.ndarray:
    return rgb_image[..., 0].copy()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``codeccmp ARGS`` in-process; returns exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> CliResult:
        from codeccmp.cli.app import main

        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


def run_subprocess(*args: str, cwd: Path | None = None) -> CliResult:
    """Run the installed console script, as a user would (for traceback-free checks)."""
    proc = subprocess.run([sys.executable, "-m", "codeccmp", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
