"""What ``redact``, ``restore`` and ``audit`` do to one record. Only engine and payload-adapter calls.

``redact``, per conversation of a record:

1. a :class:`~anonymizer.Session` is built from the conversation's own ``replacements``;
2. its ``title``, message ``content`` and ``summary.content`` go through the payload adapter
   (``anonymize_payload(..., Kind.CONVERSATION)``: validation, known originals and detector hits -> tokens);
3. ``replacements`` is taken out of the record; every other string the conversation allow-list does not keep
   (``CONVERSATION_RECORD_RULES``: ids, timestamps, roles, connector and model names) is anonymized as free text
   (``anonymize_strings``: known originals and detector hits, in user names, metadata, unknown properties...),
   then the whole conversation goes through ``session.anonymize_data`` (fields named by the policy or
   ``--fields`` become tokens, known originals inside any other string are hidden);
4. the entry for the replacements file holds the session's map, the form and position the record's map had,
   and *patches*: whatever a plain restore of the redacted conversation would not give back exactly (text that
   was already in token form in the export, fields the policy drops, typed values), so restore is exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from anonymizer.engine import Anonymizer, Session
from anonymizer.errors import AnonymizerError, Issue, PayloadError, ReplacementsError
from anonymizer.payloads import CONVERSATION_RECORD_RULES, Kind, anonymize_payload, anonymize_strings

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
from .originals import ExportOriginals

__all__ = [
    "Finding",
    "RedactResult",
    "Redactor",
    "audit_conversation",
    "restore_conversation",
]


class RedactResult(NamedTuple):
    """The redaction of one record: its output and replacements entries, or why it was rejected."""

    line: int
    output: bytes | None
    entries: list[bytes]
    conversations: int
    tokens: int
    reject: str | None = None


class Redactor:
    """Redacts records with one engine (built once per worker process: any detector model loads once).

    ``export`` holds every original known anywhere in the export: each one found in a conversation is given a
    token in that conversation too, so the redacted export holds none of them, whichever map named it.
    """

    def __init__(
        self,
        engine: Anonymizer,
        *,
        fields: tuple[str, ...] = (),
        pretty: bool = False,
        export: ExportOriginals | None = None,
    ) -> None:
        self.engine = engine
        self.restore_engine = Anonymizer()
        self.fields = fields
        self.pretty = pretty
        self.export = export

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
            if self.export is not None:
                known = set(mapping.values())
                for original in sorted(self.export.found_in(conv) - known):  # sorted: the same tokens every run
                    session.token_for(original)
            out = anonymize_payload(session, _view(conv, ident, mapping), Kind.CONVERSATION)
        except PayloadError as exc:
            raise PayloadError([Issue((*path, *i.path), i.message) for i in exc.issues], kind=exc.kind) from None
        _write_back(conv, out)
        conv.pop("replacements", None)
        conv = anonymize_strings(session, conv, CONVERSATION_RECORD_RULES)
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
    """What is wrong and at which character of the record; the parser's own line and column are dropped (they
    count the line break that ends an NDJSON record as a line of its own)."""
    text = str(exc).split("\n", 1)[0][:200]
    what, _, where = text.partition(": line ")
    char = re.search(r"\(char (\d+)\)", where)
    return f"{what} at character {int(char.group(1)) + 1} of the record" if char else text


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
    """An audit finding: where (JSON path), what and the token (never an original).

    ``kind`` is ``leak`` (an original of this conversation is present), ``foreign`` (an original that another
    conversation of the export gave ``token`` is present) or ``unknown`` (a token that does not resolve).
    """

    path: tuple[str | int, ...]
    kind: str
    token: str

    def describe(self) -> str:
        """A line for the user."""
        where = Issue(self.path, "").json_path
        if self.kind == "leak":
            return f"{where}: original of token {self.token} is present"
        if self.kind == "foreign":
            return f"{where}: original of token {self.token} (another conversation's) is present"
        return f"{where}: token {self.token} does not resolve in this conversation"


def audit_conversation(
    session: Session, conv: dict[str, Any], path: Path, export: ExportOriginals | None = None
) -> list[Finding]:
    """Leaked originals anywhere in a redacted conversation, and unresolved tokens in its free text.

    With ``export``, an original of any conversation of the export found here is a leak too.
    """
    findings: list[Finding] = []
    by_original: dict[str, str] = {}
    for token, original in session.replacements.items():
        by_original.setdefault(original, token)
    foreign: dict[str, str] = {}  # a token bound here for another conversation's original -> that one's token
    if export is not None:
        for original in sorted(export.found_in(conv) - by_original.keys()):
            foreign[session.token_for(original)] = export.token_of(original) or "?"
    replacements = session.replacements
    leaves = list(string_leaves(conv))
    hidden = session.anonymize_texts([text for _, text in leaves])
    for (where, text), after in zip(leaves, hidden, strict=True):
        if text in by_original:
            findings.append(Finding((*path, *where), "leak", by_original[text]))
        elif after != text:
            for token in replacements:
                if after.count(token) > text.count(token):
                    kind = "foreign" if token in foreign else "leak"
                    findings.append(Finding((*path, *where), kind, foreign.get(token, token)))
    for where, text in text_slots(conv):
        for event in session.restore(text).report.events:
            if event.kind in ("unknown", "ambiguous") and event.found not in foreign:
                findings.append(Finding((*path, *where), "unknown", event.found))
    return findings
