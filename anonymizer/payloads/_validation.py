"""Validation shared by every payload family: the wire base model, zod-worded errors, hostile-input limits.

Kibana validates its request bodies with zod (v3) and answers ``400 [request body]: path: message, ...``. The
helpers here reproduce zod's default wording from pydantic's errors, with one deliberate difference: zod appends
the offending value to some messages (``..., received 'x'``); we never do, because payloads carry secrets.

A pydantic error's ``msg`` and ``input`` are never copied into an :class:`~anonymizer.errors.Issue`: only its
type and location are read, and the input is only *classified* (``string``, ``number``, ...).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from anonymizer._text import LONE_SURROGATE, json_type
from anonymizer.engine import MAX_DEPTH
from anonymizer.errors import Issue, PayloadError

__all__ = [
    "MAX_DEPTH",
    "MAX_JSON_BYTES",
    "MAX_STRING_LENGTH",
    "WireModel",
    "bool_like",
    "check_json_value",
    "dump",
    "int_like",
    "issues_from",
    "load_json",
    "no_null",
    "non_empty_string",
    "validate_model",
    "zod_enum",
    "zod_type",
]

#: Longest string accepted anywhere in a payload, in characters (Kibana's default body limit is 1 MiB).
MAX_STRING_LENGTH = 16 * 1024 * 1024
#: Largest JSON text accepted by :func:`load_json`, in bytes.
MAX_JSON_BYTES = 64 * 1024 * 1024

#: Error type of the errors we raise ourselves from validators; their message is ours and never holds a value.
ZOD_ERROR = "zod"
#: Splits one of our messages into several issues at the same path (zod can report several).
ISSUE_SEPARATOR = "\x1f"
#: Prefix of the tags of our discriminated unions; stripped from error locations.
UNION_TAG = "\x00union:"

M = TypeVar("M", bound=BaseModel)


class WireModel(BaseModel):
    """Base of every payload model: wire names, unknown properties kept, strict JSON types, exact round trip.

    Serialize with :func:`dump` (by alias, unset fields left out) to get back exactly what was parsed.
    """

    model_config = ConfigDict(
        extra="allow",
        strict=True,
        serialize_by_alias=True,
        validate_by_alias=True,
        validate_by_name=False,
        hide_input_in_errors=True,
    )


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire form of a payload model: aliases, only the properties that were given, extras kept."""
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return out


def zod_type(value: object) -> str:
    """The zod name of a JSON value's type (``string``, ``number``, ``boolean``, ``null``, ``array``, ``object``);
    a payload model counts as an object."""
    return "object" if isinstance(value, BaseModel) else json_type(value)


def zod_enum(*values: str) -> BeforeValidator:
    """A validator giving zod's enum messages, without the ``received 'x'`` part that would echo the value."""
    expected = " | ".join(f"'{v}'" for v in values)

    def check(value: object) -> object:
        if isinstance(value, str):
            if value in values:
                return value
            raise PydanticCustomError(ZOD_ERROR, f"Invalid enum value. Expected {expected}")
        raise PydanticCustomError(ZOD_ERROR, f"Expected {expected}, received {zod_type(value)}")

    return BeforeValidator(check)


def no_null(expected: str) -> BeforeValidator:
    """A validator rejecting an explicit ``null`` for an optional property (zod's ``.optional()`` does too)."""

    def check(value: object) -> object:
        if value is None:
            raise PydanticCustomError(ZOD_ERROR, f"Expected {expected}, received null")
        return value

    return BeforeValidator(check)


def _non_empty(value: object) -> object:
    if value is None:
        raise PydanticCustomError(ZOD_ERROR, "Expected string, received null")
    if not isinstance(value, str):
        raise PydanticCustomError(ZOD_ERROR, f"Expected string, received {zod_type(value)}")
    if value == "":
        # zod runs the refinement after a failed min(1): both issues are reported.
        raise PydanticCustomError(
            ZOD_ERROR, f"String must contain at least 1 character(s){ISSUE_SEPARATOR}No empty strings allowed"
        )
    if not value.strip():
        raise PydanticCustomError(ZOD_ERROR, "No empty strings allowed")
    return value


#: Kibana's ``NonEmptyString``: at least one character, not only whitespace.
non_empty_string = BeforeValidator(_non_empty)


def _bool_like(value: object) -> object:
    if isinstance(value, bool) or value in ("true", "false"):
        return value
    raise PydanticCustomError(ZOD_ERROR, f"Expected boolean, received {zod_type(value)}")


#: io-ts ``toBooleanRt`` / a query-string boolean: ``true``, ``false``, ``"true"`` or ``"false"`` (kept as given).
bool_like = BeforeValidator(_bool_like)


def int_like(minimum: int) -> BeforeValidator:
    """A query-string integer (``3`` or ``"3"``, kept as given) of at least ``minimum`` (zod ``coerce.number``)."""

    def check(value: object) -> object:
        number: int
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise PydanticCustomError(ZOD_ERROR, f"Expected number, received {zod_type(value)}")
        if isinstance(value, str):
            if not re.fullmatch(r"[+-]?\d{1,18}", value.strip()):
                raise PydanticCustomError(ZOD_ERROR, "Expected number, received nan")
            number = int(value)
        else:
            number = value
        if number < minimum:
            raise PydanticCustomError(ZOD_ERROR, f"Number must be greater than or equal to {minimum}")
        return value

    return BeforeValidator(check)


