"""End-to-end tests of the installed ``anonymizer`` command (redact, restore, audit) run as a subprocess."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.tagless import untag

ROOT = Path(__file__).resolve().parents[2]
EXPORT = ROOT / "examples" / "export.ndjson"
EXPORT_ES = ROOT / "examples" / "export-es.ndjson"
_SCRIPT = (
    str(Path(sys.executable).parent / "anonymizer")
    if (Path(sys.executable).parent / "anonymizer").exists()
    else (shutil.which("anonymizer") or "anonymizer")
)


def run(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the installed command; never raises on a non-zero exit."""
    return subprocess.run([_SCRIPT, *map(str, args)], input=stdin, capture_output=True, check=False, timeout=300)


def ndjson(path: Path) -> list[Any]:
    """The JSON values of an NDJSON file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def conversations() -> list[dict[str, Any]]:
    """The bundled example conversations (API form)."""
    return ndjson(EXPORT)


def roundtrip(tmp_path: Path, source: Path, *extra: str) -> tuple[Path, Path, Path]:
    """Redact then restore ``source``; returns (redacted, replacements, restored) and checks both exit 0."""
    suffix = ".gz" if source.name.endswith(".gz") else ""
    redacted = tmp_path / f"redacted{suffix}"
    replacements = tmp_path / "replacements.ndjson"
    restored = tmp_path / f"restored{suffix}"
    done = run("redact", source, "-o", redacted, "--replacements-out", replacements, *extra)
    assert done.returncode == 0, done.stderr.decode()
    done = run("restore", redacted, "-o", restored, "--replacements", replacements, *_decrypt(extra))
    assert done.returncode == 0, done.stderr.decode()
    return redacted, replacements, restored


def _decrypt(extra: Sequence[str]) -> list[str]:
    if "--encrypt-key-file" in extra:
        return ["--decrypt-key-file", extra[list(extra).index("--encrypt-key-file") + 1]]
    return []


def originals_of(records: list[dict[str, Any]]) -> set[str]:
    """Every original named by the API-form replacements of ``records``."""
    return {v for r in records for v in (r.get("replacements") or {}).values()}


def test_version_and_help() -> None:
    """--version prints the version; --help lists the commands, an example and the exit codes."""
    assert run("--version").stdout.startswith(b"anonymizer ")
    out = run("--help").stdout.decode()
    assert "redact" in out and "restore" in out and "audit" in out and "exit codes" in out
    assert "--replacements-out" in run("redact", "--help").stdout.decode()


def test_ndjson_roundtrip_is_exact_and_redacted_holds_no_original(tmp_path: Path) -> None:
    """Redacting the bundled export removes replacements and every original; restore gives it back exactly."""
    redacted, replacements, restored = roundtrip(tmp_path, EXPORT)
    assert ndjson(restored) == conversations()
    text = redacted.read_text()
    assert '"replacements"' not in text
    for original in originals_of(conversations()):
        assert original not in text
    assert "no original" not in text
    assert json.loads(replacements.read_text().splitlines()[0])["anonymizer"] == "replacements"
    assert run("audit", redacted, "--replacements", replacements).returncode == 0


def test_array_roundtrip(tmp_path: Path) -> None:
    """A JSON array (pretty, multi-line elements) comes back as a JSON array equal to the input."""
    source = tmp_path / "export.json"
    source.write_text(json.dumps(conversations(), indent=2))
    redacted, _, restored = roundtrip(tmp_path, source)
    assert isinstance(json.loads(redacted.read_text()), list)
    assert json.loads(restored.read_text()) == conversations()


def test_find_pages_one_per_line_and_one_document(tmp_path: Path) -> None:
    """_find pages, as NDJSON lines and as one pretty document, round trip exactly."""
    convs = conversations()
    pages = [{"page": i + 1, "perPage": 5, "total": 20, "data": convs[i * 5 : i * 5 + 5]} for i in range(4)]
    lines = tmp_path / "pages.ndjson"
    lines.write_text("".join(json.dumps(p) + "\n" for p in pages))
    redacted, replacements, restored = roundtrip(tmp_path, lines)
    assert ndjson(restored) == pages
    assert len(ndjson(replacements)) == 1 + 20
    doc_dir = tmp_path / "doc"
    doc_dir.mkdir()
    document = doc_dir / "page.json"
    document.write_text(json.dumps(pages[0], indent=2))
    redacted, _, restored = roundtrip(doc_dir, document)
    assert json.loads(restored.read_text()) == pages[0]
    assert "data" in json.loads(redacted.read_text())


def test_elasticsearch_documents_roundtrip(tmp_path: Path) -> None:
    """Elasticsearch hits and plain _source documents keep their [{uuid, value}] replacements on restore."""
    hits = ndjson(EXPORT_ES)
    redacted, _, restored = roundtrip(tmp_path, EXPORT_ES)
    assert ndjson(restored) == hits
    text = redacted.read_text()
    for hit in hits:
        for item in hit["_source"]["replacements"]:
            assert item["value"] not in text
    sources = tmp_path / "sources"
    sources.mkdir()
    plain = sources / "sources.ndjson"
    plain.write_text("".join(json.dumps(h["_source"]) + "\n" for h in hits))
    _, _, restored = roundtrip(sources, plain)
    assert ndjson(restored) == [h["_source"] for h in hits]


def test_gzip_in_and_out(tmp_path: Path) -> None:
    """A .gz input is read compressed and a .gz output written compressed; the round trip is exact."""
    source = tmp_path / "export.ndjson.gz"
    source.write_bytes(gzip.compress(EXPORT.read_bytes()))
    redacted, _, restored = roundtrip(tmp_path, source)
    assert redacted.read_bytes()[:2] == b"\x1f\x8b"
    assert [json.loads(x) for x in gzip.decompress(restored.read_bytes()).splitlines()] == conversations()


def test_stdin_and_stdout(tmp_path: Path) -> None:
    """'-' reads stdin and writes stdout for redact and restore."""
    replacements = tmp_path / "r.ndjson"
    done = run("redact", "-", "--replacements-out", replacements, stdin=EXPORT.read_bytes())
    assert done.returncode == 0
    back = run("restore", "-", "--replacements", replacements, stdin=done.stdout)
    assert back.returncode == 0
    assert [json.loads(x) for x in back.stdout.splitlines()] == conversations()


def test_audit_finds_a_planted_leak_and_names_the_token_not_the_original(tmp_path: Path) -> None:
    """A leaked original is found with line number and path; the finding shows the token; exit code 3."""
    redacted, replacements, _ = roundtrip(tmp_path, EXPORT)
    records = ndjson(redacted)
    entry = ndjson(replacements)[3]
    token, original = next(iter(entry["replacements"].items()))
    records[2]["messages"][0]["content"] += f" see {original} now"
    records[2]["title"] += " 0badc0de-0000-4000-8000-000000000000"
    leaked = tmp_path / "leaked.ndjson"
    leaked.write_text("".join(json.dumps(r) + "\n" for r in records))
    done = run("audit", leaked, "--replacements", replacements)
    out = done.stdout.decode()
    assert done.returncode == 3
    assert f"leaked.ndjson:3: $.messages[0].content: original of token {token}" in out
    assert "$.title: token 0badc0de-0000-4000-8000-000000000000 does not resolve" in out
    assert original not in out + done.stderr.decode()


def test_broken_lines_are_rejected_and_the_rest_kept(tmp_path: Path) -> None:
    """Every good record is redacted; exactly the broken lines are rejected, with their numbers; exit code 1."""
    lines = EXPORT.read_text().splitlines()
    lines.insert(3, '{"id": "x", "title": "cut off')  # line 4: not JSON
    lines.insert(7, json.dumps({"id": "y", "messages": [{"content": "no role"}]}))  # line 8: invalid
    lines.insert(10, "")  # line 11: blank, skipped
    source = tmp_path / "broken.ndjson"
    source.write_text("\n".join(lines) + "\n")
    rejects = tmp_path / "rejects.ndjson"
    out = tmp_path / "out.ndjson"
    done = run("redact", source, "-o", out, "--replacements-out", tmp_path / "r.ndjson", "--reject-file", rejects)
    assert done.returncode == 1
    assert len(ndjson(out)) == 20
    found = ndjson(rejects)
    assert [r["line"] for r in found] == [4, 8]
    assert "messages[0].role" in found[1]["reason"]
    assert "cut off" not in rejects.read_text()
    assert "2 rejects" in done.stderr.decode()


def test_workers_give_the_same_output_with_keyed_tokens(tmp_path: Path) -> None:
    """--workers 2 writes byte-identical output and replacements to --workers 1 (keyed tokens, many batches)."""
    source = tmp_path / "big.ndjson"
    base = EXPORT.read_text()
    source.write_text(base * 15)
    key = tmp_path / "token.key"
    key.write_bytes(os.urandom(32))
    outs = []
    for workers in ("1", "2"):
        out, repl = tmp_path / f"out{workers}.ndjson", tmp_path / f"repl{workers}.ndjson"
        common = ("--tokens", "keyed", "--key-file", key, "--fields", "users.name", "--workers", workers)
        done = run("redact", source, "-o", out, "--replacements-out", repl, *common)
        assert done.returncode == 0, done.stderr.decode()
        outs.append((out.read_bytes(), repl.read_bytes()))
    assert outs[0] == outs[1]
    assert b'"elastic"' not in outs[0][0]


def test_encrypted_replacements_roundtrip_and_wrong_key_fails(tmp_path: Path) -> None:
    """An encrypted replacements file holds no original, restores with its key, and fails clearly with another."""
    key = tmp_path / "repl.key"
    key.write_bytes(os.urandom(32))
    redacted, replacements, restored = roundtrip(tmp_path, EXPORT, "--encrypt-key-file", str(key))
    assert ndjson(restored) == conversations()
    text = replacements.read_text()
    assert "AES-256-GCM" in text.splitlines()[0]
    for original in originals_of(conversations()):
        assert original not in text
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    out = tmp_path / "again.ndjson"
    done = run("restore", redacted, "-o", out, "--replacements", replacements, "--decrypt-key-file", wrong)
    assert done.returncode == 4
    assert b"wrong key" in done.stderr
    assert not out.exists()
    done = run("restore", redacted, "-o", out, "--replacements", replacements)
    assert done.returncode == 2 and b"encrypted" in done.stderr


def test_failing_run_leaves_no_output_file(tmp_path: Path) -> None:
    """A run that fails (a conversation with no replacements entry) leaves neither the output nor a temporary file."""
    redacted, replacements, _ = roundtrip(tmp_path, EXPORT)
    truncated = tmp_path / "truncated.ndjson"
    truncated.write_text("\n".join(replacements.read_text().splitlines()[:5]) + "\n")
    target = tmp_path / "sub"
    target.mkdir()
    done = run("restore", redacted, "-o", target / "restored.ndjson", "--replacements", truncated)
    assert done.returncode == 4
    assert b"has no entry in the replacements" in done.stderr
    assert list(target.iterdir()) == []


def test_restore_pairs_conversations_by_id_not_position(tmp_path: Path) -> None:
    """A redacted file in another order than its replacements (a shuffle) restores exactly, matched by id."""
    redacted, replacements, _ = roundtrip(tmp_path, EXPORT)
    shuffled = tmp_path / "shuffled.ndjson"
    shuffled.write_text("\n".join(reversed(redacted.read_text().splitlines())) + "\n")
    restored = tmp_path / "restored-shuffled.ndjson"
    done = run("restore", shuffled, "-o", restored, "--replacements", replacements)
    assert done.returncode == 0, done.stderr.decode()
    assert ndjson(restored) == list(reversed(conversations()))
    assert run("audit", shuffled, "--replacements", replacements).returncode == 0


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    """Missing --replacements-out, keyed tokens without a key, and a bad policy file exit with 2."""
    assert run("redact", EXPORT).returncode == 2
    assert run("redact", EXPORT, "--no-replacements", "--tokens", "keyed").returncode == 2
    policy = tmp_path / "policy.json"
    policy.write_text('{"nope": 1}')
    done = run("redact", EXPORT, "--no-replacements", "--policy", policy, "-o", tmp_path / "o.ndjson")
    assert done.returncode == 2 and b"policy" in done.stderr
    assert not (tmp_path / "o.ndjson").exists()


def test_policy_fields_are_tokenized_and_restored(tmp_path: Path) -> None:
    """A policy (anonymization-fields _find response) naming a record field turns it into a token; restore is exact."""
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"page": 1, "perPage": 1, "total": 1, "data": [
        {"field": "apiConfig.model", "allowed": True, "anonymized": True},
    ]}))  # fmt: skip
    redacted, _, restored = roundtrip(tmp_path, EXPORT, "--policy", str(policy), "--tokens", "placeholder")
    assert untag(ndjson(redacted)[0]["apiConfig"]["model"]) == "<APICONFIG_MODEL_1>"
    assert ndjson(restored) == conversations()


@pytest.mark.parametrize("kind", ["empty", "blank"])
def test_empty_input(tmp_path: Path, kind: str) -> None:
    """An empty input gives an empty output and exit code 0."""
    source = tmp_path / "empty.ndjson"
    source.write_text("" if kind == "empty" else "\n  \n")
    out = tmp_path / "out.ndjson"
    done = run("redact", source, "-o", out, "--no-replacements")
    assert done.returncode == 0 and out.read_text() == ""


def test_broken_array_keeps_the_elements_before_the_break(tmp_path: Path) -> None:
    """An array broken in its third element keeps the first two and rejects the rest with the line; exit code 1."""
    elements = [json.dumps(c) for c in conversations()[:4]]
    elements[2] = elements[2].replace('"id":', '"id"', 1)
    source = tmp_path / "broken.json"
    source.write_text("[\n" + ",\n".join(elements) + "\n]\n")
    out, rejects = tmp_path / "out.json", tmp_path / "rejects.ndjson"
    done = run("redact", source, "-o", out, "--no-replacements", "--reject-file", rejects)
    assert done.returncode == 1
    assert len(json.loads(out.read_text())) == 2
    assert [r["line"] for r in ndjson(rejects)] == [4]


def test_replacements_file_is_private_and_output_is_not(tmp_path: Path) -> None:
    """The replacements file is readable by its owner only; the redacted export gets the usual mode."""
    redacted, replacements, _ = roundtrip(tmp_path, EXPORT)
    assert replacements.stat().st_mode & 0o077 == 0
    umask = os.umask(0)
    os.umask(umask)
    assert redacted.stat().st_mode & 0o777 == 0o666 & ~umask
