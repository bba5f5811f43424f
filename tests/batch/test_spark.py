"""`anonymizer.spark` on a real local Spark session (`local[2]`): output equal to the CLI's, shards that the CLI
restores and audits. One session for the module (starting one takes seconds)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anonymizer.batch import BatchConfig
from benchmarks.batch_export import by_conversation, export_lines
from tests.cli.test_cli import run
from tests.cli_redaction import cli_redaction

pytestmark = pytest.mark.spark

RECORDS = 240


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """One real local Spark session with two cores; its Python workers run this interpreter."""
    if shutil.which("java") is None:
        pytest.skip("no Java runtime (CI installs default-jre-headless)")
    pyspark_sql = pytest.importorskip("pyspark.sql")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        pyspark_sql.SparkSession.builder.master("local[2]")
        .appName("anonymizer-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated export, a key, and the CLI's redaction of it with keyed tokens."""
    return cli_redaction(tmp_path_factory.mktemp("spark-export"), RECORDS)


def test_spark_redact_equals_the_cli(spark: Any, export: dict[str, Path]) -> None:
    """spark.redact over shuffled partitions gives the CLI's redacted records and replacements, per conversation."""
    from anonymizer import spark as anonymizer_spark

    df = spark.read.text(str(export["source"])).repartition(3)
    rows = anonymizer_spark.redact(df, BatchConfig(key_file=export["key"])).collect()
    assert all(row["reject"] is None for row in rows)
    assert sorted(rows[0].asDict()) == ["redacted", "reject", "replacements"]
    entries = [line for row in rows for line in (row["replacements"] or "").split("\n")]
    got = by_conversation([row["redacted"] for row in rows], entries)
    want = by_conversation(export["out"].read_text().splitlines(), export["repl"].read_text().splitlines())
    assert len(got) == RECORDS
    assert got == want
    originals = {o for e in export["repl"].read_text().splitlines()[1:] for o in json.loads(e)["replacements"].values()}
    text = "\n".join(row["redacted"] for row in rows)
    assert not [o for o in originals if f'"{o}' in text or f" {o}" in text]


def test_spark_shards_restore_and_audit_with_the_cli(spark: Any, export: dict[str, Path]) -> None:
    """write_shards writes one pair per partition; the CLI restores the folders to the export and audits them clean."""
    from anonymizer import spark as anonymizer_spark

    folder = export["folder"] / "shards"
    df = spark.read.text(str(export["source"])).repartition(3)
    summary = anonymizer_spark.write_shards(df, folder, BatchConfig(key_file=export["key"]))
    assert summary.records == RECORDS and summary.rejects == 0
    assert len(list((folder / "redacted").iterdir())) == 3
    back = export["folder"] / "restored.ndjson"
    done = run("restore", folder / "redacted", "-o", back, "--replacements", folder / "replacements")
    assert done.returncode == 0, done.stderr.decode()
    restored = sorted(json.dumps(json.loads(line), sort_keys=True) for line in back.read_text().splitlines())
    original = sorted(json.dumps(json.loads(line), sort_keys=True) for line in export_lines(RECORDS))
    assert restored == original
    assert run("audit", folder / "redacted", "--replacements", folder / "replacements").returncode == 0
