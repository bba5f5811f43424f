"""Redaction of conversation exports as plain functions over records: what the CLI, Spark and Dask jobs run.

Configure once with a :class:`BatchConfig` (small and picklable: it says *where* the key is, never holds it),
then call the function that fits the data you have, on one machine or on every worker of a cluster:

* :func:`redact_lines`: NDJSON lines in, one :class:`Redacted` per line out (redacted line, replacements entry,
  reject);
* :func:`redact_arrow` / :func:`redact_pandas`: the same over a column of an Arrow ``RecordBatch``/``Table`` or a
  pandas ``DataFrame``, returning the type given;
* :func:`write_shard`: lines in, a redacted file and its replacements file out, in the formats of
  ``anonymizer redact``, so ``anonymizer restore`` and ``anonymizer audit`` take a shard or a folder of shards.

>>> config = BatchConfig(tokens="placeholder")
>>> line = '{"id": "c1", "title": "jdoe locked out", "replacements": {"<USER_NAME_1>": "jdoe"}}'
>>> out = next(redact_lines([line], config))
>>> out.line
'{"id":"c1","title":"<USER_NAME_1> locked out"}'
>>> out.reject is None
True

**An export is one trust boundary.** An original that any conversation's replacements name is hidden in every
record, also in conversations whose own map does not name it. Collect the originals of the whole export first
(:func:`collect_originals`, one cheap pass), then pass them to every call as ``originals=``; Spark and Dask
bindings do both passes for you. Memory grows with the number of *distinct* originals, not with records.

**Keys.** With ``tokens="keyed"`` (the default) the same original gets the same token on every worker, in every
run, so a recomputed partition writes the same output. The key is read from ``key_file`` or the environment
variable ``key_env`` when a worker process first needs it, and is kept in that process only: it is never part
of a pickled config, engine or task. ``tokens="uuid"`` mints random tokens: a job that computes a partition twice
(two actions without caching, a lost executor) writes records whose tokens are missing from the replacements it
kept, and those originals are lost. It is refused unless ``allow_random_tokens=True``.

Each worker process builds its engine once per configuration (:meth:`BatchConfig.engine`), never per record
or task.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from ._export.files import MIN_KEY_BYTES, AtomicOutput, ReplacementsWriter, commit_together, read_secret
from ._export.formats import dumps
from ._export.originals import ExportOriginals, originals_of_record
from ._export.records import Redactor, RedactResult
from .engine import Anonymizer
from .errors import ConfigError
from .findings import Detector
from .policy import FieldPolicy

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = [
    "BatchConfig",
    "BatchEngine",
    "ExportOriginals",
    "Redacted",
    "ShardSummary",
    "collect_originals",
    "redact_arrow",
    "redact_lines",
    "redact_pandas",
    "shard_paths",
    "write_shard",
]

_TOKEN_NAMES = ("uuid", "keyed", "placeholder", "mask")
_NO_MODEL = "none"


class BatchConfig:
    """What a redaction worker needs to build its engine. Small, immutable, hashable and picklable.

    * ``policy``: Kibana anonymization fields (a list, or a ``_find`` response), or the path of a JSON file holding
      them; ``None`` for Kibana's defaults. Fields the policy does not list are kept (records are not ECS data).
    * ``tokens``: ``"keyed"`` (default), ``"placeholder"``, ``"mask"`` or ``"uuid"`` (random: only with
      ``allow_random_tokens=True``, see the module documentation).
    * ``key_file`` / ``key_env``: where the key for keyed tokens is: a file path (readable on every worker) or
      the name of an environment variable (set on every worker). At least 16 bytes, surrounding whitespace
      stripped. The config holds the path or the name only.
    * ``fields``: record fields (dotted, e.g. ``users.name``) to turn into tokens besides the policy's.
    * ``detect`` / ``detect_model``: also find PII in free text with Presidio and spaCy (``detect_model=None``
      for the default pipeline, ``"none"`` for patterns only).

    >>> BatchConfig(tokens="keyed", key_env="ANONYMIZER_KEY")
    BatchConfig(tokens='keyed', key_env='ANONYMIZER_KEY')
    >>> BatchConfig(tokens="uuid")
    Traceback (most recent call last):
    ...
    anonymizer.errors.ConfigError: tokens='uuid' mints random tokens: ...
    """

    __slots__ = (
        "allow_random_tokens",
        "detect",
        "detect_model",
        "fields",
        "key_env",
        "key_file",
        "policy",
        "tokens",
    )

    policy: str | None  # the policy's JSON text (canonical), or None for Kibana's defaults
    tokens: str
    key_file: str | None
    key_env: str | None
    fields: tuple[str, ...]
    detect: bool
    detect_model: str | None
    allow_random_tokens: bool

    def __init__(
        self,
        *,
        policy: Any = None,
        tokens: str = "keyed",
        key_file: str | os.PathLike[str] | None = None,
        key_env: str | None = None,
        fields: Iterable[str] = (),
        detect: bool = False,
        detect_model: str | None = None,
        allow_random_tokens: bool = False,
    ) -> None:
        if tokens not in _TOKEN_NAMES:
            raise ConfigError(f"unknown token strategy {tokens!r}: use keyed, placeholder, mask or uuid")
        if tokens == "uuid" and not allow_random_tokens:
            raise ConfigError(
                "tokens='uuid' mints random tokens: a job that computes a partition twice (two actions without "
                "caching, a lost executor, a retried task) writes records whose tokens are missing from the "
                "replacements it kept, and their originals cannot be recovered. Use tokens='keyed' with key_file "
                "or key_env, or pass allow_random_tokens=True if every record is redacted exactly once"
            )
        if key_file is not None and key_env is not None:
            raise ConfigError("give the key as key_file or key_env, not both")
        if tokens == "keyed" and key_file is None and key_env is None:
            raise ConfigError("tokens='keyed' needs key_file=<path> or key_env=<variable name>")
        if isinstance(fields, str):
            raise ConfigError("fields must be a list of dotted field names, not a string")
        names = tuple(fields)
        if not all(isinstance(f, str) and f for f in names):
            raise ConfigError("fields must be non-empty strings")
        set_ = object.__setattr__
        set_(self, "policy", _policy_json(policy))
        set_(self, "tokens", tokens)
        set_(self, "key_file", os.fspath(key_file) if key_file is not None else None)
        set_(self, "key_env", key_env)
        set_(self, "fields", names)
        set_(self, "detect", bool(detect))
        set_(self, "detect_model", detect_model)
        set_(self, "allow_random_tokens", bool(allow_random_tokens))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("BatchConfig is immutable")

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BatchConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __reduce__(self) -> tuple[Any, ...]:
        return (_config_from_state, (dict(zip(self.__slots__, self._key(), strict=True)),))

    def __repr__(self) -> str:
        parts = [f"tokens={self.tokens!r}"]
        for name in ("key_file", "key_env", "fields", "detect", "detect_model", "allow_random_tokens"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value!r}")
        if self.policy is not None:
            parts.append("policy=<custom>")
        return f"BatchConfig({', '.join(parts)})"

    def read_key(self) -> bytes | None:
        """The key, read now from ``key_file`` or ``key_env`` (``None`` when neither is set).

        Raises :class:`~anonymizer.errors.ConfigError` naming the file or variable (never its content).
        """
        if self.key_file is not None:
            return read_secret(self.key_file, "key")
        if self.key_env is not None:
            value = os.environ.get(self.key_env)
            if value is None:
                raise ConfigError(f"the environment variable {self.key_env} (the key) is not set")
            key = value.encode("utf-8", "surrogateescape").strip()
            if len(key) < MIN_KEY_BYTES:
                raise ConfigError(f"the environment variable {self.key_env} must hold at least {MIN_KEY_BYTES} bytes")
            return key
        return None

    def engine(self) -> BatchEngine:
        """This process's engine for this configuration: built on the first call, then reused."""
        return _engine_for(self)

    def check_distributed(self) -> None:
        """What a distributed job calls on its driver first: builds this process's engine, so that a missing key or
        detector fails there with its own message, not on every executor.

        Random tokens are refused at construction already, unless ``allow_random_tokens=True``.
        """
        self.engine()


