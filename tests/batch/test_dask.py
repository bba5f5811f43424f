"""`anonymizer.dask` on a real `LocalCluster` with two worker processes: output equal to the CLI's for a bag and a
DataFrame, shards that the CLI restores and audits. One cluster for the module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anonymizer.batch import BatchConfig
from benchmarks.batch_export import by_conversation, export_lines
from tests.cli.test_cli import run
from tests.cli_redaction import cli_redaction

pytestmark = pytest.mark.dask

RECORDS = 240


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A Dask client on a real local cluster of two single-threaded worker processes."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",  # any free port: runs side by side
    )
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated export, a key, and the CLI's redaction of it with keyed tokens."""
    return cli_redaction(tmp_path_factory.mktemp("dask-export"), RECORDS)


def _want(export: dict[str, Path]) -> dict[str, tuple[Any, Any]]:
    return by_conversation(export["out"].read_text().splitlines(), export["repl"].read_text().splitlines())


def test_dask_bag_and_dataframe_equal_the_cli(client: Any, export: dict[str, Path]) -> None:
    """dask.redact over a bag of lines and over a DataFrame column gives the CLI's records and replacements."""
    import dask.bag
    import dask.dataframe
    import pandas

    from anonymizer import dask as anonymizer_dask

    config = BatchConfig(key_file=export["key"])
    lines = dask.bag.read_text(str(export["source"]), blocksize=64 * 1024)
    assert lines.npartitions > 1
    done = anonymizer_dask.redact(lines, config).compute()
    assert all(d.reject is None for d in done)
    entries = [e for d in done for e in (d.replacements or "").split("\n")]
    assert by_conversation([d.line for d in done], entries) == _want(export)

    frame = dask.dataframe.from_pandas(pandas.DataFrame({"value": export_lines(RECORDS)}), npartitions=3)
    out = anonymizer_dask.redact(frame, config).compute()
    assert list(out.columns) == ["redacted", "replacements", "reject"]
    entries = [e for r in out["replacements"] for e in (r or "").split("\n")]
    assert by_conversation(out["redacted"].tolist(), entries) == _want(export)


def test_dask_shards_restore_and_audit_with_the_cli(client: Any, export: dict[str, Path]) -> None:
    """write_shards writes one pair per partition; the CLI restores the folders to the export and audits them clean."""
    import dask.bag

    from anonymizer import dask as anonymizer_dask

    folder = export["folder"] / "shards"
    lines = dask.bag.read_text(str(export["source"]), blocksize=8 * 1024)  # over ten parts: part-10 after part-9
    assert lines.npartitions > 10
    summary = anonymizer_dask.write_shards(lines, folder, BatchConfig(key_file=export["key"]))
    assert summary.records == RECORDS and summary.rejects == 0
    assert len(list((folder / "redacted").iterdir())) == lines.npartitions
    back = export["folder"] / "restored.ndjson"
    done = run("restore", folder / "redacted", "-o", back, "--replacements", folder / "replacements")
    assert done.returncode == 0, done.stderr.decode()
    restored = [json.loads(line) for line in back.read_text().splitlines()]
    assert restored == [json.loads(line) for line in export_lines(RECORDS)]  # natural order: part-2 before part-10
    assert run("audit", folder / "redacted", "--replacements", folder / "replacements").returncode == 0
