"""A report as a plain table, and its three forms: JSON rows, CSV and aligned text.

``crm_sync.reports`` fills it; the ``ctihub report`` command and the REST API
(``popup_server/reports_api.py``) print or send it, so both give the same
figures under the same column names.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

Cell = str | int | float | None

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ReportTable:
    """Columns and rows of one report, and what its figures follow."""

    kind: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    standard: str
    """The named standard the figures follow (and the service-level type)."""
    start: str
    end: str
    """The range, ISO dates or times, end excluded."""

    def records(self) -> list[dict[str, Cell]]:
        """One dict per row, keyed by column."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def to_json(self) -> dict[str, Any]:
        """The REST body and ``--format json``."""
        return {
            "kind": self.kind,
            "from": self.start,
            "to": self.end,
            "standard": self.standard,
            "rows": self.records(),
        }

    def to_csv(self) -> str:
        """CSV with a header row; text cells that a spreadsheet would run are quoted as text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_cell(c) for c in row])
        return out.getvalue()

    def to_text(self) -> str:
        """Aligned columns for a terminal, with the standard on the last line."""
        cells = [list(self.columns)] + [[_text_cell(c) for c in row] for row in self.rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(self.columns))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
        ]
        lines.append(f"({self.standard}; {self.start} to {self.end}, end excluded)")
        return "\n".join(lines)


def _csv_cell(cell: Cell) -> Cell:
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


def _text_cell(cell: Cell) -> str:
    if cell is None:
        return "-"
    return str(cell)