def _config_from_state(state: dict[str, Any]) -> BatchConfig:
    config = BatchConfig.__new__(BatchConfig)
    for name in BatchConfig.__slots__:
        object.__setattr__(config, name, state[name])
    return config


def _policy_json(policy: Any) -> str | None:
    """The policy as canonical JSON text (checked now, on the machine that builds the config)."""
    if policy is None:
        return None
    if isinstance(policy, str | os.PathLike):
        try:
            with open(policy, "rb") as f:
                policy = json.loads(f.read())
        except OSError as exc:
            raise ConfigError(f"cannot read the policy file {os.fspath(policy)}: {exc.strerror}") from None
        except ValueError:
            raise ConfigError(f"the policy file {os.fspath(policy)} is not valid JSON") from None
    FieldPolicy.from_fields(policy)  # raises PolicyError, with the entry's index
    return json.dumps(policy, sort_keys=True, separators=(",", ":"))


class BatchEngine:
    """The engine of one :class:`BatchConfig` in one process (see :meth:`BatchConfig.engine`).

    Holds the key in memory; pickling it sends only its config, so the worker that unpickles it reads the key
    itself.
    """

    __slots__ = ("_lock", "_redactors", "anonymizer", "config")

    def __init__(self, config: BatchConfig) -> None:
        self.config = config
        self.anonymizer = _anonymizer(config)
        self._redactors: dict[tuple[str, bool], Redactor] = {}
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[Any, ...]:
        return (_engine_for, (self.config,))

    def __repr__(self) -> str:
        return f"<BatchEngine of {self.config!r}>"

    def redactor(self, originals: ExportOriginals | None = None, *, pretty: bool = False) -> Redactor:
        """The record redactor for ``originals`` (cached: one per set of originals, the last few kept)."""
        cache_key = (originals.tag if originals is not None else "", pretty)
        with self._lock:
            redactor = self._redactors.get(cache_key)
            if redactor is None:
                if len(self._redactors) >= 4:
                    self._redactors.clear()
                redactor = Redactor(self.anonymizer, fields=self.config.fields, pretty=pretty, export=originals)
                self._redactors[cache_key] = redactor
            return redactor


