"""The CLI under misuse and attack: same-file outputs, commit order, signals, stale temporary files, damaged
replacements headers, messages and exit codes, and originals that one conversation knows and another mentions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import _SCRIPT, EXPORT, conversations, ndjson, run


def _conversation(ident: str, content: str, replacements: dict[str, str]) -> dict[str, Any]:
    return {
        "id": ident,
        "title": "t",
        "messages": [{"role": "user", "content": content}],
        "replacements": replacements,
    }


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


A = _conversation("conv-a", "Why is 0b5c1e8e-6a0e-4d8e-9f5c-3b2a1c0d9e8f locked?", {
    "0b5c1e8e-6a0e-4d8e-9f5c-3b2a1c0d9e8f": "lchen"})  # fmt: skip
B = _conversation("conv-b", "lchen asked again from lchen-laptop", {})


def test_an_original_known_in_one_conversation_is_hidden_in_every_other(tmp_path: Path) -> None:
    """`lchen` named only by conversation A's map is hidden in conversation B too, and restore gives B back."""
    source = _write(tmp_path / "export.ndjson", [A, B])
    out, repl, back = tmp_path / "out.ndjson", tmp_path / "repl.ndjson", tmp_path / "back.ndjson"
    assert run("redact", source, "-o", out, "--replacements-out", repl).returncode == 0
    assert b"lchen" not in out.read_bytes()
    assert run("audit", out, "--replacements", repl).returncode == 0
    assert run("restore", out, "-o", back, "--replacements", repl).returncode == 0
    assert ndjson(back) == [A, B]


def test_audit_finds_an_original_of_another_conversation_in_a_file_redacted_record_by_record(tmp_path: Path) -> None:
    """Audit checks every record against every original of the export: B redacted on its own keeps `lchen` in clear,
    and audit reports it (naming A's token, never the original) with exit 3."""
    outs, repls = [], []
    for name, record in (("a", A), ("b", B)):
        out, repl = tmp_path / f"{name}.out", tmp_path / f"{name}.repl"
        assert run("redact", _write(tmp_path / f"{name}.ndjson", [record]), "-o", out, "--replacements-out", repl)
        outs.append(out.read_text())
        repls.append(repl.read_text().splitlines())
    joined, joined_repl = tmp_path / "joined.ndjson", tmp_path / "joined.repl"
    joined.write_text("".join(outs))
    joined_repl.write_text("\n".join([repls[0][0], *repls[0][1:], *repls[1][1:]]) + "\n")
    assert b"lchen" in joined.read_bytes()
    done = run("audit", joined, "--replacements", joined_repl)
    assert done.returncode == 3, done.stderr.decode()
    report = done.stdout.decode()
    assert "joined.ndjson:2: $.messages[0].content: original of token 0b5c1e8e-" in report
    assert "another conversation" in report
    assert "lchen" not in report


def test_refuses_outputs_that_are_the_same_file(tmp_path: Path) -> None:
    """`-o X --replacements-out X` and `-o IN` exit 2 and leave every file as it was."""
    source = tmp_path / "export.ndjson"
    source.write_bytes(EXPORT.read_bytes())
    same = tmp_path / "same.out"
    done = run("redact", source, "-o", same, "--replacements-out", same)
    assert done.returncode == 2 and b"same file" in done.stderr
    assert not same.exists()
    done = run("redact", source, "-o", source, "--replacements-out", tmp_path / "r.ndjson")
    assert done.returncode == 2
    assert source.read_bytes() == EXPORT.read_bytes()
    (tmp_path / "x").mkdir()
    same_by_another_name = tmp_path / "x" / ".." / "export.ndjson"
    done = run("redact", source, "-o", tmp_path / "o.ndjson", "--replacements-out", same_by_another_name)
    assert done.returncode == 2
    assert source.read_bytes() == EXPORT.read_bytes()


def test_replacements_that_cannot_be_committed_leave_no_redacted_output(tmp_path: Path) -> None:
    """When the replacements file cannot be moved into place, no redacted export appears (it would be unrecoverable)."""
    blocker = tmp_path / "repl"
    blocker.mkdir()  # a folder where the replacements file should go: the final rename fails
    out = tmp_path / "out.ndjson"
    done = run("redact", EXPORT, "-o", out, "--replacements-out", blocker)
    assert done.returncode == 4
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["repl"]


