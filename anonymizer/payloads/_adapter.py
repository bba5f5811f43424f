"""Run whole payloads through a session, in both directions (SPEC §5).

Every function here validates first, works on a fresh wire-form copy (the input is never mutated), and talks to
the engine only through the session methods of :class:`PayloadSession`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from anonymizer.errors import Issue, PayloadError, ReplacementsError
from anonymizer.payloads._embedded_json import rewrite_json_strings
from anonymizer.payloads._kinds import Kind, as_kind, to_wire

__all__ = [
    "Direction",
    "PayloadEngine",
    "PayloadResult",
    "PayloadSession",
    "anonymize_payload",
    "deanonymize_payload",
    "transform_payload",
]

_log = logging.getLogger("anonymizer.payloads")

Direction = Literal["anonymize", "deanonymize"]
"""Which way :func:`transform_payload` goes."""

Path = tuple[str | int, ...]


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

    def __init__(self, kind: Kind, direction: Direction) -> None:
        self.kind = kind
        self.forward = direction == "anonymize"
        self.fallbacks: list[str] = []

    def text(self, session: PayloadSession, text: str) -> str:
        return session.anonymize_text(text) if self.forward else session.deanonymize(text)

    def embedded_json(self, session: PayloadSession, text: str, path: Path) -> str:
        replace: Callable[[str], str] = session.anonymize_text if self.forward else session.deanonymize
        try:
            return rewrite_json_strings(text, replace)
        except ValueError:
            if text.strip():
                where = Issue(path, "").json_path
                self.fallbacks.append(where)
                _log.debug("embedded JSON at %s is not valid JSON; handled as text", where)
            return replace(text)

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
            raise PayloadError(issues, kind=self.kind.value)

    def sub_session(self, session: PayloadSession, replacements: Mapping[str, str], path: Path) -> PayloadSession:
        try:
            return session.engine.session(replacements=dict(replacements))
        except ReplacementsError:
            raise PayloadError([Issue(path, "Invalid replacements")], kind=self.kind.value) from None


# --- security chat/complete ----------------------------------------------------------------------------------


def _security_request(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
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
        if "content" in message:
            message["content"] = run.text(session, message["content"])


def _security_response(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    run.merge(session, payload["replacements"], ("replacements",))
    payload["data"] = run.text(session, payload["data"])
    if run.forward:
        payload["replacements"] = session.replacements


# --- conversations -------------------------------------------------------------------------------------------


def _conversation(run: _Run, session: PayloadSession, payload: dict[str, Any], path: Path = ()) -> None:
    if "replacements" in payload:
        run.merge(session, payload["replacements"], (*path, "replacements"))
    if "title" in payload:
        payload["title"] = run.text(session, payload["title"])
    for message in payload.get("messages") or ():
        message["content"] = run.text(session, message["content"])
    summary = payload.get("summary")
    if summary is not None and "content" in summary:
        summary["content"] = run.text(session, summary["content"])
    if run.forward:
        replacements = session.replacements
        if replacements or "replacements" in payload:
            payload["replacements"] = replacements


def _find(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    for i, conversation in enumerate(payload["data"]):
        path: Path = ("data", i)
        own = run.sub_session(session, conversation.get("replacements") or {}, (*path, "replacements"))
        _conversation(run, own, conversation, path)


# --- observability chat/complete -----------------------------------------------------------------------------


def _observability(run: _Run, session: PayloadSession, payload: dict[str, Any]) -> None:
    if "title" in payload:
        payload["title"] = run.text(session, payload["title"])
    instructions = payload.get("instructions")
    if instructions is not None:
        for i, item in enumerate(instructions):
            if isinstance(item, str):
                instructions[i] = run.text(session, item)
            else:
                item["text"] = run.text(session, item["text"])
    for i, entry in enumerate(payload["messages"]):
        message = entry["message"]
        path: Path = ("messages", i, "message")
        if "content" in message:
            is_function_response = message["role"] == "function" or (message["role"] == "user" and "name" in message)
            if is_function_response:
                message["content"] = run.embedded_json(session, message["content"], (*path, "content"))
            else:
                message["content"] = run.text(session, message["content"])
        if "data" in message:
            message["data"] = run.embedded_json(session, message["data"], (*path, "data"))
        call = message.get("function_call")
        if call is not None and "arguments" in call:
            call["arguments"] = run.embedded_json(session, call["arguments"], (*path, "function_call", "arguments"))


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
    """Anonymize a whole payload of ``kind`` with ``session`` (what each kind touches: SPEC §5).

    ``payload`` is a mapping, a JSON ``str``/``bytes`` or a payload model; the result is a new wire-form dict.

    >>> from anonymizer import Anonymizer  # doctest: +SKIP
    >>> session = Anonymizer().session()  # doctest: +SKIP
    >>> anonymize_payload(session, body, "security.chat_complete")  # doctest: +SKIP
    """
    return transform_payload(session, payload, kind, direction="anonymize").payload


def deanonymize_payload(session: PayloadSession, payload: object, kind: Kind | str) -> dict[str, Any]:
    """Restore the originals in a payload of ``kind`` with ``session``: the inverse of :func:`anonymize_payload`."""
    return transform_payload(session, payload, kind, direction="deanonymize").payload
