"""`anonymizer.batch`: the picklable config and per-process engine, record redaction in lines, Arrow and pandas
form, and shards that the CLI restores and audits."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import batch
from anonymizer.batch import BatchConfig, collect_originals, redact_lines, write_shard
from anonymizer.errors import ConfigError
from tests.cli.test_cli import EXPORT, conversations, ndjson, run

KEY = b"k3y-bytes-that-must-never-travel-" + os.urandom(8).hex().encode()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    """A key file holding KEY."""
    path = tmp_path / "token.key"
    path.write_bytes(KEY)
    return path


def test_no_pickle_of_a_config_or_engine_holds_the_key(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Configs (key in a file or in the environment) and built engines pickle without the key bytes."""
    monkeypatch.setenv("BATCH_TEST_KEY", KEY.decode())
    for config in (BatchConfig(key_file=key_file), BatchConfig(key_env="BATCH_TEST_KEY", fields=["users.name"])):
        engine = config.engine()
        assert engine.anonymizer.tokens.name == "keyed"  # the engine has the key in memory...
        for obj in (config, engine, [config, engine]):
            for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
                data = pickle.dumps(obj, protocol=protocol)
                assert KEY not in data and KEY.hex().encode() not in data  # ...its pickle does not
        assert pickle.loads(pickle.dumps(config)) == config
        assert pickle.loads(pickle.dumps(engine)) is engine  # this process's engine, built once
        assert KEY.decode() not in repr(config) + repr(engine)


def test_random_tokens_are_refused_unless_opted_in() -> None:
    """tokens='uuid' raises ConfigError explaining the recomputation risk; allow_random_tokens=True accepts it."""
    with pytest.raises(ConfigError, match="computes a partition twice") as info:
        BatchConfig(tokens="uuid")
    assert "allow_random_tokens=True" in str(info.value)
    assert BatchConfig(tokens="uuid", allow_random_tokens=True).tokens == "uuid"


