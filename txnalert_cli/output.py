"""The one output path: a rich table (or text) for people, JSON for machines; messages, the progress bar and the
live status line on stderr.

rich is imported when an Output is made, not with this module: `txnalert --help` never makes one."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text


def _width(stream: Any) -> int | None:
    """Full width on a terminal; never wrap tables when piped or captured."""
    try:
        if stream.isatty():
            return None
    except (AttributeError, ValueError):
        pass
    return max(int(os.environ.get("COLUMNS", "0") or 0), 200)


class Output:
    """json_mode: results as JSON on stdout (--json); json_lines: one compact JSON object per line (--json-lines),
    for results that stream."""

    def __init__(self, json_mode: bool = False, *, json_lines: bool = False) -> None:
        from rich.console import Console  # lazy: rich costs more than typer itself; --help needs none of it

        self.json_mode = json_mode or json_lines
        self.json_lines = json_lines
        self.wrote_json = False  # a JSON result is on stdout (then a failure does not write a second document)
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
        """One JSON document (indented), or one line of JSON Lines under --json-lines."""
        if self.target is not None and isinstance(data, dict):
            data = {"target": self.target, **data}
        sys.stdout.write(json.dumps(data, indent=None if self.json_lines else 2, default=str) + "\n")
        sys.stdout.flush()
        self.wrote_json = True

    def failure(self, message: str, exit_code: int) -> None:
        """With --json, a failed command still leaves a JSON object on stdout: `{"error": {...}}`, unless its
        result is written already (under --json-lines it is one more line)."""
        if self.json_mode and (not self.wrote_json or self.json_lines):
            self.json({"error": {"message": message, "exit_code": exit_code}})

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
        from rich.table import Table  # lazy: see Output.__init__

        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*["-" if cell is None else str(cell) for cell in row])
        self.out.print(table)


@contextmanager
def progress_bar(out: Output, total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal (not with --json); a no-op elsewhere."""
    if not out.interactive:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn  # lazy

    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=out.err, transient=True
    ) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@contextmanager
def live_line(out: Output, text: Callable[[], str]) -> Iterator[None]:
    """One live status line on stderr, redrawn a few times a second from text(): only when stderr is a terminal
    and not with --json; a no-op elsewhere. It disappears when done (the result goes to stdout)."""
    if out.json_mode or not out.err.is_terminal:
        yield
        return
    from rich.live import Live  # lazy: see Output.__init__
    from rich.text import Text

    class Line:
        def __rich__(self) -> Text:
            return Text(text(), no_wrap=True, overflow="ellipsis")

    with Live(Line(), console=out.err, refresh_per_second=4, transient=True):
        yield
