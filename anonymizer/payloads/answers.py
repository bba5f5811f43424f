"""Restoring Kibana's answers when Kibana anonymized again what it was sent (a proxy in front of Kibana).

A proxy sends Kibana tokens; Kibana may replace some of them by tokens of its own and answer with a
``replacements`` map of *its* tokens to what it received (the proxy's tokens). :func:`chain_replacements` follows
each of those back to the original through the conversation's map, and :func:`restore_answer` restores a whole
answer with both maps.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from anonymizer.errors import PayloadError
from anonymizer.payloads._adapter import PayloadSession, deanonymize_payload
from anonymizer.payloads._kinds import Kind

__all__ = ["chain_replacements", "restore_answer"]


def chain_replacements(session: PayloadSession, upstream: object) -> dict[str, str]:
    """Kibana's tokens (the keys of an answer's ``replacements``) mapped to originals through ``session``.

    Entries whose key is already a token of ``session``, and entries that are not strings, are left out.
    """
    chained: dict[str, str] = {}
    if isinstance(upstream, Mapping):
        known = None
        for token, value in upstream.items():
            if isinstance(token, str) and token and isinstance(value, str):
                if known is None:
                    known = session.replacements
                if token not in known:
                    chained[token] = session.deanonymize(value)
    return chained


def restore_answer(session: PayloadSession, payload: Any, kind: Kind, *, shown: Mapping[str, str] | None = None) -> Any:
    """Restore a JSON answer of ``kind`` whose tokens may be Kibana's own (see :func:`chain_replacements`).

    The answer's ``replacements`` becomes ``shown`` (default: the whole map of ``session``) plus the chained
    entries, as Kibana without a proxy would show its own. An answer that does not fit the model of ``kind``
    has every string restored (its ``replacements`` replaced the same way). ``session`` is never changed.
    """
    if not isinstance(payload, dict):
        return session.deanonymize_obj(payload)
    chained = chain_replacements(session, payload.get("replacements"))
    restorer = session
    if chained:
        restorer = session.engine.session(session.replacements)
        restorer.merge_replacements(chained)
    if "replacements" in payload:
        base = session.replacements if shown is None else shown
        payload = {**payload, "replacements": {**base, **chained}}
    try:
        return deanonymize_payload(restorer, payload, kind)
    except PayloadError:
        rest = {k: v for k, v in payload.items() if k != "replacements"}
        out = restorer.deanonymize_obj(rest)
        if "replacements" in payload:
            out["replacements"] = payload["replacements"]
        return out
