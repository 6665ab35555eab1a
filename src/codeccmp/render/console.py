"""Consoles for the CLI: tables stay readable when output is piped into a file or a log."""

from __future__ import annotations

import os
import sys

from rich.console import Console

#: Width used when stdout is not a terminal and COLUMNS is unset (tables would wrap at 80).
PIPE_WIDTH = 160


def stdout_console() -> Console:
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPE_WIDTH)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)
