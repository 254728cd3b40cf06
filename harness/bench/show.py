"""A bench result on the terminal: the same tables as its Markdown and HTML report."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table as RichTable

from harness.bench.model import BenchResult
from harness.bench.tables import (
    Table,
    baselines_table,
    cost_table,
    delivery_table,
    errors_table,
    outbound_report_table,
    ratios_table,
    runs_table,
)
from harness.ui import console

__all__ = ["print_result", "rich_table"]

_STYLE = {"met": "green", "not-met": "red", "info": "dim"}


def rich_table(table: Table) -> RichTable:
    out = RichTable(title=table.title)
    numeric = [cell.kind == "num" for cell in table.rows[0]] if table.rows else []
    for i, header in enumerate(table.headers):
        num = i < len(numeric) and numeric[i]
        out.add_column(header, justify="right" if num else "left", overflow="fold")
    for row in table.rows:
        out.add_row(
            *(
                f"[{_STYLE[c.kind]}]{escape(c.text)}[/]" if c.kind in _STYLE else escape(c.text)
                for c in row
            )
        )
    return out


def print_result(data: BenchResult) -> None:
    """Ratios (a suite's), runs, delivery, baselines, the server's cost breakdown and the
    most frequent errors."""
    tables = (
        ratios_table,
        runs_table,
        delivery_table,
        outbound_report_table,
        baselines_table,
        cost_table,
        errors_table,
    )
    for make in tables:
        table = make(data)
        if table is not None:
            console.print(rich_table(table))
