"""Consoles for the CLI: tables stay readable when output is piped into a file or a log."""

from __future__ import annotations

import os
import sys
from typing import TextIO

from rich.console import Console
from rich.text import Text

#: Width used when stdout is not a terminal and COLUMNS is unset (tables would wrap at 80).
PIPE_WIDTH = 160


class _NoTrailingSpaces:
    """A text stream that drops the spaces rich pads a line with up to the table's width
    (after a left-aligned last column, a title, a wrapped caption): in a file or a pipe they
    are noise for ``diff``, ``grep 'x$'`` and editors. Rich ends each print with a newline;
    an unfinished line is written as is when flushed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.pending = ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).split("\n")
        self.pending = lines.pop()
        if lines:
            self.stream.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"


def stdout_console(stderr: bool = False) -> Console:
    """The console for tables: standard output, or standard error when standard output
    carries a document (``--json -``)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return Console(stderr=stderr, emoji=False)
    width = None if os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(file=_NoTrailingSpaces(stream), width=width,  # type: ignore[arg-type]
                   emoji=False)


def stderr_console() -> Console:
    return Console(stderr=True, soft_wrap=True, emoji=False)


def labelled(label: str, text: str, style: str = "yellow") -> Text:
    """``label`` in ``style``, a space, then ``text`` exactly as given.

    Why not ``f"[yellow]{label}[/] {text}"``: rich reads the whole string as markup (and
    ``:name:`` as emoji), so a codec's options, ``jpeg[optimize=false]``, were printed as
    ``jpeg``, and a bracket in an error message could end the line in a MarkupError."""
    return Text.assemble((label, style), " ", text)
