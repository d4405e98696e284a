"""``--cfg-options key=value`` parsing and applying, with MMEngine's syntax.

Value forms (quote the whole value for brackets; white space inside brackets is fine, one
argument may hold several ``KEY=VALUE`` items separated by white space at the top level):

- ``lr=0.01`` -> float, ``max_epochs=3`` -> int, ``flag=true``/``False`` -> bool (any case),
  ``load_from=None`` -> None (only that spelling: ``none`` stays the string ``'none'``),
  anything else a string (spaces inside it kept: ``data_root=/data/my set/``);
- ``key=a,b`` -> ``['a', 'b']``; ``key="[a,b]"`` -> list; ``key="(a,b)"`` -> tuple;
  ``key="[(a,b),(c,d)]"`` -> nested; unbalanced brackets are an error;
- quotes that reach mlpose (``"key='a,b'"`` in a shell, or from the Python API) make a string,
  kept whole: commas, brackets, spaces and digits inside are not parsed
  (``data_root='/data/my set, 2/'``, ``tag='007'``; in a list: ``['a b', 'c,d']``). A quote
  opens a string only at the start of a value or list item, so ``/data/bob's files/`` is a
  plain string. One exception, as in MMEngine: a quoted ``'[...]'`` or ``'(...)'`` is the
  list or tuple inside.

MMEngine's ``DictAction`` strips every quote and space and splits on every comma (it turns
``'/data/my set/'`` into ``/data/myset/`` and ``'a,b'`` into a list); mlpose keeps them.

A white-space-separated piece without ``=`` continues the value before it: a shell turns
``data_root='/data/my set/'`` into the one argument ``data_root=/data/my set/``.

Key forms: dotted paths (``optim_wrapper.optimizer.lr``), with integer parts indexing into
lists (``train_pipeline.0.type=LoadImage``). A path that does not exist is an error naming
the closest existing keys, unless it is an argument of the component the dict builds
(``test_evaluator.nms_mode=none``: ``CocoMetric`` takes ``nms_mode``) or a key of mlpose's config
schema that the file leaves to its default (``randomness.seed=0`` on MMPose's files, which have no
``randomness``, as MMEngine's runner defaults it); to add a genuinely new
key on purpose, prefix it with ``+`` (``+tracking.register_model=pose``).
"""
from __future__ import annotations

import difflib
from typing import Any, Iterator

from mlpose.errors import ConfigError
from mlpose.registry import component_args

from . import schema
from .configdict import ConfigDict

QUOTES = "'\""
_OPENS_QUOTE = "=[(,"  # a quote right after one of these (or white space, or at the start) opens a string


def _unquoted(text: str, key: str) -> Iterator[tuple[int, str]]:
    """``(index, char)`` of every character of ``text`` outside quoted strings (the quotes
    themselves left out too).

    Raises:
        ConfigError: a quote that is never closed.
    """
    quote, prev, opened = "", "", 0
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote, prev = "", ch
            continue
        if ch in QUOTES and (prev == "" or prev in _OPENS_QUOTE or prev.isspace()):
            quote, opened = ch, i
            continue
        prev = ch
        yield i, ch
    if quote:
        raise ConfigError(f"--cfg-options {key}: the quote {quote} at character {opened + 1} of {text!r} is never "
                          "closed")


def _quoted(text: str) -> bool:
    """True when the whole of ``text`` is one quoted string."""
    return len(text) >= 2 and text[0] in QUOTES and text.find(text[0], 1) == len(text) - 1


def parse_value(text: str, key: str = "") -> Any:
    """Parse one ``--cfg-options`` value (see the module docstring)."""
    text = text.strip()
    if _quoted(text):
        inner = text[1:-1].strip()
        if inner[:1] in ("[", "(") and _closes_at_end(inner, key):  # MMEngine: "'[1,2]'" is a list
            return _parse(inner, key)
        return text[1:-1]
    return _parse(text, key)


