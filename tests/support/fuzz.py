"""Mutations of a provider's documented sample, for the format fuzz tests: one or a few places in
the sample (nested ones too) get a value of another type or size — missing, empty, null, huge and
negative numbers, NaN and infinity, long and hostile text, deep nesting, lists for objects and the
other way round — or an unknown key is added. The sample stays recognisable, so the request
still reaches the format's parser with valid credentials."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import strategies as st

ODD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "😀" * 50,
    "x" * 10_000,
    "9" * 400,
    "1e309",
    "NaN",
    "-1",
    "0",
    "null",
    "{}",
    "[]",
    "<x/>",
    "' OR 1=1 --",
    "$where",
    "%00",
    "../../etc/passwd",
    "2026-13-45 25:61:61",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
]


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"x": [value]}
    return value


ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    10**30,
    -(10**30),
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    0.5,
    [],
    [1, "a", None],
    {},
    {"$gt": ""},
    _deep(50),
    *ODD_TEXT,
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value[:5]):
            found += _paths(inner, (*prefix, index))
    return found


def _set(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if not rest and delete:
            copy.pop(head, None)
        else:
            copy[head] = _set(value[head], rest, new, delete=delete)
        return copy
    if isinstance(value, list):
        copy = list(value)
        if not rest and delete:
            del copy[head]
        else:
            copy[head] = _set(value[head], rest, new, delete=delete)
        return copy
    return new


@st.composite
def mutated(
    draw: st.DrawFn, sample: dict[str, Any], *, text_only: bool = False, keep: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`sample` with 1–3 places changed. `text_only`: forms carry only text; `keep`: top-level
    fields left alone (those the signature or the routing needs)."""
    result: Any = sample
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(result) if p[0] not in keep]
        choice = draw(st.sampled_from(["replace", "replace", "replace", "delete", "add"]))
        if choice == "add" or not paths:
            result = {
                **result,
                draw(st.sampled_from(["extra", "__proto__", "$set", "ÿ"])): draw(st.sampled_from(ODD_TEXT)),
            }
            continue
        path = draw(st.sampled_from(paths))
        new = draw(st.sampled_from(ODD_TEXT if text_only else ODD_VALUES))
        result = _set(result, path, new, delete=choice == "delete")
    return result


def as_json(value: Any) -> bytes:
    """A mutated sample as a JSON body (NaN and infinity written as JSON's NaN and Infinity)."""
    return json.dumps(value, allow_nan=True, default=str).encode()


def as_form(value: dict[str, Any]) -> dict[str, str]:
    """A mutated sample as form fields: text as it is, anything else as its JSON."""
    return {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in value.items()}