_ENGINES: dict[BatchConfig, BatchEngine] = {}
_ENGINES_LOCK = threading.Lock()


def _engine_for(config: BatchConfig) -> BatchEngine:
    with _ENGINES_LOCK:
        engine = _ENGINES.get(config)
        if engine is None:
            engine = _ENGINES[config] = BatchEngine(config)
        return engine


def _anonymizer(config: BatchConfig) -> Anonymizer:
    policy = FieldPolicy.from_fields(json.loads(config.policy), unknown="keep") if config.policy else None
    detectors: tuple[Detector, ...] = ()
    if config.detect:
        from anonymizer.detect import DEFAULT_MODEL, presidio

        model = config.detect_model if config.detect_model is not None else DEFAULT_MODEL
        detectors = (presidio(model=None if model.lower() == _NO_MODEL else model),)
    return Anonymizer(
        policy=policy or FieldPolicy.kibana_default(unknown="keep"),
        tokens=config.tokens,
        key=config.read_key(),
        detectors=detectors,
    )


# --- records -------------------------------------------------------------------------------------------------


class Redacted(NamedTuple):
    """The redaction of one record (one input line).

    * ``line``: the redacted record as JSON text (no newline); ``None`` when the record was rejected.
    * ``replacements``: the replacements-file line of each conversation of the record (``\\n``-joined; most
      records hold one conversation), as ``anonymizer redact`` writes them; ``None`` when there is none.
    * ``reject``: ``{"line": n, "reason": "..."}`` when the record could not be read or validated (the reason
      never quotes the record), else ``None``.
    """

    line: str | None
    replacements: str | None
    reject: dict[str, Any] | None


def collect_originals(lines: Iterable[str | bytes], originals: ExportOriginals | None = None) -> ExportOriginals:
    """The originals named by the replacements of every record of ``lines`` (added to ``originals`` if given).

    Run it over the whole export before redacting any part of it, and pass the result to every redaction call.
    """
    out = originals if originals is not None else ExportOriginals()
    for raw in lines:
        if raw and not raw.isspace():
            out.update(originals_of_record(raw))
    return out


def redact_lines(
    lines: Iterable[str | bytes],
    config: BatchConfig,
    *,
    originals: ExportOriginals | None = None,
    first_line: int = 1,
) -> Iterator[Redacted]:
    """Redact NDJSON records, one :class:`Redacted` per line, in order (a blank line gives a blank line).

    ``first_line`` is the line number of the first line, for rejects. ``originals``: every original of the
    export (:func:`collect_originals`); without it, each record is redacted with its own replacements only.
    """
    redactor = config.engine().redactor(originals)
    for number, raw in enumerate(lines, first_line):
        if not raw or raw.isspace():
            yield Redacted("", None, None)
            continue
        yield _redacted(redactor((number, raw)))


def _redacted(result: RedactResult) -> Redacted:
    if result.reject is not None:
        return Redacted(None, None, {"line": result.line, "reason": result.reject})
    assert result.output is not None
    entries = b"\n".join(result.entries).decode("utf-8") if result.entries else None
    return Redacted(result.output.decode("utf-8"), entries, None)


