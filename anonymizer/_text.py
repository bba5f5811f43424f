"""Facts about text and JSON values that several layers share, written once.

What a word character is for the whole-word rule (the engine finds ``root`` in ``root logged in`` but not inside
``rootkit``; restoring and the no-leak check use the same rule); lone surrogates, which have no UTF-8 form and
so can travel in JSON only as ``\\uXXXX`` escapes; and the names of JSON value types used in error messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

__all__ = ["LONE_SURROGATE", "escape_lone_surrogates", "is_word", "json_type", "surrogate_escape"]

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
"""One lone surrogate (a UTF-16 half with no UTF-8 form)."""


def is_word(ch: str) -> bool:
    """Whether ``ch`` is a word character of the whole-word rule: ``str.isalnum()`` or ``_`` (regex ``\\w``).

    >>> is_word("é"), is_word("_"), is_word("-")
    (True, True, False)
    """
    return ch.isalnum() or ch == "_"


def surrogate_escape(m: re.Match[str]) -> str:
    """The ``\\uXXXX`` escape of a lone surrogate that :data:`LONE_SURROGATE` matched (a ``re.sub`` replacement)."""
    return f"\\u{ord(m.group()):04x}"


def escape_lone_surrogates(text: str) -> str:
    """``text`` (JSON) with each lone surrogate written as a ``\\uXXXX`` escape, so that it has a UTF-8 form.

    >>> escape_lone_surrogates('"a\\ud800b"')
    '"a\\\\ud800b"'
    """
    return LONE_SURROGATE.sub(surrogate_escape, text)


def json_type(value: object) -> str:
    """The name of a JSON value's type as JavaScript validators word it (``string``, ``number``, ``boolean``,
    ``null``, ``array``, ``object``; ``nan`` for a float NaN, ``unknown`` for anything else).

    >>> json_type([1]), json_type(None), json_type(float("nan"))
    ('array', 'null', 'nan')
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "nan" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "unknown"
