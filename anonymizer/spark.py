"""Redaction of conversation exports on Apache Spark: :mod:`anonymizer.batch` run by ``mapInArrow``.

Needs the ``spark`` extra (``pyspark`` 4 and ``pyarrow``) and a Java runtime. Every executor needs this package
installed, and the key where :class:`~anonymizer.batch.BatchConfig` says it is (a file readable on every node,
or an environment variable set on every executor: ``spark.executorEnv.<NAME>``).

Reading an NDJSON export and writing shards that ``anonymizer restore`` and ``anonymizer audit`` take::

    config = BatchConfig(tokens="keyed", key_env="ANONYMIZER_KEY")
    lines = spark.read.text("exports/*.ndjson")              # one record per line, column "value"
    anonymizer.spark.write_shards(lines, "/shared/redacted", config)

``write_shards`` writes ``redacted/part-NNNNN.ndjson``, ``replacements/part-NNNNN.ndjson`` and
``rejects/part-NNNNN.ndjson`` under the folder (a file system every executor can write to), each pair in one pass,
so no partition is ever computed twice for two outputs. Then::

    anonymizer restore /shared/redacted -o restored.ndjson --replacements /shared/replacements
    anonymizer audit /shared/redacted --replacements /shared/replacements

:func:`redact` gives a DataFrame instead (columns ``redacted``, ``replacements``, ``reject``) for pipelines that
go on in Spark. If you write two outputs from it, ``cache()`` it or use keyed tokens (the default): a
recomputed partition then writes the same tokens again.

Both do two passes over the input: :func:`collect_originals` gathers every original named by any conversation's
replacements, which are broadcast to the executors, so every original of the export is hidden in every record.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._export.originals import originals_of_record
from .batch import (
    BatchConfig,
    ExportOriginals,
    ShardSummary,
    redact_arrow,
    reject_arrow_type,
    shard_paths,
    write_shard,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["collect_originals", "redact", "write_shards"]


def collect_originals(df: DataFrame, column: str = "value") -> ExportOriginals:
    """Every original named by the replacements of any record of ``df[column]`` (NDJSON records), on the driver."""
    import pyarrow as pa

    def originals(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            found: set[str] = set()
            for raw in batch.column(0).to_pylist():
                if raw:
                    found.update(originals_of_record(raw))
            yield pa.RecordBatch.from_pydict({"original": sorted(found)}, schema=pa.schema([("original", pa.string())]))

    rows = df.select(column).mapInArrow(originals, "original string").distinct().collect()
    return ExportOriginals(row[0] for row in rows)


def redact(
    df: DataFrame, config: BatchConfig, column: str = "value", *, originals: ExportOriginals | None = None
) -> DataFrame:
    """``df`` with ``column`` (NDJSON records) replaced by ``redacted``, ``replacements`` and ``reject`` columns.

    ``replacements`` holds the replacements-file line of each conversation of the record; ``reject`` is
    ``struct<line, reason>`` for a record that could not be read or validated (``line`` counts rows within the
    Arrow batch; keep a column such as ``input_file_name()`` to find it). ``originals`` defaults to
    :func:`collect_originals` of ``df``. Other columns are kept as they are.
    """
    from pyspark.sql.pandas.types import from_arrow_type
    from pyspark.sql.types import StringType, StructField, StructType

    config.check_distributed()  # a bad key or policy fails here, on the driver, with its own message
    export = originals if originals is not None else collect_originals(df, column)
    shared = df.sparkSession.sparkContext.broadcast(export)
    kept = [field for field in df.schema.fields if field.name != column]
    schema = StructType(
        [
            *kept,
            StructField("redacted", StringType()),
            StructField("replacements", StringType()),
            StructField("reject", from_arrow_type(reject_arrow_type())),
        ]
    )

    def run(batches: Iterable[Any]) -> Iterator[Any]:
        known = shared.value
        for batch in batches:
            yield redact_arrow(batch, config, column=column, originals=known)

    return df.mapInArrow(run, schema)


def write_shards(
    df: DataFrame,
    path: str | os.PathLike[str],
    config: BatchConfig,
    column: str = "value",
    *,
    originals: ExportOriginals | None = None,
    encrypt_key_file: str | os.PathLike[str] | None = None,
) -> ShardSummary:
    """Redact ``df[column]`` into one shard pair per partition under ``path``; returns the totals.

    ``path`` must be a folder every executor can write to (a local folder with ``local[N]``, a shared mount on a
    cluster). Each partition's files are written atomically (replacements first). Rejects go to
    ``rejects/part-NNNNN.ndjson``.
    """
    config.check_distributed()
    export = originals if originals is not None else collect_originals(df, column)
    shared = df.sparkSession.sparkContext.broadcast(export)
    root = os.fspath(path)
    encrypt = os.fspath(encrypt_key_file) if encrypt_key_file is not None else None

    def shard(index: int, rows: Iterable[Any]) -> Iterator[tuple[int, ...]]:
        redacted, replacements, rejects = shard_paths(root, index)
        lines = (row[0] or "" for row in rows)
        yield tuple(write_shard(lines, redacted, replacements, config, originals=shared.value, reject_path=rejects,
                                encrypt_key_file=encrypt))  # fmt: skip

    totals = df.select(column).rdd.mapPartitionsWithIndex(shard).collect()
    return ShardSummary(*(sum(t[i] for t in totals) for i in range(4)))
