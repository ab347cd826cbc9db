"""How every listing reads at a terminal: short times and names, and rows that fit the terminal's width.

A listing is a table when its columns fit side by side; it drops the columns marked optional
when they do not, and when even the others do not fit (long names at 80 columns) each row
becomes a record: its first value on a line of its own (split into pieces when longer), the
rest packed below as ``name: value``. Nothing is cut: a value too long for a line wraps. ``--json`` is where the
exact figures are (sizes in bytes, full names).
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import typer

GAP = "  "
INDENT = "  "


def when(iso: str | None) -> str:
    """An ISO 8601 time to the minute (``2026-12-01 02:00``); the listings need no more."""
    if not iso:
        return "-"
    text = iso.replace("T", " ")
    return text[:16] if len(text) >= 16 and text[4] == "-" and text[13] == ":" else iso


def short_set(name: str, label: str | None) -> str:
    """A set's name without its partition's label where the partition is shown beside it."""
    if label and name.startswith(label + "-") and len(name) > len(label) + 1:
        return name[len(label) + 1:]
    return name


def width() -> int:
    """The terminal's columns ($COLUMNS wins; 80 when output goes to a pipe or file)."""
    return max(shutil.get_terminal_size((80, 24)).columns, 20)


@dataclass(frozen=True)
class Column:
    head: str
    right: bool = False  # numbers and sizes align right
    optional: bool = False  # dropped first when the table is too wide (records keep it)


def wrap(text: str, cols: int, indent: str = "", subsequent: str | None = None) -> list[str]:
    """``text`` in lines of at most ``cols`` characters; long words (paths, ids) are broken."""
    lines = textwrap.wrap(text, width=cols, initial_indent=indent,
                          subsequent_indent=indent if subsequent is None else subsequent,
                          break_long_words=True, break_on_hyphens=False)
    return lines or [indent.rstrip()]


def split(text: str, cols: int) -> list[str]:
    """A name (a path, an id) in pieces of at most ``cols``, after a ``/`` where one is near.

    Unlike ``wrap`` it keeps every character, so the pieces joined are the name again.
    """
    pieces = []
    while len(text) > cols:
        cut = text.rfind("/", 0, cols) + 1
        if cut <= cols // 2:
            cut = cols
        pieces.append(text[:cut])
        text = text[cut:]
    return pieces + [text]


def _table(rows: Sequence[Sequence[str]], columns: Sequence[Column], keep: list[int]) -> list[str]:
    widths = [max([len(columns[i].head)] + [len(r[i]) for r in rows]) for i in keep]
    out = []
    for cells in [[c.head.upper() for c in columns], *rows]:
        parts = [cells[i].rjust(w) if columns[i].right else cells[i].ljust(w) for i, w in zip(keep, widths)]
        out.append(GAP.join(parts).rstrip())
    return out


def _table_width(rows: Sequence[Sequence[str]], columns: Sequence[Column], keep: list[int]) -> int:
    widths = [max([len(columns[i].head)] + [len(r[i]) for r in rows]) for i in keep]
    return sum(widths) + len(GAP) * (len(keep) - 1)


def _record(row: Sequence[str], columns: Sequence[Column], cols: int) -> list[str]:
    lines = split(row[0], cols)
    line = ""
    for column, value in zip(columns[1:], row[1:]):
        piece = f"{column.head}: {value}"
        if line and len(line) + len(GAP) + len(piece) <= cols:
            line += GAP + piece
            continue
        if line:
            lines.append(line)
        if len(INDENT) + len(piece) <= cols:
            line = INDENT + piece
        elif " " in value:
            *full, line = wrap(piece, cols, INDENT, INDENT * 2)
            lines.extend(full)
        else:  # a path or an id: split where it keeps every character
            *full, line = [INDENT * (2 if i else 1) + p for i, p in enumerate(split(piece, cols - 2 * len(INDENT)))]
            lines.extend(full)
    if line:
        lines.append(line)
    return lines


def layout(rows: Sequence[Sequence[object]], columns: Sequence[Column], cols: int | None = None) -> list[str]:
    """The lines of a listing: a table when it fits in ``cols``, else one record per row."""
    cols = cols or width()
    text_rows = [["-" if v is None or v == "" else str(v) for v in row] for row in rows]
    for row in text_rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} values for {len(columns)} columns")
    keep = list(range(len(columns)))
    while True:
        if _table_width(text_rows, columns, keep) <= cols:
            return _table(text_rows, columns, keep)
        optional = [i for i in keep if columns[i].optional]
        if not optional:
            break
        keep.remove(optional[-1])
    return [line for row in text_rows for line in _record(row, columns, cols)]


def echo_rows(rows: Sequence[Sequence[object]], columns: Sequence[Column], title: str | None = None) -> None:
    """Print a listing (with its title, wrapped) on stdout."""
    cols = width()
    if title:
        echo_wrapped(title, cols)
    for line in layout(rows, columns, cols):
        typer.echo(line)


def echo_wrapped(text: str, cols: int | None = None, *, err: bool = False) -> None:
    """A sentence for the terminal, wrapped to its width (continuation lines indented)."""
    for line in wrap(text, cols or width(), "", INDENT):
        typer.echo(line, err=err)


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def joined(values: Iterable[str], empty: str = "-") -> str:
    text = ", ".join(values)
    return text or empty
