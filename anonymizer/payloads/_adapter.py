"""Run whole payloads through a session, in both directions.

Every function here validates first, works on a fresh wire-form copy (the input is never mutated), and talks to
the engine only through the session methods of :class:`PayloadSession`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from anonymizer.errors import Issue, PayloadError, ReplacementsError
from anonymizer.payloads._embedded_json import rewrite_json_strings
from anonymizer.payloads._kinds import Kind, as_kind, to_wire
from anonymizer.payloads._rules import Rule, rules_for
from anonymizer.payloads._strings import Path, StringSlot, string_slots
from anonymizer.payloads._validation import MAX_DEPTH

__all__ = [
    "Direction",
    "PayloadEngine",
    "PayloadResult",
    "PayloadSession",
    "anonymize_payload",
    "anonymize_strings",
    "deanonymize_payload",
    "deanonymize_strings",
    "transform_payload",
]

_log = logging.getLogger("anonymizer.payloads")

Direction = Literal["anonymize", "deanonymize"]
"""Which way :func:`transform_payload` goes."""


class PayloadEngine(Protocol):
    """What the adapter needs of an engine: building a sibling session from a stored map."""

    def session(self, replacements: Mapping[str, str] | None = None) -> PayloadSession:
        """A new session, starting from ``replacements``."""
        ...


class PayloadSession(Protocol):
    """The engine API the adapter uses (``anonymizer.Session`` provides it)."""

    @property
    def engine(self) -> PayloadEngine:
        """The engine the session belongs to."""
        ...

    @property
    def replacements(self) -> dict[str, str]:
        """A copy of the token -> original map."""
        ...

    def anonymize_data(self, data: Mapping[str, Any], fields_to_anonymize: Iterable[str] = ()) -> Any:
        """ECS ``data`` with fields dropped or tokenized per policy."""
        ...

    def anonymize_text(self, text: str) -> str:
        """Known originals (and detector hits) in ``text`` replaced by tokens."""
        ...

    def anonymize_texts(self, texts: Sequence[str]) -> list[str]:
        """:meth:`anonymize_text` over many texts (detectors run once, in batch)."""
        ...

    def deanonymize(self, text: str) -> str:
        """Tokens in ``text`` replaced by their originals."""
        ...

    def deanonymize_obj(self, obj: Any) -> Any:
        """Every string leaf of a JSON value restored."""
        ...

    def merge_replacements(self, mapping: Mapping[str, str]) -> Any:
        """Merge a stored map into the session; a conflicting token raises ``ReplacementsError``."""
        ...


@dataclass(frozen=True, slots=True)
class PayloadResult:
    """A transformed payload and what could not be handled as intended.

    ``text_fallbacks`` holds the JSON paths of embedded-JSON strings (``function_call.arguments``,
    ``message.data``, a function response's ``content``) that were not valid JSON and were processed as plain
    text instead.
    """

    payload: dict[str, Any]
    text_fallbacks: tuple[str, ...] = ()


class _Run:
    """One transformation: the direction, the kind (for errors) and the fallbacks met on the way."""

    def __init__(self, kind: Kind | None, direction: Direction) -> None:
        self.kind = kind
        self.name = kind.value if kind else "record"
        self.forward = direction == "anonymize"
        self.fallbacks: list[str] = []

    def strings(self, session: PayloadSession, slots: list[StringSlot]) -> None:
        """Anonymize (in one batch, so detectors run once) or restore every slot's string."""
        if not slots:
            return
        if not self.forward:
            for slot in slots:
                slot.put(self._restore_json(session, slot) if slot.json else session.deanonymize(slot.value))
            return
        texts: list[str] = []
        plan: list[tuple[StringSlot, int]] = []  # per slot: how many JSON string values, or -1 for a text
        for slot in slots:
            literals = self._json_values(slot) if slot.json else None
            if literals is None:
                texts.append(slot.value)
                plan.append((slot, -1))
            else:
                texts.extend(literals)
                plan.append((slot, len(literals)))
        done = iter(session.anonymize_texts(texts))
        for slot, n in plan:
            if n < 0:
                slot.put(next(done))
            elif n:
                slot.put(rewrite_json_strings(slot.value, _in_order([next(done) for _ in range(n)])))

    def _json_values(self, slot: StringSlot) -> list[str] | None:
        """The string values of a JSON text in order; ``None`` (and a fallback noted) when it is not JSON."""
        values: list[str] = []

        def collect(value: str) -> str:
            values.append(value)
            return value

        try:
            rewrite_json_strings(slot.value, collect)
        except ValueError:
            self._fallback(slot)
            return None
        return values

    def _restore_json(self, session: PayloadSession, slot: StringSlot) -> str:
        try:
            return rewrite_json_strings(slot.value, session.deanonymize)
        except ValueError:
            self._fallback(slot)
            return session.deanonymize(slot.value)

    def _fallback(self, slot: StringSlot) -> None:
        if slot.value.strip():
            where = Issue(slot.path, "").json_path
            self.fallbacks.append(where)
            _log.debug("embedded JSON at %s is not valid JSON; handled as text", where)

    def merge(self, session: PayloadSession, replacements: Mapping[str, str], path: Path) -> None:
        current = session.replacements
        issues = [
            Issue((*path, token), "Token already stands for another value in this conversation")
            for token, original in replacements.items()
            if token in current and current[token] != original
        ]
        if not issues:
            try:
                session.merge_replacements(replacements)
            except ReplacementsError:
                issues = [Issue(path, "Replacements conflict with this conversation's replacements")]
        if issues:
            raise PayloadError(issues, kind=self.name)

    def sub_session(self, session: PayloadSession, replacements: Mapping[str, str], path: Path) -> PayloadSession:
        try:
            return session.engine.session(replacements=dict(replacements))
        except ReplacementsError:
            raise PayloadError([Issue(path, "Invalid replacements")], kind=self.name) from None


# --- security chat/complete ----------------------------------------------------------------------------------


def _security_request(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    # The data of every message first: a value hidden in any message's data is then hidden in every text.
    named: list[str] = []  # Kibana: a field named once stays anonymized for the later messages of the request
    for message in payload["messages"]:
        for field in message.get("fields_to_anonymize") or ():
            if field not in named:
                named.append(field)
        if "data" in message:
            if run.forward:
                message["data"] = session.anonymize_data(message["data"], fields_to_anonymize=tuple(named))
            else:
                message["data"] = session.deanonymize_obj(message["data"])
    run.strings(session, string_slots(payload, rules_for(run.name)))


def _security_response(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    run.merge(session, payload["replacements"], ("replacements",))
    run.strings(session, string_slots(payload, rules_for(run.name)))
    if run.forward:
        payload["replacements"] = session.replacements


# --- conversations -------------------------------------------------------------------------------------------


def _conversation(run: _Run, session: PayloadSession, payload: dict[str, Any], path: Path = ()) -> None:
    if "replacements" in payload:
        run.merge(session, payload["replacements"], (*path, "replacements"))
    run.strings(session, string_slots(payload, rules_for(Kind.CONVERSATION), base=path))
    if run.forward:
        replacements = session.replacements
        if replacements or "replacements" in payload:
            payload["replacements"] = replacements


def _find(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    for i, conversation in enumerate(payload["data"]):
        path: Path = ("data", i)
        own = run.sub_session(session, conversation.get("replacements") or {}, (*path, "replacements"))
        _conversation(run, own, conversation, path)
    run.strings(session, string_slots(payload, rules_for(run.name), skip=("data",)))


# --- observability chat/complete -----------------------------------------------------------------------------


def _observability(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    function_responses = [
        ("messages", i, "message", "content")
        for i, entry in enumerate(payload["messages"])
        if entry["message"]["role"] == "function" or (entry["message"]["role"] == "user" and "name" in entry["message"])
    ]
    run.strings(session, string_slots(payload, rules_for(run.name), json_paths=function_responses))


_STEPS: dict[Kind, Callable[[_Run, PayloadSession, dict[str, Any]], None]] = {
    Kind.SECURITY_CHAT_COMPLETE: _security_request,
    Kind.SECURITY_CHAT_COMPLETE_RESPONSE: _security_response,
    Kind.CONVERSATION_CREATE: _conversation,
    Kind.CONVERSATION_UPDATE: _conversation,
    Kind.CONVERSATION: _conversation,
    Kind.CONVERSATION_FIND: _find,
    Kind.OBSERVABILITY_CHAT_COMPLETE: _observability,
}


# --- public entry points -------------------------------------------------------------------------------------


def transform_payload(
    session: PayloadSession, payload: object, kind: Kind | str, *, direction: Direction
) -> PayloadResult:
    """Validate ``payload`` as ``kind`` and anonymize or restore it through ``session``, with a report.

    The input is never mutated. Invalid payloads raise :class:`~anonymizer.errors.PayloadError`.
    """
    k = as_kind(kind)
    wire = to_wire(payload, k)  # a fresh copy: the caller's object is never touched
    run = _Run(k, direction)
    _STEPS[k](run, session, wire)
    return PayloadResult(wire, tuple(run.fallbacks))


def anonymize_payload(session: PayloadSession, payload: object, kind: Kind | str) -> dict[str, Any]:
    """Anonymize a whole payload of ``kind`` with ``session`` (what each kind touches: the README's "Payloads").

    ``payload`` is a mapping, a JSON ``str``/``bytes`` or a payload model; the result is a new wire-form dict.

    >>> from anonymizer import Anonymizer  # doctest: +SKIP
    >>> session = Anonymizer().session()  # doctest: +SKIP
    >>> anonymize_payload(session, body, "security.chat_complete")  # doctest: +SKIP
    """
    return transform_payload(session, payload, kind, direction="anonymize").payload


def deanonymize_payload(session: PayloadSession, payload: object, kind: Kind | str) -> dict[str, Any]:
    """Restore the originals in a payload of ``kind`` with ``session``: the inverse of :func:`anonymize_payload`."""
    return transform_payload(session, payload, kind, direction="deanonymize").payload


def anonymize_strings(session: PayloadSession, value: Any, rules: Mapping[str, Rule]) -> Any:
    """A copy of a JSON value with every string that ``rules`` do not keep anonymized as free text.

    This is what the payload kinds do, for any JSON value: strings are anonymized in one batch (detectors run
    once); a :attr:`Rule.JSON` string has its string values anonymized, formatting kept; what a
    :attr:`Rule.KEEP`, :attr:`Rule.DATA` or :attr:`Rule.MAP` rule covers is copied as it is (the caller handles
    ``data`` and ``replacements``). Property names are never rewritten. For a stored conversation (an export's
    record), pass :data:`CONVERSATION_RECORD_RULES`.

    >>> from anonymizer import Anonymizer
    >>> from anonymizer.payloads import CONVERSATION_RECORD_RULES
    >>> session = Anonymizer(tokens="placeholder").session()
    >>> session.token_for("jdoe", field="user.name")  # doctest: +ELLIPSIS
    '<USER_NAME_1_...>'
    >>> record = {"id": "jdoe", "title": "jdoe?", "notes": [{"by": "jdoe"}]}
    >>> anonymize_strings(session, record, CONVERSATION_RECORD_RULES)  # doctest: +ELLIPSIS
    {'id': 'jdoe', 'title': '<USER_NAME_1_...>?', 'notes': [{'by': '<USER_NAME_1_...>'}]}
    """
    copy = _copy(value, 0)
    _Run(None, "anonymize").strings(session, string_slots(copy, rules))
    return copy


def deanonymize_strings(session: PayloadSession, value: Any, rules: Mapping[str, Rule]) -> Any:
    """The inverse of :func:`anonymize_strings`: a copy with the same strings restored."""
    copy = _copy(value, 0)
    _Run(None, "deanonymize").strings(session, string_slots(copy, rules))
    return copy


def _in_order(values: list[str]) -> Callable[[str], str]:
    """A ``replace`` for :func:`rewrite_json_strings` that gives ``values`` one after the other."""
    it = iter(values)
    return lambda _old: next(it)


def _copy(value: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise PayloadError([Issue((), f"JSON nested deeper than {MAX_DEPTH} levels")])
    if isinstance(value, Mapping):
        return {k: _copy(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v, depth + 1) for v in value]
    return value
