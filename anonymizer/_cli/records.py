"""What ``redact``, ``restore`` and ``audit`` do to one record. Only engine and payload-adapter calls.

``redact``, per conversation of a record:

1. a :class:`~anonymizer.Session` is built from the conversation's own ``replacements``;
2. its ``title``, message ``content`` and ``summary.content`` go through the payload adapter
   (``anonymize_payload(..., Kind.CONVERSATION)``: validation, known originals and detector hits -> tokens);
3. ``replacements`` is taken out of the record, and every other field goes through
   ``session.anonymize_data`` (fields named by the policy or ``--fields`` become tokens, known originals inside
   any other string are hidden);
4. the entry for the replacements file holds the session's map, the form and position the record's map had,
   and *patches*: whatever a plain restore of the redacted conversation would not give back exactly (text that
   was already in token form in the export, fields the policy drops, typed values), so restore is exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from anonymizer.engine import Anonymizer, Session
from anonymizer.errors import AnonymizerError, Issue, PayloadError, ReplacementsError
from anonymizer.findings import Detector
from anonymizer.payloads import Kind, anonymize_payload
from anonymizer.policy import FieldPolicy

from .formats import (
    Path,
    apply_patches,
    conversations_in,
    diff,
    dumps,
    loads,
    rebuild_replacements,
    replacements_of,
    string_leaves,
    text_slots,
)

__all__ = [
    "Finding",
    "RedactConfig",
    "RedactResult",
    "Redactor",
    "audit_conversation",
    "restore_conversation",
]


@dataclass(frozen=True, slots=True)
class RedactConfig:
    """Everything a redaction worker needs to build its engine (picklable; the key never leaves memory)."""

    policy: Any = None  # the policy file's JSON, or None for Kibana's defaults
    fields: tuple[str, ...] = ()
    tokens: str = "uuid"
    key: bytes | None = None
    detect: bool = False
    detect_model: str | None = None
    pretty: bool = False

    def engine(self) -> Anonymizer:
        """The engine for this configuration (policy fields not listed are kept: records are not ECS data)."""
        if self.policy is None:
            policy = FieldPolicy.kibana_default(unknown="keep")
        else:
            policy = FieldPolicy.from_fields(self.policy, unknown="keep")
        detectors: tuple[Detector, ...] = ()
        if self.detect:
            from anonymizer.detect import presidio

            detectors = (presidio(model=self.detect_model),)
        return Anonymizer(policy=policy, tokens=self.tokens, key=self.key, detectors=detectors)


class RedactResult(NamedTuple):
    """The redaction of one record: its output and replacements entries, or why it was rejected."""

    line: int
    output: bytes | None
    entries: list[bytes]
    conversations: int
    tokens: int
    reject: str | None = None


class Redactor:
    """Redacts records; built once per worker process (the engine, and any detector model, load once)."""

    def __init__(self, config: RedactConfig) -> None:
        self.engine = config.engine()
        self.restore_engine = Anonymizer()
        self.fields = config.fields
        self.pretty = config.pretty

    def __call__(self, item: tuple[int, bytes | str]) -> RedactResult:
        line, raw = item
        try:
            record = loads(raw)
            original = loads(raw)
        except ValueError as exc:
            return RedactResult(line, None, [], 0, 0, f"invalid JSON: {_json_reason(exc)}")
        try:
            convs = conversations_in(record)
            originals = conversations_in(original)
            entries: list[bytes] = []
            tokens = 0
            for (path, conv, ident), (_, before, _) in zip(convs, originals, strict=True):
                redacted, entry = self.conversation(conv, before, ident, path)
                if path:
                    _set(record, path, redacted)
                else:
                    record = redacted
                tokens += len(entry["replacements"])
                entries.append(dumps(entry))
        except PayloadError as exc:  # paths and messages only, never a value
            return RedactResult(line, None, [], 0, 0, str(exc))
        except ReplacementsError:  # its message may name a token: say what is wrong, not where
            return RedactResult(line, None, [], 0, 0, "invalid replacements: a token bound twice or a non-string")
        except AnonymizerError as exc:  # a detector failure (its messages never quote the text)
            return RedactResult(line, None, [], 0, 0, f"{type(exc).__name__}: {exc}")
        except RecursionError:
            return RedactResult(line, None, [], 0, 0, "record nested too deeply")
        return RedactResult(line, dumps(record, pretty=self.pretty), entries, len(convs), tokens)

    def conversation(
        self, conv: dict[str, Any], before: dict[str, Any], ident: str | None, path: Path
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Redact one conversation; returns it and its replacements entry."""
        try:
            mapping, form, position, count = replacements_of(conv)
            session = self.engine.session(replacements=mapping)
            out = anonymize_payload(session, _view(conv, ident, mapping), Kind.CONVERSATION)
        except PayloadError as exc:
            raise PayloadError([Issue((*path, *i.path), i.message) for i in exc.issues], kind=exc.kind) from None
        _write_back(conv, out)
        conv.pop("replacements", None)
        redacted = session.anonymize_data(conv, fields_to_anonymize=self.fields)
        entry: dict[str, Any] = {
            "id": ident,
            "at": path,
            "replacements": session.replacements,
            "form": form,
            "position": position,
            "count": count,
        }
        patches = diff(before, restore_conversation(self.restore_engine, redacted, entry, patch=False))
        if patches:
            entry["patches"] = patches
        return redacted, entry