def _parse(text: str, key: str) -> Any:
    text = text.strip()
    if _quoted(text):
        return text[1:-1]
    if len(text) >= 2 and text[0] + text[-1] in ("[]", "()") and _closes_at_end(text, key):
        items, _ = _split_top(text[1:-1], key)
        parsed = [_parse(part, key) for part in items] if text[1:-1].strip() else []
        return tuple(parsed) if text[0] == "(" else parsed
    items, listed = _split_top(text, key)  # also raises on mis-nested brackets
    if listed:
        return [_parse(part, key) for part in items]
    return _scalar(text)


def _closes_at_end(text: str, key: str) -> bool:
    """True when the bracket opening ``text`` is the one closing it (not ``[1],[2]``)."""
    depth = 0
    for i, ch in _unquoted(text, key):
        depth += ch in "[("
        depth -= ch in "])"
        if depth == 0:
            return i == len(text) - 1
    return False


def _split_top(text: str, key: str) -> tuple[list[str], bool]:
    """``(parts, listed)``: ``text`` split on the commas outside brackets and quotes (a blank
    last part dropped), and whether it had any. Brackets must pair up properly."""
    parts, stack, start, listed = [], [], 0, False
    for i, ch in _unquoted(text, key):
        if ch in "[(":
            stack.append("]" if ch == "[" else ")")
        elif ch in "])":
            if not stack or stack.pop() != ch:
                raise ConfigError(f"--cfg-options {key}: unbalanced brackets in {text!r}")
        elif ch == "," and not stack:
            parts.append(text[start:i])
            start, listed = i + 1, True
    if stack:
        raise ConfigError(f"--cfg-options {key}: unbalanced brackets in {text!r}")
    if text[start:].strip() or not listed:
        parts.append(text[start:])
    return parts, listed


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
    brackets and quotes: ``"a=1 b=[(x,y), [1,2], false]"`` -> ``['a=1', 'b=[(x,y), [1,2], false]']``;
    a piece without ``=`` belongs to the item before it (``data_root=/my set/`` is one item)."""
    cuts, depth = [], 0
    for i, ch in _unquoted(text, text.split("=", 1)[0]):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch.isspace() and depth <= 0:
            cuts.append(i)
    items: list[str] = []
    end = 0  # where the last item ends in text
    for start, stop in zip([0, *(c + 1 for c in cuts)], [*cuts, len(text)]):
        piece = text[start:stop]
        if not piece:
            continue
        if items and "=" not in piece:
            items[-1] += text[end:start] + piece  # the white space as it was
        else:
            items.append(piece)
        end = stop
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
                if not (add or known or _schema_key(parts[: depth + 1])):
                    raise ConfigError(_missing(raw_key, where, cfg, source, node))
                if not last:
                    node[part] = ConfigDict()
            if last:
                node[part] = value
            else:
                node = node[part]


def _schema_key(parts: list[str]) -> bool:
    """Whether the key path (one or two levels) is one of mlpose's config schema, which a file
    may leave out (its default applies)."""
    if len(parts) == 1:
        return parts[0] in schema.TOP_LEVEL or parts[0] in schema.SECTIONS
    return len(parts) == 2 and parts[1] in schema.SECTIONS.get(parts[0], ())


def _missing(raw_key: str, where: str, cfg: dict, source: str, node: dict) -> str:
    close = difflib.get_close_matches(raw_key, list(flat_keys(cfg)), n=3, cutoff=0.5)
    args = component_args(node.get("type")) if "type" in node else []
    if "." in where:  # a section of the schema: its keys are candidates too
        args = [*args, *schema.SECTIONS.get(where.split(".")[0], ())]
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


def spread_cfg_options(argv: list[str]) -> list[str]:
    """MMPose syntax ``--cfg-options a=1 b=2`` -> ``--cfg-options a=1 --cfg-options b=2`` for click."""
    out, taking = [], False
    for arg in argv:
        if arg == "--cfg-options":
            taking = True
            continue
        if taking and "=" in arg and not arg.startswith("-"):
            out += ["--cfg-options", arg]
            continue
        taking = False
        out.append(arg)
    return out
