"""Redaction of conversation exports on Dask: :mod:`anonymizer.batch` over a ``dask.bag`` or ``dask.dataframe``.

Needs the ``dask`` extra (``dask[dataframe,distributed]``, ``pyarrow``, ``pandas``). Every worker needs this package
installed, and the key where :class:`~anonymizer.batch.BatchConfig` says it is (a file every worker can read, or
an environment variable set for every worker).

Reading an NDJSON export and writing shards that ``anonymizer restore`` and ``anonymizer audit`` take::

    config = BatchConfig(tokens="keyed", key_env="ANONYMIZER_KEY")
    lines = dask.bag.read_text("exports/*.ndjson", blocksize="64MiB")
    anonymizer.dask.write_shards(lines, "/shared/redacted", config)

The folder then holds ``redacted/``, ``replacements/`` and ``rejects/`` with one ``part-NNNNN.ndjson`` per
partition, each pair written in one pass. :func:`redact` gives a bag of :class:`~anonymizer.batch.Redacted` (or,
for a DataFrame, the ``redacted``, ``replacements`` and ``reject`` columns) for pipelines that go on in Dask.

Both do two passes over the input: :func:`collect_originals` gathers every original named by any conversation's
replacements; they are sent to each worker once, so every original of the export is hidden in every record.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._export.originals import originals_of_record
from .batch import (
    BatchConfig,
    ExportOriginals,
    Redacted,
    ShardSummary,
    redact_lines,
    redact_pandas,
    shard_paths,
    write_shard,
)

if TYPE_CHECKING:
    import dask.bag
    import dask.dataframe

__all__ = ["collect_originals", "redact", "write_shards"]


def _is_bag(data: Any) -> bool:
    import dask.bag

    return isinstance(data, dask.bag.Bag)


def _lines(data: Any, column: str) -> dask.bag.Bag:
    """The records as a bag of lines: a bag itself, or one column of a DataFrame."""
    if _is_bag(data):
        return data
    return data[column].to_bag()


def _originals_of(lines: Iterable[Any]) -> list[str]:
    found: set[str] = set()
    for raw in lines:
        if isinstance(raw, str | bytes) and raw.strip():
            found.update(originals_of_record(raw))
    return sorted(found)


def collect_originals(data: dask.bag.Bag | dask.dataframe.DataFrame, column: str = "value") -> ExportOriginals:
    """Every original named by the replacements of any record (a bag of NDJSON lines, or ``data[column]``)."""
    return ExportOriginals(_lines(data, column).map_partitions(_originals_of).distinct().compute())


def _shared(originals: ExportOriginals) -> Any:
    """The originals as one graph node: computed once, sent to each worker that needs them."""
    from dask import delayed

    return delayed(originals, name=f"anonymizer-originals-{originals.tag}")


def _redact_part(lines: Iterable[Any], config: BatchConfig, originals: ExportOriginals) -> list[Redacted]:
    return list(redact_lines((line if isinstance(line, str | bytes) else "" for line in lines), config,
                             originals=originals))  # fmt: skip


def redact(
    data: dask.bag.Bag | dask.dataframe.DataFrame,
    config: BatchConfig,
    column: str = "value",
    *,
    originals: ExportOriginals | None = None,
) -> Any:
    """Redact a bag of NDJSON lines (a bag of :class:`~anonymizer.batch.Redacted` back) or ``data[column]`` of a
    DataFrame (a DataFrame back, with ``redacted``, ``replacements`` and ``reject`` in place of ``column``).

    ``originals`` defaults to :func:`collect_originals` of ``data``. Lazy: nothing runs until you compute or write.
    """
    config.check_distributed()  # a bad key or policy fails here, with its own message
    export = originals if originals is not None else collect_originals(data, column)
    shared = _shared(export)
    if _is_bag(data):
        return data.map_partitions(_redact_part, config, shared)
    meta = data._meta.drop(columns=[column])
    for name in ("redacted", "replacements", "reject"):
        meta[name] = meta.index.to_series().astype(object)  # an empty object column of the right length
    return data.map_partitions(redact_pandas, config, column=column, originals=shared, meta=meta)


def _write_part(
    lines: Iterable[Any], root: str, index: int, config: BatchConfig, originals: ExportOriginals, encrypt: str | None
) -> tuple[int, ...]:
    redacted, replacements, rejects = shard_paths(root, index)
    texts = (line if isinstance(line, str | bytes) else "" for line in lines)
    return tuple(write_shard(texts, redacted, replacements, config, originals=originals, reject_path=rejects,
                             encrypt_key_file=encrypt))  # fmt: skip


def write_shards(
    data: dask.bag.Bag | dask.dataframe.DataFrame,
    path: str | os.PathLike[str],
    config: BatchConfig,
    column: str = "value",
    *,
    originals: ExportOriginals | None = None,
    encrypt_key_file: str | os.PathLike[str] | None = None,
) -> ShardSummary:
    """Redact into one shard pair per partition under ``path`` (a folder every worker can write to); returns the
    totals. Each partition's files are written atomically (replacements first)."""
    from dask import compute, delayed

    config.check_distributed()
    export = originals if originals is not None else collect_originals(data, column)
    root, shared = os.fspath(path), _shared(export)
    encrypt = os.fspath(encrypt_key_file) if encrypt_key_file is not None else None
    parts = _lines(data, column).to_delayed()
    tasks = [delayed(_write_part)(part, root, i, config, shared, encrypt) for i, part in enumerate(parts)]
    totals = compute(*tasks)
    return ShardSummary(*(sum(t[i] for t in totals) for i in range(4)))
