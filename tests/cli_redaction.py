"""Test helper: the generated export (benchmarks/batch_export.py) redacted by the CLI, the reference the
distributed redactions (Spark, Dask) are compared with."""

from __future__ import annotations

import os
from pathlib import Path

from benchmarks.batch_export import export_lines

__all__ = ["cli_redaction"]


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