def redact_arrow(
    data: pyarrow.RecordBatch | pyarrow.Table,
    config: BatchConfig,
    *,
    column: str = "value",
    originals: ExportOriginals | None = None,
    first_line: int = 1,
) -> Any:
    """:func:`redact_lines` over the string column ``column``; returns the type given (``RecordBatch``/``Table``).

    The result has the other columns as they were, without ``column`` (it holds the originals), plus
    ``redacted`` (string), ``replacements`` (string) and ``reject`` (struct of ``line``, ``reason``).
    """
    import pyarrow as pa

    lines = data.column(column).to_pylist()
    texts = ("" if v is None else v for v in lines)
    done = list(redact_lines(texts, config, originals=originals, first_line=first_line))
    kept = [name for name in data.schema.names if name != column]
    arrays = [data.column(name) for name in kept]
    arrays += [
        pa.array([d.line for d in done], pa.string()),
        pa.array([d.replacements for d in done], pa.string()),
        pa.array([d.reject for d in done], reject_arrow_type()),
    ]
    names = [*kept, "redacted", "replacements", "reject"]
    if isinstance(data, pa.Table):
        return pa.Table.from_arrays(arrays, names=names)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def reject_arrow_type() -> Any:
    """The Arrow type of the ``reject`` column: ``struct<line: int64, reason: string>``."""
    import pyarrow as pa

    return pa.struct([("line", pa.int64()), ("reason", pa.string())])


def redact_pandas(
    data: pandas.DataFrame,
    config: BatchConfig,
    *,
    column: str = "value",
    originals: ExportOriginals | None = None,
    first_line: int = 1,
) -> pandas.DataFrame:
    """:func:`redact_lines` over the column ``column`` of a pandas ``DataFrame``; returns a ``DataFrame``.

    Same columns as :func:`redact_arrow` (``reject`` holds dicts or ``None``); the index is kept.
    """
    values = data[column].tolist()
    texts = (v if isinstance(v, str | bytes) else "" for v in values)
    done = list(redact_lines(texts, config, originals=originals, first_line=first_line))
    out = data.drop(columns=[column])
    out["redacted"] = [d.line for d in done]
    out["replacements"] = [d.replacements for d in done]
    out["reject"] = [d.reject for d in done]
    return out


# --- shards --------------------------------------------------------------------------------------------------


def shard_paths(folder: str | os.PathLike[str], index: int) -> tuple[str, str, str]:
    """The redacted, replacements and rejects files of part ``index`` of a folder of shards (folders created).

    ``folder/redacted/part-00007.ndjson``, ``folder/replacements/part-00007.ndjson``,
    ``folder/rejects/part-00007.ndjson``: what ``anonymizer restore`` and ``audit`` take as folders.
    """
    name = f"part-{index:05d}.ndjson"
    paths = []
    for sub in ("redacted", "replacements", "rejects"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
        paths.append(os.path.join(folder, sub, name))
    return paths[0], paths[1], paths[2]


class ShardSummary(NamedTuple):
    """What :func:`write_shard` wrote: records, conversations, tokens (replacements entries' sizes), rejects."""

    records: int
    conversations: int
    tokens: int
    rejects: int


def write_shard(
    lines: Iterable[str | bytes],
    redacted_path: str | os.PathLike[str],
    replacements_path: str | os.PathLike[str],
    config: BatchConfig,
    *,
    originals: ExportOriginals | None = None,
    reject_path: str | os.PathLike[str] | None = None,
    encrypt_key_file: str | os.PathLike[str] | None = None,
    first_line: int = 1,
) -> ShardSummary:
    """Redact ``lines`` in one pass into a redacted NDJSON file and its replacements file (the CLI's formats).

    Both files are written under temporary names and renamed into place at the end, the replacements file
    first: a reader never finds a redacted shard whose replacements are missing. A failure leaves neither.
    ``reject_path`` gets the rejects as NDJSON (``{"line", "reason"}``); without it they are only counted.
    ``encrypt_key_file`` encrypts the replacements file (``anonymizer restore --decrypt-key-file``).
    """
    encrypt = read_secret(os.fspath(encrypt_key_file), "encryption key") if encrypt_key_file is not None else None
    redactor = config.engine().redactor(originals)
    outputs: list[AtomicOutput] = []
    try:
        repl = AtomicOutput(os.fspath(replacements_path), private=True)
        outputs.append(repl)
        rejects_out = AtomicOutput(os.fspath(reject_path)) if reject_path is not None else None
        if rejects_out is not None:
            outputs.append(rejects_out)
        out = AtomicOutput(os.fspath(redacted_path))
        outputs.append(out)
        writer = ReplacementsWriter(repl.stream, encrypt)
        records = conversations = tokens = rejects = 0
        for number, raw in enumerate(lines, first_line):
            if not raw or raw.isspace():
                continue
            records += 1
            result = redactor((number, raw))
            if result.reject is not None:
                rejects += 1
                if rejects_out is not None:
                    rejects_out.stream.write(dumps({"line": number, "reason": result.reject}) + b"\n")
                continue
            assert result.output is not None
            out.stream.write(result.output + b"\n")
            for entry in result.entries:
                writer.write(entry)
            conversations += result.conversations
            tokens += result.tokens
        commit_together(outputs)
    except BaseException:
        for f in outputs:
            f.discard()
        raise
    return ShardSummary(records, conversations, tokens, rejects)
