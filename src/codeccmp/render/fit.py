"""Tables that fit the terminal by leaving out their least important columns.

Why: rich fits a table wider than the terminal by cutting its cells, so that a number reads
"0.30…" or "24.…" — a figure that is wrong, not merely short (``codeccmp compare`` at 80
columns showed every bpp, PSNR and MS-SSIM that way). Here a table says how much each
column matters; when the terminal is narrower than the whole table, headers break over
lines first, then the least important columns are left out until the rest fits with every
value whole, and the caption names what was left out (``--json`` has every field).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

Cell = str | Text


@dataclass(eq=False)  # compared by identity: two columns may hold the same texts
class Column:
    """One column: its header (``narrow``: the same words broken over lines, used when the
    table is too wide for headers on one line), its cells, and ``drop``: 0 for a column
    always shown, else the higher, the sooner it is left out (ties: the rightmost first)."""

    header: str
    cells: list[Cell] = field(default_factory=list)
    narrow: str | None = None
    drop: int = 0
    justify: str = "right"
    style: str | None = None

    def width(self, narrow: bool) -> int:
        """The width that shows the header (on its lines) and every cell whole."""
        header = self.narrow if narrow and self.narrow is not None else self.header
        lines = [*header.split("\n"),
                 *(line for c in self.cells for line in _plain(c).split("\n"))]
        return max(cell_len(line) for line in lines)


def add_row(columns: Sequence[Column], cells: Sequence[Cell]) -> None:
    """One row: a cell for each column, in order."""
    for column, cell in zip(columns, cells, strict=True):
        column.cells.append(cell)


def _plain(cell: Cell) -> str:
    return cell.plain if isinstance(cell, Text) else cell


def as_text(*cells: str | RenderableType) -> list[RenderableType]:
    """Cells as they are: a str becomes Text, since rich reads a str cell as markup
    (``jpeg[optimize=false]``, a plugin file ``file:/x/run[1].py``, a reason naming
    ``codeccmp[perceptual]``)."""
    return [Text(c) if isinstance(c, str) else c for c in cells]


def _table_width(columns: Sequence[Column], narrow: bool) -> int:
    # A box's border and one space of padding each side: "┃ a ┃ b ┃" is 1 + 3 per column.
    return sum(c.width(narrow) for c in columns) + 3 * len(columns) + 1


def fitted_table(columns: Sequence[Column], width: int | None, *,
                 title: str | Text | None = None,
                 caption: str | None = None) -> Table:
    """A boxed table of ``columns`` no wider than ``width`` (``None``: any width) whenever
    the columns that are never left out fit, every cell whole; the caption adds which
    columns were left out."""
    shown = list(columns)
    narrow = width is not None and _table_width(shown, False) > width
    if narrow:
        assert width is not None
        while _table_width(shown, True) > width:
            candidates = [c for c in shown if c.drop > 0]
            if not candidates:
                break
            top = max(c.drop for c in candidates)
            shown.remove([c for c in candidates if c.drop == top][-1])
    # Still too wide with nothing more to leave out (long codec specs in a very narrow
    # terminal): rich may then fold cells over lines, which loses nothing; it must not cut
    # them, nor crop the table's right-hand columns off.
    whole = width is None or _table_width(shown, narrow) <= width
    left_out = [c.header.replace("\n", " ") for c in columns if c not in shown]
    notes = [caption] if caption else []
    if left_out:
        notes.append(f"not shown at {width} columns: {', '.join(left_out)} (a wider terminal "
                     "or --json shows them)")
    # Text, not a str: rich would read the options of a codec's label, or a file name in
    # the title (``s[red]x.png`` was printed as ``sx.png``), as markup. The title is not
    # folded to a narrow table's width: a path cut in two is read as two.
    if isinstance(title, str):
        title = Text(title, style="table.title", no_wrap=True, overflow="ignore")
    t = Table(title=title, title_justify="default",
              caption=Text("\n".join(notes)) if notes else None, caption_justify="left")
    for c in shown:
        header = c.narrow if narrow and c.narrow is not None else c.header
        # Each cell fits whole (the widths above), so none wraps or is cut; the header
        # keeps its own line breaks.
        t.add_column(header, justify=c.justify, style=c.style,  # type: ignore[arg-type]
                     no_wrap=whole, min_width=c.width(narrow) if whole else None,
                     overflow="fold")
    for i in range(max((len(c.cells) for c in columns), default=0)):
        t.add_row(*as_text(*(c.cells[i] for c in shown)))  # cells are data, not markup
    return t