# --- hostile input -------------------------------------------------------------------------------------------


def load_json(text: str | bytes | bytearray | memoryview) -> object:
    """Parse a JSON text with orjson; a syntax error becomes a :class:`PayloadError` giving the position only."""
    size = len(text) if isinstance(text, str) else len(bytes(text))
    if size > MAX_JSON_BYTES:
        raise PayloadError([Issue((), f"Payload larger than {MAX_JSON_BYTES} bytes")])
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as err:
        # orjson's own message may quote the text around the error: only its position is reported.
        if "depth" in err.msg or "recursion" in err.msg:
            raise PayloadError([Issue((), f"Nesting too deep at char {err.pos}")]) from None
        raise PayloadError(
            [Issue((), f"Invalid JSON at line {err.lineno} column {err.colno} (char {err.pos})")]
        ) from None


def check_json_value(value: object, *, max_issues: int = 20) -> list[Issue]:
    """Problems that make ``value`` unsafe to process: too deep, too long, lone surrogates, non-JSON types.

    Iterative (no recursion), so arbitrarily deep input cannot raise :class:`RecursionError`.
    """
    issues: list[Issue] = []
    stack: list[tuple[object, tuple[str | int, ...]]] = [(value, ())]
    while stack and len(issues) < max_issues:
        node, path = stack.pop()
        if isinstance(node, str):
            issues.extend(_check_string(node, path))
        elif isinstance(node, bool | int) or node is None:
            continue
        elif isinstance(node, float):
            if not math.isfinite(node):
                issues.append(Issue(path, "Expected finite number, received nan"))
        elif isinstance(node, dict | list):
            if len(path) >= MAX_DEPTH:
                issues.append(Issue(path, f"Nesting deeper than {MAX_DEPTH} levels"))
                continue
            items: Iterable[tuple[str | int, object]]
            if isinstance(node, dict):
                for key in node:
                    if not isinstance(key, str):
                        issues.append(Issue(path, f"Expected string key, received {zod_type(key)}"))
                    elif len(key) > MAX_STRING_LENGTH or LONE_SURROGATE.search(key):
                        issues.append(Issue(path, "Invalid property name"))
                items = [(k, v) for k, v in node.items() if isinstance(k, str)]
            else:
                items = enumerate(node)
            stack.extend((child, (*path, key)) for key, child in reversed(list(items)))
        else:
            issues.append(Issue(path, f"Expected JSON value, received {zod_type(node)}"))
    return issues


def _check_string(text: str, path: tuple[str | int, ...]) -> list[Issue]:
    if len(text) > MAX_STRING_LENGTH:
        return [Issue(path, f"String must contain at most {MAX_STRING_LENGTH} character(s)")]
    if LONE_SURROGATE.search(text):
        return [Issue(path, "Invalid string: lone surrogate")]
    return []


# --- pydantic errors -> zod wording --------------------------------------------------------------------------

_EXPECTED = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "number",
    "float_type": "number",
    "dict_type": "object",
    "model_type": "object",
    "model_attributes_type": "object",
    "list_type": "array",
}


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == ZOD_ERROR:
        return str(error["msg"])  # our own template, which never contains a value
    if kind == "missing":
        return "Required"
    received = zod_type(error.get("input"))
    if kind == "int_type" and received == "number":
        return "Expected integer, received float"
    if kind in _EXPECTED:
        return f"Expected {_EXPECTED[kind]}, received {received}"
    return "Invalid input"


def _location(loc: Iterable[str | int]) -> tuple[str | int, ...]:
    return tuple(p for p in loc if not (isinstance(p, str) and p.startswith(UNION_TAG)))


def issues_from(err: ValidationError) -> list[Issue]:
    """The zod-worded :class:`Issue` list for a pydantic :class:`ValidationError` (values never copied)."""
    return [
        Issue(_location(e["loc"]), message)
        for e in err.errors(include_url=False, include_context=False, include_input=True)
        for message in _message(e).split(ISSUE_SEPARATOR)
    ]


def validate_model(model: type[M], payload: object, *, kind: str | None = None) -> M:
    """Validate ``payload`` (a mapping, a JSON text, or a model instance) as ``model``.

    Raises :class:`PayloadError` naming every problem; nothing else escapes for any input.
    """
    try:
        if isinstance(payload, BaseModel):
            payload = dump(payload)
        elif isinstance(payload, str | bytes | bytearray | memoryview):
            payload = load_json(payload)
        issues = check_json_value(payload)
        if issues:
            raise PayloadError(issues, kind=kind)
        return model.model_validate(payload, strict=True)
    except PayloadError as err:
        if err.kind is None and kind is not None:
            raise PayloadError(err.issues, kind=kind) from None
        raise
    except ValidationError as err:
        raise PayloadError(issues_from(err), kind=kind) from None
    except Exception:  # the contract: hostile input never raises anything but PayloadError
        raise PayloadError([Issue((), "Invalid payload")], kind=kind) from None
