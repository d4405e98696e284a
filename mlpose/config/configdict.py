"""ConfigDict: a dict with attribute access, used for every loaded config."""
from __future__ import annotations

from typing import Any


class ConfigDict(dict):
    """A ``dict`` whose keys can also be read as attributes (``cfg.train_cfg.max_epochs``).

    Nested dicts (also inside lists and tuples) are converted on construction, so
    attribute access works at any depth. ``to_dict()`` returns plain builtin types.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__()
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, _wrap(value))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        del self[name]

    def __deepcopy__(self, memo: dict) -> "ConfigDict":
        import copy

        return ConfigDict({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def __reduce__(self):
        return (ConfigDict, (self.to_dict(),))

    def update(self, *args: Any, **kwargs: Any) -> None:  # keep wrapping on update
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def to_dict(self) -> dict:
        return unwrap(self)


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, ConfigDict):
        return ConfigDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    return value


def unwrap(value: Any) -> Any:
    """Return ``value`` with every ConfigDict turned into a plain dict (recursively)."""
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, tuple):
        return tuple(unwrap(v) for v in value)
    return value
