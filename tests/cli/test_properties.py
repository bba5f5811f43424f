"""Hypothesis properties of the CLI, run in process through ``anonymizer.cli.main`` on temporary files."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anonymizer.cli import main
from anonymizer.testing import conversations, find_responses

_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _originals(record: dict[str, Any]) -> set[str]:
    convs = record.get("data", [record])
    return {v for c in convs for v in (c.get("replacements") or {}).values()}


def _roundtrip(records: list[dict[str, Any]], layout: str) -> tuple[str, list[Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        source, redacted, restored, repl = (Path(tmp) / n for n in ("in.json", "red.json", "back.json", "r.ndjson"))
        if layout == "array":
            source.write_text(json.dumps(records, indent=1))
        else:
            source.write_text("".join(json.dumps(r) + "\n" for r in records))
        assert main(["redact", str(source), "-o", str(redacted), "--replacements-out", str(repl), "--quiet"]) == 0
        assert main(["restore", str(redacted), "-o", str(restored), "--replacements", str(repl), "--quiet"]) == 0
        assert main(["audit", str(redacted), "--replacements", str(repl), "--quiet"]) == 0
        text = redacted.read_text()
        back = restored.read_text()
        values = json.loads(back) if layout == "array" else [json.loads(x) for x in back.splitlines()]
        return text, values


@_SETTINGS
@given(st.lists(conversations(), min_size=1, max_size=4), st.sampled_from(["ndjson", "array"]))
def test_conversations_redact_restore_exact_and_no_original_left(records: list[dict[str, Any]], layout: str) -> None:
    """Generated conversations: restore gives the input back exactly, and the redacted text holds no original."""
    text, back = _roundtrip(records, layout)
    assert back == records
    for record in records:
        for original in _originals(record):
            assert original not in text


@_SETTINGS
@given(st.lists(find_responses(), min_size=1, max_size=3))
def test_find_pages_redact_restore_exact_and_no_original_left(pages: list[dict[str, Any]]) -> None:
    """Generated _find pages: each conversation keeps its own map; exact restore, no original in the output."""
    text, back = _roundtrip(pages, "ndjson")
    assert back == pages
    for page in pages:
        for original in _originals(page):
            assert original not in text
