"""The one output path: a rich table (or text) for people, JSON for machines; messages on stderr."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table


def _width(stream: Any) -> int | None:
    """Full width on a terminal; never wrap tables when piped or captured."""
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        pass
    return max(int(os.environ.get("COLUMNS", "0") or 0), 200)


class Output:
    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.target: dict[str, str] | None = None  # set by Ctx.target(): the "target" of every JSON result
        self.out = Console(highlight=False, soft_wrap=False, width=_width(sys.stdout))
        self.err = Console(stderr=True, highlight=False, soft_wrap=True, width=_width(sys.stderr))

    @property
    def interactive(self) -> bool:
        return not self.json_mode and self.out.is_terminal

    def emit(self, data: Any, render: Callable[[Output], None]) -> None:
        """JSON when --json, else the human rendering."""
        if self.json_mode:
            self.json(data)
        else:
            render(self)

    def json(self, data: Any) -> None:
        if self.target is not None and isinstance(data, dict):
            data = {"target": self.target, **data}
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()

    def line(self, text: str = "", style: str | None = None) -> None:
        self.out.print(text, style=style, markup=False, soft_wrap=True)

    def info(self, text: str) -> None:
        """A human message that is not the result: stderr, so stdout stays clean for pipes."""
        self.err.print(text, markup=False)

    def warn(self, text: str) -> None:
        self.err.print(f"warning: {text}", style="yellow", markup=False)

    def error(self, text: str) -> None:
        self.err.print(f"error: {text}", style="red", markup=False)

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None) -> None:
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*["-" if cell is None else str(cell) for cell in row])
        self.out.print(table)
