"""Shell completion: typer's --install-completion/--show-completion, and the values only
codeccmp knows (codec specs with their options, metric names), through the real protocol
the installed shell scripts speak; files are left to the shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from codeccmp.cli.complete import codec_completions, metric_completions

ROOT = Path(__file__).resolve().parents[1]

# The console script's own entry point, named as installed (the shell scripts call it by
# that name, and typer derives the _CODECCMP_COMPLETE variable from it).
ENTRY = ("import sys\nsys.argv[0] = 'codeccmp'\nfrom codeccmp.cli import main\ntry:\n"
         "    main()\nfinally:\n"
         "    print([m for m in ('torch', 'numpy', 'PIL') if m in sys.modules], file=sys.stderr)\n")


def _complete(shell: str, line: str) -> tuple[str, str]:
    paths = [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    words = line.split(" ")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
           "_CODECCMP_COMPLETE": f"complete_{shell}", "_TYPER_COMPLETE_ARGS": line,
           "COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1),
           "_TYPER_COMPLETE_FISH_ACTION": "get-args"}
    r = subprocess.run([sys.executable, "-c", ENTRY], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout, r.stderr


def _values(found: list[tuple[str, str]]) -> list[str]:
    return [v for v, _ in found]


def test_codec_names_then_options_then_values() -> None:
    got = _values(codec_completions("jpeg,av"))
    assert "jpeg,avif" in got and "jpeg,avif[" in got
    assert all(v.startswith("jpeg,av") for v in got)
    assert _values(codec_completions("avif[sp")) == ["avif[speed="]
    assert _values(codec_completions("jpeg[optimize=")) == ["jpeg[optimize=true]",
                                                             "jpeg[optimize=false]"]
    # a key given once is not offered again; the list before the last comma stays
    assert "heif,jpeg[optimize=false,chroma=" in _values(
        codec_completions("heif,jpeg[optimize=false,"))
    assert "heif,jpeg[optimize=false,optimize=" not in _values(
        codec_completions("heif,jpeg[optimize=false,"))
    assert _values(codec_completions("heif[chroma=4")) == [
        "heif[chroma=420]", "heif[chroma=422]", "heif[chroma=444]"]
    assert codec_completions("nosuchcodec[") == []
    assert _values(codec_completions("webp[method=")) == ["webp[method=6]"]  # its default


def test_metric_names() -> None:
    got = _values(metric_completions("psnr,ss"))
    assert "psnr,ssim" in got and all(v.startswith("psnr,ss") for v in got)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_shell_protocol_answers_without_torch(shell: str) -> None:
    """A codec or metric name is completed from the registered names and options alone: no
    torch (the learned codecs are listed, not loaded), and neither NumPy nor Pillow (every
    codec and metric module imports them where it codes or computes): a TAB costs a tenth
    of a second, not two."""
    out, err = _complete(shell, "codeccmp compare x.png --codecs jpeg,av")
    assert "jpeg,avif[" in out, out
    assert err.strip().splitlines()[-1] == "[]"
    out, err = _complete(shell, "codeccmp sweep x.png --metrics ms-")
    assert "ms-ssim" in out
    assert err.strip().splitlines()[-1] == "[]"


def test_files_are_left_to_the_shell() -> None:
    out, _ = _complete("zsh", "codeccmp compare ")  # the IMAGE argument
    assert out.strip() == "_files"


def test_install_and_show_completion_are_offered(cli) -> None:  # noqa: ANN001
    r = cli("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
    paths = [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    # typer's own tests' switch: the shell is given, not detected from the process tree
    # (which differs from machine to machine).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths),
           "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    for shell, marker in (("bash", "complete -o default -F"), ("zsh", "#compdef codeccmp"),
                          ("fish", "complete --command codeccmp")):
        r2 = subprocess.run([sys.executable, "-c", ENTRY, "--show-completion", shell],
                            capture_output=True, text=True, env=env, timeout=120)
        assert r2.returncode == 0 and marker in r2.stdout, (shell, r2.stdout, r2.stderr)
        assert "_CODECCMP_COMPLETE" in r2.stdout
