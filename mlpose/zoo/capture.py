"""Running library code without its output reaching the table being printed."""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Iterator


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Capture stdout, stderr and the ``mlpose`` logger (warnings at load, a job's log lines) in
    a buffer, and put the logger back as it was (a job adds handlers to it)."""
    logger = logging.getLogger("mlpose")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(level)
        logger.propagate = propagate
