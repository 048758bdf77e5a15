"""The live progress display (rich); quiet in tests and when output is not a terminal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class Task:
    def __init__(self, progress: Progress | None, task_id: TaskID | None) -> None:
        self._progress, self._id = progress, task_id

    def update(self, completed: float, info: str = "") -> None:
        if self._progress is not None and self._id is not None:
            self._progress.update(self._id, completed=completed, info=info)


class Display:
    def __init__(self, quiet: bool = False) -> None:
        self.console = Console(stderr=True, quiet=quiet)
        self._progress: Progress | None = None

    def __enter__(self) -> Display:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"),
            console=self.console,
            disable=self.console.quiet,
        )
        self._progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def task(self, label: str, total: float) -> Iterator[Task]:
        if self._progress is None:
            yield Task(None, None)
            return
        task_id = self._progress.add_task(label, total=total, info="")
        yield Task(self._progress, task_id)

    def log(self, message: str) -> None:
        self.console.log(message)