def test_bad_configs_say_what_is_wrong(tmp_path: Path) -> None:
    """A keyed config without a key, two keys, a short key, a missing variable, an unknown strategy: ConfigError."""
    with pytest.raises(ConfigError, match="key_file"):
        BatchConfig()
    with pytest.raises(ConfigError, match="not both"):
        BatchConfig(key_file="a", key_env="B")
    with pytest.raises(ConfigError, match="unknown token strategy"):
        BatchConfig(tokens="nope")
    short = tmp_path / "short.key"
    short.write_bytes(b"short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        BatchConfig(key_file=short).engine()
    with pytest.raises(ConfigError, match="NO_SUCH_VARIABLE_XYZ"):
        BatchConfig(key_env="NO_SUCH_VARIABLE_XYZ").engine()


def test_redact_lines_equals_the_cli(tmp_path: Path, key_file: Path) -> None:
    """redact_lines with the export's originals gives the CLI's redacted lines and replacements entries."""
    out, repl = tmp_path / "out.ndjson", tmp_path / "repl.ndjson"
    done = run("redact", EXPORT, "-o", out, "--replacements-out", repl, "--tokens", "keyed", "--key-file", key_file)
    assert done.returncode == 0, done.stderr.decode()
    lines = EXPORT.read_text().splitlines()
    config = BatchConfig(key_file=key_file)
    results = list(redact_lines(lines, config, originals=collect_originals(lines)))
    assert [r.line for r in results] == out.read_text().splitlines()
    assert [r.replacements for r in results] == repl.read_text().splitlines()[1:]
    assert all(r.reject is None for r in results)


def test_rejects_name_the_line_never_the_content(key_file: Path) -> None:
    """A broken line and an invalid conversation come back as rejects with their line numbers; others go on."""
    lines = ['{"id": "x", "title": "secret-value"', '{"id": "y", "title": 5}', EXPORT.read_text().splitlines()[0]]
    results = list(redact_lines(lines, BatchConfig(key_file=key_file), first_line=10))
    assert [r.reject["line"] if r.reject else None for r in results] == [10, 11, None]
    assert all("secret-value" not in json.dumps(r.reject) for r in results)
    assert results[2].line is not None


def test_arrow_and_pandas_forms_return_the_type_given(key_file: Path) -> None:
    """redact_arrow on a RecordBatch and a Table, redact_pandas on a DataFrame: same type back, same lines."""
    pa = pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    lines = EXPORT.read_text().splitlines()
    config = BatchConfig(key_file=key_file)
    export = collect_originals(lines)
    expected = [r.line for r in redact_lines(lines, config, originals=export)]
    table = pa.table({"value": lines, "source": ["export"] * len(lines)})
    for data in (table, table.to_batches()[0]):
        done = batch.redact_arrow(data, config, originals=export)
        assert type(done) is type(data)
        assert done.column("redacted").to_pylist() == expected
        assert done.schema.names == ["source", "redacted", "replacements", "reject"]
    frame = batch.redact_pandas(pd.DataFrame({"value": lines}), config, originals=export)
    assert isinstance(frame, pd.DataFrame)
    assert frame["redacted"].tolist() == expected
    assert "value" not in frame.columns


def test_shards_restore_and_audit_as_a_folder(tmp_path: Path, key_file: Path) -> None:
    """Shards written by write_shard (named so that text order differs from number order) restore to the export
    and pass audit as folders; a redacted shard without its replacements fails restore with exit 4."""
    lines = EXPORT.read_text().splitlines()
    config = BatchConfig(key_file=key_file)
    export = collect_originals(lines)
    (tmp_path / "red").mkdir()
    (tmp_path / "rep").mkdir()
    for i, start in enumerate(range(0, len(lines), 2)):
        name = f"part-{i}.ndjson"  # part-10 sorts before part-2 as text
        summary = write_shard(
            lines[start : start + 2], tmp_path / "red" / name, tmp_path / "rep" / name, config, originals=export
        )
        assert summary.records == len(lines[start : start + 2]) and summary.rejects == 0
    back = tmp_path / "back.ndjson"
    done = run("restore", tmp_path / "red", "-o", back, "--replacements", tmp_path / "rep")
    assert done.returncode == 0, done.stderr.decode()
    assert ndjson(back) == conversations()
    assert run("audit", tmp_path / "red", "--replacements", tmp_path / "rep").returncode == 0
    (tmp_path / "rep" / "part-3.ndjson").unlink()
    assert run("restore", tmp_path / "red", "-o", back, "--replacements", tmp_path / "rep").returncode == 4


def _records() -> st.SearchStrategy[list[dict[str, Any]]]:
    names = st.sampled_from(["lchen", "jdoe", "srv-01.corp", "10.1.2.3", "mallory"])
    conv = st.builds(
        lambda i, known, said: {
            "id": f"c{i}",
            "title": "t",
            "messages": [{"role": "user", "content": " and ".join(said) or "nothing"}],
            "replacements": {f"00000000-0000-4000-8000-{i:06d}{j:06d}": o for j, o in enumerate(known)},
        },
        st.integers(0, 10**5),
        st.lists(names, max_size=2, unique=True),
        st.lists(names, max_size=3),
    )
    return st.lists(conv, min_size=1, max_size=5, unique_by=lambda c: c["id"])


@settings(max_examples=40)
@given(_records())
def test_no_original_of_the_export_survives_in_any_record(records: list[dict[str, Any]]) -> None:
    """Whatever conversation names an original, no redacted record of the export holds it (export-wide hiding)."""
    config = BatchConfig(tokens="placeholder")
    lines = [json.dumps(r) for r in records]
    originals = {o for r in records for o in r["replacements"].values()}
    for result in redact_lines(lines, config, originals=collect_originals(lines)):
        assert result.line is not None
        for original in originals:
            assert original not in result.line
