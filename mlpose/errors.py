"""The errors mlpose raises for users: one line naming the file, key or value and what to do.

This module imports nothing from mlpose, so every layer can raise them.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A user-facing configuration error: one line naming the file/key/value and what to do."""


class DataError(ConfigError):
    """A bad sample (missing, empty or undecodable image file...): one line naming the file and ids.

    DataLoader workers send an exception to the main process as its type and traceback text and
    rebuild it there as ``DataError("Caught DataError in DataLoader worker process N ...")``; this
    constructor keeps only the original one-line message, so the user sees that line, not 60.
    """

    def __init__(self, message: str = ""):
        if message.startswith("Caught ") and "Original Traceback" in message:
            message = _original_line(message, type(self).__name__)
        super().__init__(message)


def _original_line(text: str, name: str) -> str:
    """The message of the last ``...NAME: message`` line of a formatted traceback."""
    for line in reversed(text.strip().splitlines()):
        head, sep, rest = line.partition(": ")
        if sep and head.rsplit(".", 1)[-1] == name:
            return rest.strip()
    return text.strip().splitlines()[-1]


class DiskFullError(ConfigError):
    """No space left writing a file: one line naming the device, the file and the size needed."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, else its type's name: the part a one-line
    message quotes of an error from a library (torch, psycopg2, MLflow)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