def test_an_output_that_cannot_be_committed_takes_its_replacements_back(tmp_path: Path) -> None:
    """When the redacted export cannot be moved into place, the replacements file just written is removed too."""
    blocker = tmp_path / "out"
    blocker.mkdir()
    repl = tmp_path / "repl.ndjson"
    done = run("redact", EXPORT, "-o", blocker, "--replacements-out", repl)
    assert done.returncode == 4
    assert not repl.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_sigterm_exits_143_and_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGTERM in the middle of a run is handled like Ctrl-C: exit 143, no output, no hidden .partial file."""
    source = tmp_path / "big.ndjson"
    source.write_text(EXPORT.read_text() * 2000)  # 40,000 records: far longer than it takes to see it start
    folder = tmp_path / "outs"
    folder.mkdir()
    with subprocess.Popen(
        [_SCRIPT, "redact", str(source), "-o", str(folder / "out.ndjson"), "--replacements-out",
         str(folder / "repl.ndjson")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as proc:  # fmt: skip
        try:
            while not any(p.name.endswith(".partial") for p in folder.iterdir()):  # wait until it writes
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                time.sleep(0.05)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=120) == 143
        finally:
            proc.kill()
            proc.wait()
    assert list(folder.iterdir()) == []


def test_stale_partial_files_of_the_same_target_are_swept(tmp_path: Path) -> None:
    """Temporary files left by a killed run (dead process id, or none) are removed; a live run's file is kept."""
    dead = tmp_path / ".out.ndjson.999999999.abc_12.partial"
    old_style = tmp_path / ".out.ndjson.k3j_x9q.partial"
    live = tmp_path / f".out.ndjson.{os.getpid()}.zz9.partial"
    other = tmp_path / ".other.ndjson.999999999.abc.partial"
    for p in (dead, old_style, live, other):
        p.write_text("originals")
    done = run("redact", EXPORT, "-o", tmp_path / "out.ndjson", "--no-replacements")
    assert done.returncode == 0, done.stderr.decode()
    assert not dead.exists() and not old_style.exists()
    assert live.exists() and other.exists()


def test_a_damaged_encrypted_header_exits_4_with_a_message(tmp_path: Path) -> None:
    """A tampered salt or key check in an encrypted replacements header: exit 4 and a clear message, no traceback."""
    key = tmp_path / "repl.key"
    key.write_bytes(os.urandom(32))
    out, repl = tmp_path / "out.ndjson", tmp_path / "repl.ndjson"
    assert run("redact", EXPORT, "-o", out, "--replacements-out", repl, "--encrypt-key-file", key).returncode == 0
    lines = repl.read_text().splitlines()
    for field, value in (("salt", "!!not base64!!"), ("check", "AAAA"), ("salt", None)):
        header = json.loads(lines[0])
        header[field] = value
        repl.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
        done = run("restore", out, "-o", tmp_path / "back.ndjson", "--replacements", repl, "--decrypt-key-file", key)
        assert done.returncode == 4, done.stderr.decode()
        assert b"Traceback" not in done.stderr
        assert b"header" in done.stderr


def test_help_and_messages_say_what_the_command_takes(tmp_path: Path) -> None:
    """audit --help lists no --reject-file exit code; --workers abc says what to type."""
    audit_help = run("audit", "--help").stdout.decode()
    assert "--reject-file" not in audit_help and "143" in audit_help
    done = run("redact", EXPORT, "--no-replacements", "--workers", "abc")
    assert done.returncode == 2
    assert b"expected a whole number of 1 or more, got 'abc'" in done.stderr and b"_positive" not in done.stderr


def test_an_unknown_detect_model_is_named_with_the_option_to_use() -> None:
    """--detect-model nosuchmodel exits 2 and suggests --detect-model none (not the Python API's model=None)."""
    pytest.importorskip("spacy")
    done = run("redact", EXPORT, "--no-replacements", "--detect", "--detect-model", "nosuchmodel")
    assert done.returncode == 2
    assert b"--detect-model none" in done.stderr and b"model=None" not in done.stderr


def test_a_one_line_record_is_reported_at_its_own_line(tmp_path: Path) -> None:
    """A cut NDJSON record on line 1 is rejected as line 1, and the reason does not speak of a 'line 2'."""
    source = tmp_path / "cut.ndjson"
    source.write_text('{"id": "a", "title": "x"\n')
    rejects = tmp_path / "rejects.ndjson"
    done = run("redact", source, "-o", tmp_path / "o.ndjson", "--no-replacements", "--reject-file", rejects)
    assert done.returncode == 1
    [reject] = ndjson(rejects)
    assert reject["line"] == 1 and "line 2" not in reject["reason"]


def test_input_from_a_pipe_is_read_twice_safely(tmp_path: Path) -> None:
    """stdin (read once by the originals pass, then redacted) gives the same output as the file."""
    out, repl = tmp_path / "o.ndjson", tmp_path / "r.ndjson"
    done = run("redact", "-", "-o", out, "--replacements-out", repl, stdin=EXPORT.read_bytes())
    assert done.returncode == 0, done.stderr.decode()
    back = tmp_path / "back.ndjson"
    assert run("restore", out, "-o", back, "--replacements", repl).returncode == 0
    assert ndjson(back) == conversations()