def _view(conv: dict[str, Any], ident: str | None, mapping: dict[str, str]) -> dict[str, Any]:
    """The part of a conversation (API or Elasticsearch form) the payload adapter validates and anonymizes."""
    view: dict[str, Any] = {"id": conv.get("id", ident or "")}
    if "title" in conv:
        view["title"] = conv["title"]
    messages = conv.get("messages")
    if "messages" in conv:
        view["messages"] = (
            [{k: m[k] for k in ("role", "content") if k in m} if isinstance(m, dict) else m for m in messages]
            if isinstance(messages, list)
            else messages
        )
    summary = conv.get("summary")
    if isinstance(summary, dict) and "content" in summary:
        view["summary"] = {"content": summary["content"]}
    view["replacements"] = mapping
    return view


def _write_back(conv: dict[str, Any], out: dict[str, Any]) -> None:
    if "title" in out:
        conv["title"] = out["title"]
    for message, done in zip(conv.get("messages") or (), out.get("messages") or (), strict=True):
        message["content"] = done["content"]
    if "summary" in out:
        conv["summary"]["content"] = out["summary"]["content"]


def _set(record: Any, path: Path, value: Any) -> None:
    for key in path[:-1]:
        record = record[key]
    record[path[-1]] = value


def _json_reason(exc: ValueError) -> str:
    # orjson and json both say where ("line 1 column 5 (char 4)"), never what.
    return str(exc).split("\n", 1)[0][:200]


def restore_conversation(
    engine: Anonymizer, conv: dict[str, Any], entry: dict[str, Any], *, patch: bool = True
) -> dict[str, Any]:
    """The original conversation from its redacted form and its replacements entry."""
    session = engine.session(replacements=entry["replacements"])
    restored: dict[str, Any] = rebuild_replacements(session.deanonymize_obj(conv), entry)
    if patch and entry.get("patches"):
        restored = apply_patches(restored, entry["patches"])
    return restored


@dataclass(frozen=True, slots=True)
class Finding:
    """An audit finding: where (JSON path), what (``leak`` or ``unknown``) and the token (never an original)."""

    path: tuple[str | int, ...]
    kind: str
    token: str

    def describe(self) -> str:
        """A line for the user."""
        where = Issue(self.path, "").json_path
        if self.kind == "leak":
            return f"{where}: original of token {self.token} is present"
        return f"{where}: token {self.token} does not resolve in this conversation"


def audit_conversation(session: Session, conv: dict[str, Any], path: Path) -> list[Finding]:
    """Leaked originals anywhere in a redacted conversation, and unresolved tokens in its free text."""
    findings: list[Finding] = []
    replacements = session.replacements
    by_original: dict[str, str] = {}
    for token, original in replacements.items():
        by_original.setdefault(original, token)
    leaves = list(string_leaves(conv))
    hidden = session.anonymize_texts([text for _, text in leaves])
    for (where, text), after in zip(leaves, hidden, strict=True):
        if text in by_original:
            findings.append(Finding((*path, *where), "leak", by_original[text]))
        elif after != text:
            for token in replacements:
                if after.count(token) > text.count(token):
                    findings.append(Finding((*path, *where), "leak", token))
    for where, text in text_slots(conv):
        for event in session.restore(text).report.events:
            if event.kind in ("unknown", "ambiguous"):
                findings.append(Finding((*path, *where), "unknown", event.found))
    return findings
