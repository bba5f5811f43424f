"""A generated export for the distributed tests and the batch benchmark, and how to compare redactions of it.

Its conversations are varied (API form, Elasticsearch documents with ``[{uuid, value}]`` maps, ``_find`` pages
of two conversations, one with no map at all) and some mention originals that only *another* conversation's map
names, so export-wide hiding is exercised too.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["by_conversation", "cli_redaction", "export_lines"]


def _token(i: int, k: int) -> str:
    return str(uuid.UUID(int=(i << 8) + k, version=4))


def _conversation(i: int) -> dict[str, Any]:
    user, host, ip = f"user{i:05d}", f"host-{i % 37:03d}.corp.local", f"10.{i % 250}.{i % 97}.{i % 13}"
    t = [_token(i, k) for k in range(3)]
    conv: dict[str, Any] = {
        "id": str(uuid.UUID(int=i + 1, version=4)),
        "title": f"Failed logins for {user}",
        "category": "assistant",
        "users": [{"id": f"u_{i % 5}", "name": "elastic"}],
        "messages": [
            {"role": "user", "content": f"Why did {user} log in to {host} from {ip}?"},
            {"role": "assistant", "content": f"{t[0]} logged in to {t[1]} from {t[2]}."},
        ],
        "replacements": {t[0]: user, t[1]: host, t[2]: ip},
    }
    if i % 7 == 3:  # no map of its own, but it names the user of the conversation before it
        conv["messages"] = [{"role": "user", "content": f"Is user{i - 1:05d} the same person as in the last case?"}]
        del conv["replacements"]
    return conv


def _es(conv: dict[str, Any]) -> dict[str, Any]:
    source = {k: v for k, v in conv.items() if k != "replacements"}
    source["replacements"] = [{"uuid": t, "value": v} for t, v in conv.get("replacements", {}).items()]
    return {"_index": ".kibana-elastic-ai-assistant-conversations", "_id": conv["id"], "_source": source}


def export_lines(records: int) -> list[str]:
    """``records`` NDJSON lines (no newline): mostly API-form conversations, every 5th an Elasticsearch hit,
    every 11th a ``_find`` page of two conversations."""
    lines = []
    for i in range(records):
        conv = _conversation(i)
        if i % 11 == 5:
            record: dict[str, Any] = {"page": 1, "perPage": 2, "total": 2, "data": [conv, _conversation(i + 100_000)]}
        elif i % 5 == 2:
            record = _es(conv)
        else:
            record = conv
        lines.append(json.dumps(record))
    return lines


def by_conversation(redacted: Iterable[str], entries: Iterable[str]) -> dict[str, tuple[Any, Any]]:
    """Redacted records and replacements entries as ``{conversation id: (record JSON, entry JSON)}``.

    Records are keyed by the id of their first conversation (the entries of a ``_find`` page stay with it);
    comparing two redactions this way ignores order and file layout.
    """
    by_id: dict[str, Any] = {}
    for line in entries:
        if line.strip():
            entry = json.loads(line)
            if "anonymizer" not in entry:  # not a file header
                by_id[entry["id"]] = entry
    out: dict[str, tuple[Any, Any]] = {}
    for line in redacted:
        if not line.strip():
            continue
        record = json.loads(line)
        if "data" in record and "page" in record:
            ids = [c["id"] for c in record["data"]]
        else:
            ids = [record.get("_id") or record["id"]]
        out[ids[0]] = (record, [by_id.get(i) for i in ids])
    return out


def cli_redaction(folder: Path, records: int) -> dict[str, Path]:
    """Write the export of ``records`` lines and a key under ``folder``, and redact it with the CLI (keyed tokens).

    Returns the paths: ``source``, ``key``, ``out`` (redacted), ``repl`` (replacements) and ``folder``.
    """
    from tests.cli.test_cli import run

    source, key = folder / "export.ndjson", folder / "token.key"
    source.write_text("\n".join(export_lines(records)) + "\n")
    key.write_bytes(os.urandom(32).hex().encode())
    out, repl = folder / "cli.ndjson", folder / "cli-repl.ndjson"
    done = run("redact", source, "-o", out, "--replacements-out", repl, "--tokens", "keyed", "--key-file", key)
    assert done.returncode == 0, done.stderr.decode()
    return {"source": source, "key": key, "out": out, "repl": repl, "folder": folder}
