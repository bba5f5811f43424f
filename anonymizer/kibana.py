"""Kibana's anonymization helpers, reproduced exactly, for servers that emulate Kibana.

These are Python ports of the helpers in Kibana's ``kbn-elastic-assistant-common/impl/data_anonymization``
package, with keyword arguments in snake_case. They give the same output as Kibana for the same input, so
that a server speaking Kibana's Security AI Assistant API can build the very messages Kibana would send to a
model::

    >>> fields = [{"field": "user.name", "allowed": True, "anonymized": True},
    ...           {"field": "host.os.name", "allowed": True, "anonymized": False}]
    >>> reverse = lambda *, current_replacements, raw_value: raw_value[::-1]   # Kibana's own test mock
    >>> transform_raw_data(raw_data={"user.name": ["alice"], "host.os.name": ["macOS"], "x": ["dropped"]},
    ...                    anonymization_fields=fields, current_replacements={}, get_anonymized_value=reverse)
    'host.os.name,macOS\\nuser.name,ecila'

Three behaviours differ from Kibana on purpose (they are Kibana bugs; see the README):

1. The same original seen twice in one call gets one token: the running replacements of the call are fed to
   the token generator, so the default generator reuses the token. Kibana mints a new uuid per occurrence.
   With a generator that ignores ``current_replacements`` (such as Kibana's string-reversal mock) the
   results are identical to Kibana's.
2. :func:`replace_anonymized_values_with_original_values` is one literal pass (leftmost-longest): no
   JavaScript ``$$``/``$&`` expansion, no chained substitution, empty tokens ignored.
3. :func:`replace_original_values_with_uuid_values` is Kibana's newer single-pass version, not the older
   sequential one.

Anonymization-field entries may be mappings (``{"field", "allowed", "anonymized"}``, as in Kibana's
anonymization-fields API) or any object with those attributes. A malformed entry raises
:class:`~anonymizer.errors.PolicyError` naming its position (``$[3].field``), never its value.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from anonymizer._kibana_fields import default_anonymization_fields, legacy_anonymization_fields
from anonymizer.errors import ArgumentTypeError, Issue, PayloadError, PolicyError
from anonymizer.policy import FieldPolicy
from anonymizer.restore import replace_literal

if TYPE_CHECKING:
    from anonymizer.engine import Session

__all__ = [
    "RawData",
    "Replacements",
    "TokenGenerator",
    "chat_complete_messages",
    "default_anonymization_fields",
    "get_anonymized_data",
    "get_anonymized_value",
    "get_anonymized_values",
    "get_csv_from_data",
    "get_is_data_anonymizable",
    "is_allowed",
    "is_anonymized",
    "is_denied",
    "js_string",
    "legacy_anonymization_fields",
    "replace_anonymized_values_with_original_values",
    "replace_original_values_with_uuid_values",
    "transform_raw_data",
]

#: token -> original, as in Kibana's ``Replacements`` type.
Replacements = dict[str, str]

#: Kibana's ``rawData`` object form: a field name mapped to the list of its values.
RawData = Mapping[str, Sequence[object]]


class TokenGenerator(Protocol):
    """The signature of a token generator (Kibana's ``getAnonymizedValue`` parameter).

    Any callable with these keyword arguments will do; Kibana's own tests use one that reverses the value::

        def reverse(*, current_replacements, raw_value):
            return raw_value[::-1]
    """

    def __call__(self, *, current_replacements: Mapping[str, str] | None, raw_value: str) -> str:
        """Return the token for ``raw_value``, reusing one from ``current_replacements`` if it wants to."""
        ...


# --------------------------------------------------------------------------------------------------------
# Anonymization fields


def _field_flags(anonymization_fields: Iterable[object] | None) -> dict[str, tuple[bool, bool]]:
    """Map each field to its ``(allowed, anonymized)`` flags; the first entry of a field wins, as in Kibana.

    Every entry is validated, so a malformed list fails the same way whichever field is asked about.
    """
    flags: dict[str, tuple[bool, bool]] = {}
    if anonymization_fields is None:
        return flags
    if isinstance(anonymization_fields, str | bytes | Mapping):
        raise PolicyError("$: expected a list of anonymization fields")
    for index, entry in enumerate(anonymization_fields):
        field, allowed, anonymized = _read_entry(entry, index)
        flags.setdefault(field, (allowed, anonymized))
    return flags


def _read_entry(entry: object, index: int) -> tuple[str, bool, bool]:
    if isinstance(entry, Mapping):
        if "field" not in entry:
            raise PolicyError(f"$[{index}].field: required")
        values = (entry["field"], entry.get("allowed"), entry.get("anonymized"))
    elif hasattr(entry, "field"):
        values = (entry.field, getattr(entry, "allowed", None), getattr(entry, "anonymized", None))
    else:
        raise PolicyError(f"$[{index}]: expected an anonymization field with a 'field' key or attribute")
    field, allowed, anonymized = values
    if not isinstance(field, str):
        raise PolicyError(f"$[{index}].field: expected a string, got {type(field).__name__}")
    for name, flag in (("allowed", allowed), ("anonymized", anonymized)):
        if flag is not None and not isinstance(flag, bool):
            raise PolicyError(f"$[{index}].{name}: expected a boolean, got {type(flag).__name__}")
    return field, bool(allowed), bool(anonymized)


def is_allowed(field: str, anonymization_fields: Iterable[object] | None) -> bool:
    """Whether ``field`` may be sent to the model: the first entry for exactly ``field`` decides.

    A missing entry or a missing ``allowed`` flag counts as ``False`` (Kibana's ``isAllowed``).

    >>> is_allowed("user.name", [{"field": "user.name", "allowed": True}])
    True
    """
    return _field_flags(anonymization_fields).get(field, (False, False))[0]


def is_denied(field: str, anonymization_fields: Iterable[object] | None) -> bool:
    """``not is_allowed(field, anonymization_fields)`` (Kibana's ``isDenied``)."""
    return not is_allowed(field, anonymization_fields)


def is_anonymized(field: str, anonymization_fields: Iterable[object] | None) -> bool:
    """Whether the first entry for exactly ``field`` has ``anonymized`` set (Kibana's ``isAnonymized``).

    Like Kibana, this ignores ``allowed``: callers check ``is_allowed`` too, so an entry that is anonymized
    but not allowed drops the field.
    """
    return _field_flags(anonymization_fields).get(field, (False, False))[1]


def get_is_data_anonymizable(raw_data: object) -> bool:
    """Whether ``raw_data`` can be anonymized: anything but a ``str`` (Kibana's ``getIsDataAnonymizable``)."""
    return not isinstance(raw_data, str)


# --------------------------------------------------------------------------------------------------------
# JavaScript stringification


def js_string(value: object) -> str:
    """``value`` stringified as a JavaScript template literal (`` `${value}` ``) would do it.

    ``str`` as is; ``True`` -> ``"true"``; ``None`` -> ``"null"``; ``int`` in decimal; ``float`` like
    ``Number.prototype.toString`` (``14.0`` -> ``"14"``, ``1e21`` -> ``"1e+21"``, ``1e-7`` -> ``"1e-7"``,
    ``-0.0`` -> ``"0"``, ``nan`` -> ``"NaN"``, ``inf`` -> ``"Infinity"``); a list joined by ``","`` with
    ``None`` elements as ``""`` (``Array.prototype.join``); a mapping -> ``"[object Object]"``.

    >>> js_string([14.0, True, None, ["a", "b"]])
    '14,true,,a,b'
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        try:
            return str(value)
        except ValueError:  # Python's limit on int -> str conversion (4,300 digits by default)
            raise PayloadError([Issue((), "an integer too long to write as text")]) from None
    if isinstance(value, float):
        return _js_number(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list | tuple):
        return ",".join("" if item is None else js_string(item) for item in value)
    raise ArgumentTypeError(f"cannot stringify a {type(value).__name__} the JavaScript way")


def _js_number(value: float) -> str:
    """``Number.prototype.toString()`` for a double (ECMA-262 Number::toString, radix 10)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"  # -0 too
    sign = "-" if value < 0 else ""
    # repr() gives the shortest digit string that round-trips, which is what ECMAScript asks for.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    assert isinstance(exponent, int)
    n = len(digit_tuple) + exponent  # the value is 0.<digits> x 10**n
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        mantissa = digits if k == 1 else f"{digits[0]}.{digits[1:]}"
        text = f"{mantissa}e{'+' if n >= 1 else '-'}{abs(n - 1)}"
    return sign + text


def _js_key_order(keys: Iterable[str]) -> list[str]:
    """Keys in JavaScript object order: array-index keys ascending first, then the rest in insertion order."""
    indices: list[tuple[int, str]] = []
    others: list[str] = []
    for key in keys:
        if _is_array_index(key):
            indices.append((int(key), key))
        else:
            others.append(key)
    return [key for _, key in sorted(indices)] + others


def _is_array_index(key: str) -> bool:
    return key.isascii() and key.isdigit() and (key == "0" or key[0] != "0") and int(key) < 2**32 - 1


# --------------------------------------------------------------------------------------------------------
# Tokens and anonymized data


def get_anonymized_value(*, current_replacements: Mapping[str, str] | None, raw_value: str) -> str:
    """The token for ``raw_value``: one already mapped to it in ``current_replacements``, else a new uuid4.

    When several tokens map to ``raw_value`` the last one (in JavaScript key order) wins, as with Kibana's
    ``invert``. New tokens are lowercase canonical uuid4 strings.

    >>> get_anonymized_value(current_replacements={"t1": "alice", "t2": "alice"}, raw_value="alice")
    't2'
    """
    if current_replacements:
        matches = [token for token, original in current_replacements.items() if original == raw_value]
        if len(matches) == 1:
            return matches[0]
        if matches:
            return _js_key_order(matches)[-1]
    return str(uuid.uuid4())


def _anonymize_values(
    raw_values: Sequence[object],
    flags: tuple[bool, bool],
    running: dict[str, str],
    new_replacements: dict[str, str],
    generate: TokenGenerator,
) -> list[str]:
    """One field's values. ``running`` (the caller's map plus this call's tokens) is updated in place."""
    allowed, anonymized = flags
    if not allowed:
        return []
    strings = [js_string(v) for v in raw_values]
    if not anonymized:
        return strings
    tokens = []
    for original in strings:
        token = js_string(generate(current_replacements=running, raw_value=original))
        tokens.append(token)
        new_replacements[token] = original
        running[token] = original
    return tokens


def _field_values(raw_data: RawData, field: str) -> Sequence[object]:
    values = raw_data.get(field)
    if values is None:
        return []
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise PayloadError([Issue((field,), "expected a list of values")], kind="raw data")
    return values


def get_anonymized_values(
    *,
    field: str,
    raw_data: RawData,
    anonymization_fields: Iterable[object] | None,
    current_replacements: Mapping[str, str] | None,
    get_anonymized_value: TokenGenerator = get_anonymized_value,
) -> tuple[list[str], Replacements]:
    """The values of ``raw_data[field]``, stringified and anonymized per policy, and the new replacements.

    Each value is stringified with :func:`js_string`. Allowed and anonymized: each becomes a token from
    ``get_anonymized_value`` and a ``token -> value`` replacement; allowed only: passed through; otherwise
    the field gives ``[]``. A missing field gives ``([], {})`` (Kibana's ``getAnonymizedValues``).

    Deviation 1: ``get_anonymized_value`` sees ``current_replacements`` plus the tokens already made in this
    call, so a repeated value gets one token.
    """
    flags = _field_flags(anonymization_fields).get(field, (False, False))
    new: Replacements = {}
    running = dict(current_replacements or {})
    values = _anonymize_values(_field_values(raw_data, field), flags, running, new, get_anonymized_value)
    return values, new


def get_anonymized_data(
    *,
    raw_data: RawData,
    anonymization_fields: Iterable[object] | None,
    current_replacements: Mapping[str, str] | None,
    get_anonymized_value: TokenGenerator = get_anonymized_value,
) -> tuple[dict[str, list[str]], Replacements]:
    """Every allowed field of ``raw_data`` through :func:`get_anonymized_values`; the others left out.

    Returns ``(data, replacements)`` where ``replacements`` holds only the tokens made or reused in this
    call (Kibana's ``getAnonymizedData``). An allowed field with no values stays as ``[]``.
    ``anonymization_fields=None`` allows nothing.
    """
    flags = _field_flags(anonymization_fields)
    data: dict[str, list[str]] = {}
    new: Replacements = {}
    running = dict(current_replacements or {})
    for field in raw_data:
        field_flags = flags.get(field, (False, False))
        if not field_flags[0]:
            continue
        values = _field_values(raw_data, field)
        data[field] = _anonymize_values(values, field_flags, running, new, get_anonymized_value)
    return data, new


def get_csv_from_data(data: Mapping[str, Sequence[object]]) -> str:
    """Kibana's context "CSV": one ``field,v1,v2`` line per key, lines joined by ``\\n``.

    Keys are sorted by UTF-16 code units, as JavaScript's default sort does.
    Nothing is quoted or escaped; ``{}`` gives ``""`` and a field with no values gives ``"field,"``.

    >>> get_csv_from_data({"b": ["1", "2"], "a": []})
    'a,\\nb,1,2'
    """
    keys = sorted(data, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
    return "\n".join(f"{key},{js_string(list(data[key]))}" for key in keys)


def transform_raw_data(
    *,
    raw_data: str | RawData,
    anonymization_fields: Iterable[object] | None,
    current_replacements: Mapping[str, str] | None,
    get_anonymized_value: TokenGenerator = get_anonymized_value,
    on_new_replacements: Callable[[Replacements], object] | None = None,
) -> str:
    """The context text Kibana sends for ``raw_data`` (Kibana's ``transformRawData``).

    A ``str`` is returned unchanged and ``on_new_replacements`` is not called. Otherwise the data goes
    through :func:`get_anonymized_data`, ``on_new_replacements`` is called once with that call's
    replacements, and the result is :func:`get_csv_from_data` of the anonymized data.
    """
    if isinstance(raw_data, str):
        return raw_data
    data, replacements = get_anonymized_data(
        raw_data=raw_data,
        anonymization_fields=anonymization_fields,
        current_replacements=current_replacements,
        get_anonymized_value=get_anonymized_value,
    )
    if on_new_replacements is not None:
        on_new_replacements(replacements)
    return get_csv_from_data(data)


# --------------------------------------------------------------------------------------------------------
# Text replacement


def replace_anonymized_values_with_original_values(message_content: str, replacements: Mapping[str, str] | None) -> str:
    """Every token of ``replacements`` in ``message_content`` replaced by its original.

    One literal pass, leftmost-longest (deviation 2: Kibana runs one ``replaceAll`` per token, which expands
    ``$$``/``$&`` in originals and can chain). Empty tokens are ignored; ``None`` leaves the text unchanged.

    >>> replace_anonymized_values_with_original_values("hi tok", {"tok": "a$$b"})
    'hi a$$b'
    """
    if not isinstance(message_content, str):
        raise ArgumentTypeError(f"message_content must be a string, not {type(message_content).__name__}")
    if replacements is None:
        return message_content
    return replace_literal(message_content, replacements)


def replace_original_values_with_uuid_values(message_content: str, replacements: Mapping[str, str] | None) -> str:
    """Every original of ``replacements`` in ``message_content`` replaced by its token (re-anonymization).

    Kibana's newer single-pass version: at each position the longest original wins, inserted tokens are
    never re-scanned, for duplicate originals the first token (in JavaScript key order) wins, empty
    originals are ignored, matching is case-sensitive and literal. ``None`` or ``{}`` leaves the text
    unchanged.

    >>> replace_original_values_with_uuid_values("foobar foo", {"u1": "foo", "u2": "foobar"})
    'u2 u1'
    """
    if not isinstance(message_content, str):
        raise ArgumentTypeError(f"message_content must be a string, not {type(message_content).__name__}")
    if not replacements:
        return message_content
    to_token: dict[str, str] = {}
    for token in _js_key_order(replacements):
        original = replacements[token]
        if original and original not in to_token:
            to_token[original] = token
    return replace_literal(message_content, to_token)


# --------------------------------------------------------------------------------------------------------
# The security chat/complete route


def _flip_to_anonymized(fields: list[dict[str, object]], wanted: Sequence[str]) -> list[dict[str, object]]:
    """``fields`` with every field of ``wanted`` allowed and anonymized; unlisted ones added (deviation 5)."""
    listed = {str(f["field"]) for f in fields}
    flipped = [{**f, "allowed": True, "anonymized": True} if f["field"] in wanted else f for f in fields]
    flipped += [{"field": w, "allowed": True, "anonymized": True} for w in dict.fromkeys(wanted) if w not in listed]
    return flipped


def chat_complete_messages(
    request: Mapping[str, Any] | Any,
    *,
    anonymization_fields: Iterable[object] | FieldPolicy | None,
    session: Session,
    anonymize_content: bool = False,
) -> list[dict[str, str]]:
    r'''The messages Kibana's ``POST /api/security_ai_assistant/chat/complete`` sends to the model.

    For each message in order: the content is ``content or ""``; a message with ``data`` has its
    ``fields_to_anonymize`` made allowed and anonymized for it and every later message, each data value is
    wrapped as a one-element list and run through :func:`transform_raw_data` with the session's tokens (so a
    value seen in an earlier message, or an earlier turn, reuses its token), and the content becomes
    ``CONTEXT:\n"""\n<csv>\n"""\n\n<content>``. Only ``{role, content}`` is returned; new tokens are
    recorded in ``session``.

    ``anonymization_fields`` is the space's field list (or a :class:`~anonymizer.policy.FieldPolicy`;
    ``None`` uses the session's policy). Like Kibana, the free-text ``content`` is sent as it is, unless
    ``anonymize_content=True`` hides the session's known originals (and detector hits) in it too.

    Deviations from Kibana (README): one token per original within a call (1), no ``undefined`` text for a
    message with ``data`` and no ``content`` (3), fields of ``fields_to_anonymize`` that the list lacks are
    anonymized rather than dropped (5).

    >>> from anonymizer import Anonymizer
    >>> s = Anonymizer(tokens="placeholder").session()
    >>> request = {"messages": [{"role": "user", "content": "Who?", "data": {"user.name": "jdoe"}}]}
    >>> chat_complete_messages(request, anonymization_fields=None, session=s)[0]["content"]  # doctest: +ELLIPSIS
    'CONTEXT:\n"""\nuser.name,<USER_NAME_1_...>\n"""\n\nWho?'
    '''
    if hasattr(request, "model_dump"):
        request = request.model_dump(by_alias=True, exclude_unset=True)
    if isinstance(anonymization_fields, FieldPolicy):
        fields = anonymization_fields.to_fields()
    elif anonymization_fields is None:
        fields = session.engine.policy.to_fields()
    else:
        fields = [
            {"field": f, "allowed": a, "anonymized": n} for f, (a, n) in _field_flags(anonymization_fields).items()
        ]
    messages = request.get("messages") if isinstance(request, Mapping) else None
    if not isinstance(messages, list):
        raise PayloadError([Issue(("messages",), "Required")], kind="security.chat_complete")
    out: list[dict[str, str]] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise PayloadError([Issue(("messages", index), "Expected object")], kind="security.chat_complete")
        content = message.get("content") or ""
        if anonymize_content and content:
            content = session.anonymize_text(content)
        data = message.get("data")
        if data is not None:
            if not isinstance(data, Mapping):
                raise PayloadError(
                    [Issue(("messages", index, "data"), "Expected object")], kind="security.chat_complete"
                )
            wanted = message.get("fields_to_anonymize") or []
            if wanted:
                fields = _flip_to_anonymized(fields, wanted)
            context = _context_csv(data, fields, session)
            content = f'CONTEXT:\n"""\n{context}\n"""\n\n{content}'
        out.append({"role": str(message.get("role")), "content": content})
    return out


def _context_csv(data: Mapping[str, Any], fields: list[dict[str, object]], session: Session) -> str:
    """Kibana's CSV of one message's data, each value wrapped as a one-element list, tokens from ``session``."""
    raw: RawData = {key: [value] for key, value in data.items()}
    flags = _field_flags(fields)
    anonymized: dict[str, list[str]] = {}
    for field in raw:
        allowed, _ = flags.get(field, (False, False))
        if not allowed:
            continue

        def token(*, current_replacements: Mapping[str, str] | None, raw_value: str, _field: str = field) -> str:
            return session.token_for(raw_value, field=_field)

        values, _ = get_anonymized_values(
            field=field,
            raw_data=raw,
            anonymization_fields=fields,
            current_replacements=None,
            get_anonymized_value=token,
        )
        anonymized[field] = values
    return get_csv_from_data(anonymized)
