"""Output for people and for machines: every command takes ``--json``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

json_option = click.option(
    "--json", "as_json", is_flag=True, help="print machine-readable JSON instead of text"
)


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def emit(data: Any, as_json: bool, render: Callable[[Console], None]) -> None:
    """Print ``data`` as JSON, or call ``render`` with a console for people."""
    if as_json:
        print_json(data)
    else:
        render(console())


def human_bytes(value: int | None) -> str:
    """``1,234 B``, ``12.1 MiB`` ...; ``-`` when unknown."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{amount:,.0f} {unit}" if unit == "B" else f"{amount:,.1f} {unit}"
        amount /= 1024
    return str(value)


class ProgressReporter:
    """A progress bar on a terminal; in ``--json`` mode, counter lines on stderr."""

    def __init__(self, description: str, total: float | None, as_json: bool) -> None:
        self.description = description
        self.total = total
        self.as_json = as_json
        self.completed = 0.0
        self.counters: dict[str, int] = {}
        self._progress: Progress | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressReporter:
        err = console(stderr=True)
        if not self.as_json and err.is_terminal:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def set_total(self, total: float) -> None:
        self.total = total
        if self._progress is not None:
            self._progress.update(self._task, total=total)

    def advance(self, amount: float = 1, **counters: int) -> None:
        self.completed += amount
        for name, value in counters.items():
            self.counters[name] = self.counters.get(name, 0) + value
        if self._progress is not None:
            self._progress.update(self._task, advance=amount)

    def report(self) -> None:
        """Write the counters so far (JSON mode) — call at natural checkpoints."""
        if self.as_json:
            line = {"progress": self.description, "completed": self.completed, **self.counters}
            if self.total is not None:
                line["total"] = self.total
            sys.stderr.write(orjson.dumps(line).decode() + "\n")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        self.report()


@contextmanager
def progress(description: str, total: float | None, as_json: bool) -> Iterator[ProgressReporter]:
    with ProgressReporter(description, total, as_json) as reporter:
        yield reporter
