"""``--cfg-options key=value`` parsing and applying, with MMEngine's syntax.

Value forms (quote the whole value for brackets; white space inside brackets is fine, one
argument may hold several ``KEY=VALUE`` items separated by white space at the top level):

- ``lr=0.01`` -> float, ``max_epochs=3`` -> int, ``flag=true``/``False`` -> bool (any case),
  ``load_from=None`` -> None (only that spelling: ``none`` stays the string ``'none'``),
  anything else a string;
- ``key=a,b`` -> ``['a', 'b']``; ``key="[a,b]"`` -> list; ``key="(a,b)"`` -> tuple;
  ``key="[(a,b),(c,d)]"`` -> nested; unbalanced brackets are an error.

Key forms: dotted paths (``optim_wrapper.optimizer.lr``), with integer parts indexing into
lists (``train_pipeline.0.type=LoadImage``). A path that does not exist is an error naming
the closest existing keys, unless it is an argument of the component the dict builds
(``test_evaluator.nms_mode=none``: ``CocoMetric`` takes ``nms_mode``); to add a genuinely new
key on purpose, prefix it with ``+`` (``+tracking.register_model=pose``).
"""
from __future__ import annotations

import difflib
from typing import Any

from mlpose.errors import ConfigError
from mlpose.registry import component_args

from .configdict import ConfigDict


def parse_value(text: str, key: str = "") -> Any:
    """Parse one ``--cfg-options`` value (see the module docstring)."""
    text = text.strip().strip("'\"")
    if text.count("[") != text.count("]") or text.count("(") != text.count(")"):
        raise ConfigError(f"--cfg-options {key}={text}: unbalanced brackets in the value")
    return _parse(text.replace(" ", ""), key)


def _parse(text: str, key: str) -> Any:
    if len(text) >= 2 and text[0] + text[-1] in ("[]", "()") and _closes_at_end(text):
        items = [_parse(part, key) for part in _split_top(text[1:-1], key)] if text[1:-1] else []
        return tuple(items) if text[0] == "(" else items
    if "," in text or "[" in text or "(" in text:
        _split_top(text, key)  # raises on mis-nested brackets
    if "," in text:
        return [_parse(part, key) for part in _split_top(text, key)]
    return _scalar(text)


def _closes_at_end(text: str) -> bool:
    """True when the bracket opening ``text`` is the one closing it (not ``[1],[2]``)."""
    depth = 0
    for i, ch in enumerate(text):
        depth += ch in "[("
        depth -= ch in "])"
        if depth == 0:
            return i == len(text) - 1
    return False


def _split_top(text: str, key: str) -> list[str]:
    """Split on commas that are not inside brackets; brackets must pair up properly."""
    parts, stack, start = [], [], 0
    for i, ch in enumerate(text):
        if ch in "[(":
            stack.append("]" if ch == "[" else ")")
        elif ch in "])":
            if not stack or stack.pop() != ch:
                raise ConfigError(f"--cfg-options {key}: unbalanced brackets in {text!r}")
        elif ch == "," and not stack:
            parts.append(text[start:i])
            start = i + 1
    if stack:
        raise ConfigError(f"--cfg-options {key}: unbalanced brackets in {text!r}")
    tail = text[start:]
    if tail:
        parts.append(tail)
    return parts


def _scalar(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text == "None":
        return None
    return text


def split_options(text: str) -> list[str]:
    """Split one ``--cfg-options`` argument into ``KEY=VALUE`` items at white space outside
    brackets and quotes: ``"a=1 b=[(x,y), [1,2], false]"`` -> ``['a=1', 'b=[(x,y), [1,2], false]']``."""
    items, current, depth, quote = [], [], 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch.isspace() and depth <= 0:
            if current:
                items.append("".join(current))
            current = []
            continue
        current.append(ch)
    if current:
        items.append("".join(current))
    return items


def parse_options(options: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Turn ``['a.b=1', 'c=x,y']`` into ``{'a.b': 1, 'c': ['x', 'y']}``."""
    out: dict[str, Any] = {}
    for item in options:
        if "=" not in item:
            raise ConfigError(f"--cfg-options {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        if not key.lstrip("+"):
            raise ConfigError(f"--cfg-options {item!r}: empty key")
        out[key] = parse_value(value, key)
    return out


def apply_options(cfg: ConfigDict, options: dict[str, Any], source: str = "config") -> None:
    """Set each dotted key of ``options`` in ``cfg`` in place; see the module docstring."""
    for raw_key, value in options.items():
        add = raw_key.startswith("+")
        parts = raw_key.lstrip("+").split(".")
        node: Any = cfg
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            where = ".".join(parts[: depth + 1])
            if isinstance(node, (list, tuple)):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(
                        f"--cfg-options {raw_key}: {where} indexes a list of {len(node)} items "
                        f"in {source}; use an index from 0 to {len(node) - 1}"
                    )
                if last:
                    if isinstance(node, tuple):
                        raise ConfigError(f"--cfg-options {raw_key}: {where} is inside a tuple; set the whole tuple")
                    node[int(part)] = value
                else:
                    node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ConfigError(f"--cfg-options {raw_key}: {'.'.join(parts[:depth])} is a {type(node).__name__}, not a dict")
            if part not in node:
                # a component's constructor argument left at its default is set, not refused
                known = last and "type" in node and part in component_args(node["type"])
                if not (add or known):
                    raise ConfigError(_missing(raw_key, where, cfg, source, node))
                if not last:
                    node[part] = ConfigDict()
            if last:
                node[part] = value
            else:
                node = node[part]


def _missing(raw_key: str, where: str, cfg: dict, source: str, node: dict) -> str:
    close = difflib.get_close_matches(raw_key, list(flat_keys(cfg)), n=3, cutoff=0.5)
    args = component_args(node.get("type")) if "type" in node else []
    prefix = where.rsplit(".", 1)[0] + "." if "." in where else ""
    close = [prefix + a for a in difflib.get_close_matches(where.rsplit(".", 1)[-1], args, n=3)] + close
    hint = f"; closest existing keys: {', '.join(dict.fromkeys(close))}" if close else ""
    return (
        f"--cfg-options {raw_key}: key {where!r} does not exist in {source}{hint}. "
        f"To add a new key on purpose, write +{raw_key}=..."
    )


def flat_keys(node: Any, prefix: str = ""):
    """Yield every dotted key path in a nested config (list items as ``.0``, ``.1``...)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for key, value in items:
        path = f"{prefix}.{key}" if prefix else str(key)
        yield path
        yield from flat_keys(value, path)
