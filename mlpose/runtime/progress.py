"""A rich progress bar that is a no-op on non-main ranks and when output is not a terminal log."""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextlib.contextmanager
def progress_bar(total: int, desc: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n=1)``; draws ``desc [bar] done/total elapsed<remaining`` when enabled."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("<"), TimeRemainingColumn())
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(desc, total=total)
        yield lambda n=1: bar.advance(task, n)
