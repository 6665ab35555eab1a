"""Consoles for the CLI: tables stay readable when output is piped into a file or a log."""

from __future__ import annotations

import os
import sys

from rich.console import Console

#: Width used when stdout is not a terminal and COLUMNS is unset (tables would wrap at 80).
PIPE_WIDTH = 160


def stdout_console(stderr: bool = False) -> Console:
    """The console for tables: standard output, or standard error when standard output
    carries a document (``--json -``)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty() or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(width=PIPE_WIDTH, stderr=stderr)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True)
