"""The ``anonymizer`` command: redact, restore and audit Elastic AI Assistant conversation exports.

Thin by design: it parses arguments, streams records and calls :mod:`anonymizer.batch` (the same record
redaction Spark and Dask jobs run). Run ``anonymizer --help`` for usage and exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import stat
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import IO, Any

from anonymizer import __version__
from anonymizer._cli.options import (
    EXIT_AUDIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_IO,
    EXIT_OK,
    EXIT_REJECTS,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliFailure,
    add_detect_options,
    add_engine_options,
    detect_model,
    positive_int,
    read_key,
    read_policy,
)
from anonymizer._cli.workers import Progress, ordered_map
from anonymizer._export.files import (
    AtomicOutput,
    ExportFileError,
    Input,
    ReplacementsReader,
    ReplacementsWriter,
    commit_together,
    open_input,
)
from anonymizer._export.formats import Format, RecordWriter, conversations_in, dumps, loads, read_records, sniff
from anonymizer._export.originals import ExportOriginals, originals_of_record
from anonymizer._export.records import Redactor, audit_conversation, restore_conversation
from anonymizer._install import install_hint
from anonymizer.batch import BatchConfig
from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizerError, PayloadError

__all__ = [
    "EXIT_AUDIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_IO",
    "EXIT_OK",
    "EXIT_REJECTS",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

_SIGNALS = """\
  130  interrupted (Ctrl-C); no output file is left behind
  143  terminated (SIGTERM); no output file is left behind"""
_SIGNALS_READ_ONLY = """\
  130  interrupted (Ctrl-C)
  143  terminated (SIGTERM)"""

_EXIT_CODES_MAIN = f"""\
exit codes:
  0    success
  1    done, but some records were rejected
  2    usage error (bad option, unreadable policy or key file)
  3    audit found leaked originals or unresolved tokens
  4    input/output error (unreadable input, replacements that do not match or do not decrypt)
{_SIGNALS}
"""

_EXIT_CODES_WRITE = f"""\
exit codes:
  0    success
  1    done, but some records were rejected (see --reject-file)
  2    usage error (bad option, unreadable policy or key file, an output that is also an input)
  4    input/output error (unreadable input, replacements that do not match or do not decrypt)
{_SIGNALS}
"""

_EXIT_CODES_AUDIT = f"""\
exit codes:
  0    nothing found
  1    nothing found, but some records could not be read (listed on stderr)
  2    usage error (bad option, unreadable key file)
  3    leaked originals or unresolved tokens found
  4    input/output error (unreadable input, replacements that do not match or do not decrypt)
{_SIGNALS_READ_ONLY}
"""

_MAIN_HELP = f"""\
Redact Elastic AI Assistant conversation exports, restore them, and audit the result.

Inputs may be NDJSON, a JSON array, _find response pages or Elasticsearch conversation documents
(plain _source or hits); the format is detected and kept. Use - for stdin/stdout; .gz files are
gzip-compressed. restore and audit also take folders of shards (see anonymizer.batch).

examples:
  anonymizer redact export.ndjson -o redacted.ndjson --replacements-out replacements.ndjson
  anonymizer audit redacted.ndjson --replacements replacements.ndjson
  anonymizer restore redacted.ndjson -o restored.ndjson --replacements replacements.ndjson

{_EXIT_CODES_MAIN}"""

_REDACT_HELP = f"""\
Move each conversation's replacements out of the export into a replacements file (one JSON line per
conversation, keyed by its id) and hide every original they name wherever it still occurs (title,
message content, summary, any other field) in every conversation of the export, so the redacted export
holds no original at all. The input is read twice (the first pass collects the originals).

examples:
  anonymizer redact export.ndjson -o redacted.ndjson --replacements-out replacements.ndjson
  anonymizer redact export.json.gz -o redacted.json.gz --replacements-out repl.ndjson \\
      --tokens keyed --key-file token.key --encrypt-key-file repl.key --workers 2
  cat export.ndjson | anonymizer redact - --replacements-out repl.ndjson --detect > redacted.ndjson

{_EXIT_CODES_WRITE}"""

_RESTORE_HELP = f"""\
Give back the original export (the same JSON values) from a redacted file and its replacements file.
Conversations are matched to their replacements by id, so shards and reordered files work; IN and
--replacements may be folders of shards (files are read in natural order; names starting with . or _
are skipped).

example:
  anonymizer restore redacted.ndjson -o restored.ndjson --replacements replacements.ndjson

{_EXIT_CODES_WRITE}"""

_AUDIT_HELP = f"""\
Scan a redacted file for originals that leaked (every original of every conversation of the export,
known from the replacements file, is looked for in every record) and for tokens in free text that do
not resolve. Findings give the file, the record's line and the JSON path, and name the token, never
the original. IN and --replacements may be folders of shards.

example:
  anonymizer audit redacted.ndjson --replacements replacements.ndjson

{_EXIT_CODES_AUDIT}"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``anonymizer`` command."""
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(prog="anonymizer", description=_MAIN_HELP, formatter_class=raw)
    parser.add_argument("--version", action="version", version=f"anonymizer {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    redact = commands.add_parser("redact", help="redact an export", description=_REDACT_HELP, formatter_class=raw)
    redact.add_argument("input", metavar="IN", help="the export (- for stdin)")
    redact.add_argument("-o", "--output", default="-", metavar="OUT", help="the redacted export (default: stdout)")
    where = redact.add_mutually_exclusive_group(required=True)
    where.add_argument("--replacements-out", metavar="FILE", help="where the originals go (needed by restore/audit)")
    where.add_argument(
        "--no-replacements",
        action="store_true",
        help="discard the originals: a one-way redaction that cannot be restored",
    )
    add_engine_options(redact)
    redact.add_argument(
        "--fields", default="", metavar="A,B", help="record fields to turn into tokens, dotted (e.g. users.name)"
    )
    add_detect_options(redact)
    redact.add_argument("--encrypt-key-file", metavar="FILE", help="encrypt the replacements file (AES-256-GCM)")
    redact.add_argument("--workers", type=positive_int, default=1, metavar="N", help="worker processes (default: 1)")
    _common(redact)

    restore = commands.add_parser(
        "restore", help="restore a redacted export", description=_RESTORE_HELP, formatter_class=raw
    )
    restore.add_argument("input", metavar="IN", help="the redacted export or a folder of shards (- for stdin)")
    restore.add_argument("-o", "--output", default="-", metavar="OUT", help="the restored export (default: stdout)")
    restore.add_argument("--replacements", required=True, metavar="FILE", help="the file (or folder) redact wrote")
    restore.add_argument("--decrypt-key-file", metavar="FILE", help="key of an encrypted replacements file")
    _common(restore)

    audit = commands.add_parser("audit", help="check a redacted export", description=_AUDIT_HELP, formatter_class=raw)
    audit.add_argument("input", metavar="IN", help="the redacted export or a folder of shards (- for stdin)")
    audit.add_argument("--replacements", required=True, metavar="FILE", help="the file (or folder) redact wrote")
    audit.add_argument("--decrypt-key-file", metavar="FILE", help="key of an encrypted replacements file")
    audit.add_argument("--quiet", action="store_true", help="no summary line")
    _add_serve(commands)
    return parser


def _add_serve(commands: Any) -> None:
    """``anonymizer serve``: the proxy, when its extra is installed (it needs Starlette, httpx and uvicorn)."""
    try:
        from .proxy.cli import add_serve_parser
    except ImportError:
        serve = commands.add_parser(
            "serve", help=f"run the anonymizing proxy ({install_hint('proxy')})", prefix_chars="\x00"
        )
        serve.add_argument("options", nargs="*")  # whatever is given: the message below is the answer
        serve.set_defaults(run=_serve_missing)
        return
    add_serve_parser(commands)


def _serve_missing(args: argparse.Namespace) -> int:
    sys.stderr.write(f"anonymizer serve: needs the proxy extra: {install_hint('proxy')}\n")
    return EXIT_USAGE


def _common(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--reject-file", metavar="FILE", help="NDJSON of rejected records: line number and reason")
    sub.add_argument("--quiet", action="store_true", help="no summary line")


# --- files ---------------------------------------------------------------------------------------------------


class _Rejects:
    """Rejected records: counted, written to the reject file, listed on stderr when there is none."""

    def __init__(self, out: AtomicOutput | None) -> None:
        self.out = out
        self.count = 0
        self.shown = 0

    def add(self, line: int, reason: str) -> None:
        self.count += 1
        if self.out is not None:
            self.out.stream.write(dumps({"line": line, "reason": reason}) + b"\n")
        elif self.shown < 10:
            self.shown += 1
            sys.stderr.write(f"rejected line {line}: {reason}\n")


def _records(source: Input, fmt: Format, rejects: _Rejects) -> Iterator[tuple[int, bytes | str]]:
    try:
        yield from read_records(source.stream, fmt)
    except UnicodeDecodeError:
        rejects.add(0, "the input is not UTF-8; the rest of the input was not read")
    except PayloadError as exc:  # a broken array or document: what follows cannot be split into records
        reason = "; ".join(issue.message for issue in exc.issues)
        rejects.add(exc.line or 0, f"{reason}; the rest of the input was not read")
    except ValueError:  # not expected: said without the exception's text, which might quote the input
        rejects.add(0, "the input could not be read; the rest of the input was not read")


def _refuse_same_files(named: dict[str, str | None]) -> None:
    """Exit 2 when two of the paths a command reads or writes are one file (``-o`` = input, ...)."""
    seen: list[tuple[str, str, tuple[int, int] | None]] = []
    for option, path in named.items():
        if not path or path == "-":
            continue
        real = os.path.realpath(path)
        try:
            st = os.stat(path)
            ident: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except OSError:
            ident = None
        for other, other_real, other_ident in seen:
            if real == other_real or (ident is not None and ident == other_ident):
                raise CliFailure(f"{option} and {other} are the same file ({path}): refusing to overwrite", EXIT_USAGE)
        seen.append((option, real, ident))


def _shard_files(path: str) -> list[str]:
    """A file, or the files of a folder of shards in natural order (``part-2`` before ``part-10``)."""
    if path == "-" or not os.path.isdir(path):
        return [path]
    names = [n for n in os.listdir(path) if not n.startswith((".", "_")) and not n.endswith(".crc")]
    files = [os.path.join(path, n) for n in sorted(names, key=_natural) if os.path.isfile(os.path.join(path, n))]
    if not files:
        raise CliFailure(f"the folder {path} holds no shard", EXIT_IO)
    return files


def _natural(name: str) -> list[Any]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


# --- redact --------------------------------------------------------------------------------------------------


def _redact(args: argparse.Namespace) -> int:
    _refuse_same_files(
        {"IN": args.input, "-o": args.output, "--replacements-out": args.replacements_out,
         "--reject-file": args.reject_file}
    )  # fmt: skip
    policy = read_policy(args.policy) if args.policy else None
    if args.tokens == "keyed" and not args.key_file:
        raise CliFailure("--tokens keyed needs --key-file", EXIT_USAGE)
    if args.key_file:
        read_key(args.key_file, "key")
    encrypt = read_key(args.encrypt_key_file, "encryption key") if args.encrypt_key_file else None
    if args.no_replacements and encrypt is not None:
        raise CliFailure("--encrypt-key-file needs --replacements-out", EXIT_USAGE)
    if args.output == "-" and args.replacements_out == "-":
        raise CliFailure("the output and the replacements cannot both go to stdout", EXIT_USAGE)
    model = detect_model(args)
    config = BatchConfig(
        policy=policy,
        tokens=args.tokens,
        key_file=args.key_file,
        fields=[f.strip() for f in args.fields.split(",") if f.strip()],
        detect=args.detect,
        detect_model=model or "none",
        allow_random_tokens=True,  # one run reads each record once: a random token is never minted twice
    )
    config.engine()  # fail here, with a clear message, if the engine or the detector cannot be built

    with _spooled(args.input) as spool:
        export = ExportOriginals()
        first = open_input(args.input, _rewound(spool))
        try:
            for _, raw in read_records(first.stream, sniff(first.head)):
                export.update(originals_of_record(raw))
        except ValueError:  # a broken array or document: the second pass reports it
            pass
        finally:
            first.close()
        return _redact_pass(args, config, export, open_input(args.input, _rewound(spool)), encrypt)


@contextlib.contextmanager
def _spooled(path: str) -> Iterator[IO[bytes] | None]:
    """The input, readable twice: stdin, a pipe or a FIFO is copied to an unnamed temporary file (gone when the
    process is, however it ends)."""
    if path != "-":
        try:
            regular = stat.S_ISREG(os.stat(path).st_mode)
        except OSError:
            regular = True  # let open_input report it
        if regular:
            yield None
            return
    try:
        source = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise CliFailure(f"cannot open {path}: {exc.strerror}", EXIT_IO) from None
    with tempfile.TemporaryFile() as copy:
        while chunk := source.read(1 << 20):
            copy.write(chunk)
        if source is not sys.stdin.buffer:
            source.close()
        yield copy


def _rewound(spool: IO[bytes] | None) -> IO[bytes] | None:
    """The spooled copy from its start, as a file that closing leaves open (``None``: read the path itself)."""
    if spool is None:
        return None
    spool.seek(0)
    return os.fdopen(os.dup(spool.fileno()), "rb")


def _redactor(config: BatchConfig, export: ExportOriginals, pretty: bool) -> Redactor:
    """The record redactor of a worker process (its engine is built once per process)."""
    return config.engine().redactor(export, pretty=pretty)


def _redact_pass(
    args: argparse.Namespace, config: BatchConfig, export: ExportOriginals, source: Input, encrypt: bytes | None
) -> int:
    fmt = sniff(source.head)
    outputs: list[AtomicOutput] = []
    try:
        # opened (and committed) in this order: replacements, rejects, then the redacted export
        repl_out = AtomicOutput(args.replacements_out, private=True) if args.replacements_out else None
        repl = ReplacementsWriter(repl_out.stream, encrypt) if repl_out is not None else None
        reject_out = AtomicOutput(args.reject_file) if args.reject_file else None
        out = AtomicOutput(args.output)
        outputs = [f for f in (repl_out, reject_out, out) if f is not None]
        rejects = _Rejects(reject_out)
        writer = RecordWriter(out.stream, fmt)
        progress = Progress("redact", total_bytes=source.size)
        conversations = tokens = 0
        work = ordered_map(
            _redactor, (config, export, fmt == "json"), _records(source, fmt, rejects), workers=args.workers
        )
        for result in work:
            progress.tick(lambda: source.consumed)
            if result.reject is not None:
                rejects.add(result.line, result.reject)
                continue
            assert result.output is not None
            writer.write(result.output)
            if repl is not None:
                for entry in result.entries:
                    repl.write(entry)
            conversations += result.conversations
            tokens += result.tokens
        writer.close()
        commit_together(outputs)
    except BaseException:
        for f in outputs:
            f.discard()
        raise
    finally:
        source.close()
    if not args.quiet:
        progress.summary(
            f"{progress.records} records, {conversations} conversations, {tokens} tokens, {rejects.count} rejects"
        )
    return EXIT_REJECTS if rejects.count else EXIT_OK


# --- restore and audit ---------------------------------------------------------------------------------------

_Key = tuple[str | None, tuple[str | int, ...]]


def _entry_key(entry: dict[str, Any]) -> _Key:
    ident = entry.get("id")
    at = entry.get("at") or ()
    return (ident if isinstance(ident, str) else None, tuple(at) if isinstance(at, list) else ())


class _Entries:
    """Replacements entries of one or more files, taken by conversation id (and place in its record).

    Entries are read in file order; those read past while looking for another are kept until asked for, so a
    file in redact's order needs no memory, and shards or reordered files still pair.
    """

    def __init__(self, path: str, key: bytes | None) -> None:
        self.files = _shard_files(path)
        self.key = key
        self.readers: list[ReplacementsReader] = []
        self._entries = self._read()
        self._waiting: dict[_Key, deque[dict[str, Any]]] = {}

    def _read(self) -> Iterator[dict[str, Any]]:
        for path in self.files:
            reader = ReplacementsReader(path, self.key)
            self.readers.append(reader)
            try:
                yield from reader
            finally:
                reader.close()

    def take(self, key: _Key) -> dict[str, Any] | None:
        """The entry of the conversation ``key``, or ``None`` when the files hold none."""
        waiting = self._waiting.get(key)
        if waiting:
            entry = waiting.popleft()
            if not waiting:
                del self._waiting[key]
            return entry
        for entry in self._entries:
            found = _entry_key(entry)
            if found == key:
                return entry
            self._waiting.setdefault(found, deque()).append(entry)
        return None

    def left_over(self) -> int:
        """Entries no conversation asked for (reads the rest of the files)."""
        return sum(len(q) for q in self._waiting.values()) + sum(1 for _ in self._entries)

    def all(self) -> Iterator[dict[str, Any]]:
        """Every entry of the files, from the start (a separate read)."""
        for path in self.files:
            reader = ReplacementsReader(path, self.key)
            try:
                yield from reader
            finally:
                reader.close()

    def close(self) -> None:
        for reader in self.readers:
            reader.close()


_Paired = tuple[str, Format, int, Any, list[tuple[list[str | int], dict[str, Any], dict[str, Any]]]]


def _paired(inputs: list[str], entries: _Entries, rejects: _Rejects, progress: Progress) -> Iterator[_Paired]:
    """``(file, format, line, record, [(path, conversation, entry)])`` of each redacted record of ``inputs``."""
    for name in inputs:
        source = open_input(name)
        try:
            fmt = sniff(source.head)
            for line, raw in _records(source, fmt, rejects):
                progress.tick(lambda: source.consumed)  # noqa: B023 - called at once
                try:
                    record = loads(raw)
                    convs = conversations_in(record)
                except (ValueError, AnonymizerError) as exc:
                    rejects.add(line, "invalid JSON" if not isinstance(exc, AnonymizerError) else str(exc))
                    continue
                paired = []
                for path, conv, ident in convs:
                    entry = entries.take((ident, tuple(path)))
                    if entry is None:
                        what = f"conversation {ident}" if ident else "a conversation without an id"
                        raise CliFailure(f"{name}:{line}: {what} has no entry in the replacements", EXIT_IO)
                    paired.append((path, conv, entry))
                yield name, fmt, line, record, paired
        finally:
            source.close()


def _decrypt_key(args: argparse.Namespace) -> bytes | None:
    return read_key(args.decrypt_key_file, "decryption key") if args.decrypt_key_file else None


def _restore(args: argparse.Namespace) -> int:
    _refuse_same_files(
        {"IN": args.input, "--replacements": args.replacements, "-o": args.output, "--reject-file": args.reject_file}
    )
    entries = _Entries(args.replacements, _decrypt_key(args))
    inputs = _shard_files(args.input)
    outputs: list[AtomicOutput] = []
    conversations = 0
    try:
        reject_out = AtomicOutput(args.reject_file) if args.reject_file else None
        out = AtomicOutput(args.output)
        outputs = [f for f in (reject_out, out) if f is not None]
        rejects = _Rejects(reject_out)
        writer: RecordWriter | None = None
        engine = Anonymizer()
        progress = Progress("restore", total_bytes=sum(_size(p) for p in inputs))
        pretty = False
        for _, fmt, _, record, convs in _paired(inputs, entries, rejects, progress):
            if writer is None:  # the output keeps the format of the (first) input
                writer = RecordWriter(out.stream, fmt)
                pretty = fmt == "json"
            for path, conv, entry in convs:
                conversations += 1
                restored = restore_conversation(engine, conv, entry)
                if path:
                    parent = record
                    for step in path[:-1]:
                        parent = parent[step]
                    parent[path[-1]] = restored
                else:
                    record = restored
            writer.write(dumps(record, pretty=pretty))
        if writer is None:
            writer = RecordWriter(out.stream, "ndjson")
        writer.close()
        if len(inputs) == 1 and len(entries.files) == 1 and entries.left_over():
            raise CliFailure("the replacements file has entries for conversations that are not in the input", EXIT_IO)
        commit_together(outputs)
    except BaseException:
        for f in outputs:
            f.discard()
        raise
    finally:
        entries.close()
    if not args.quiet:
        progress.summary(f"{progress.records} records, {conversations} conversations, {rejects.count} rejects")
    return EXIT_REJECTS if rejects.count else EXIT_OK


def _size(path: str) -> int:
    try:
        return 0 if path == "-" else os.path.getsize(path)
    except OSError:
        return 0


def _audit(args: argparse.Namespace) -> int:
    _refuse_same_files({"IN": args.input, "--replacements": args.replacements})
    entries = _Entries(args.replacements, _decrypt_key(args))
    inputs = _shard_files(args.input)
    export = ExportOriginals()
    for entry in entries.all():
        export.add_map(entry["replacements"])
    rejects = _Rejects(None)
    engine = Anonymizer()
    findings = conversations = 0
    progress = Progress("audit", total_bytes=sum(_size(p) for p in inputs))
    try:
        for name, _, line, _, convs in _paired(inputs, entries, rejects, progress):
            for path, conv, entry in convs:
                conversations += 1
                session = engine.session(replacements=entry["replacements"])
                for finding in audit_conversation(session, conv, path, export):
                    findings += 1
                    sys.stdout.write(f"{name}:{line}: {finding.describe()}\n")
        if len(inputs) == 1 and len(entries.files) == 1 and entries.left_over():
            raise CliFailure("the replacements file has entries for conversations that are not in the input", EXIT_IO)
    finally:
        entries.close()
    if not args.quiet:
        progress.summary(f"{progress.records} records, {conversations} conversations, {findings} findings")
    if findings:
        return EXIT_AUDIT_FINDINGS
    return EXIT_REJECTS if rejects.count else EXIT_OK


# --- main ----------------------------------------------------------------------------------------------------

_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"redact": _redact, "restore": _restore, "audit": _audit}


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C (temporary files are removed on the way out)."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anonymizer`` command; returns the exit code (see ``anonymizer --help``)."""
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        run: Callable[[argparse.Namespace], int] = args.run
        return run(args)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return _COMMANDS[args.command](args)
    except (CliFailure, ExportFileError) as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc}\n")
        return exc.code
    except AnonymizerError as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"\nanonymizer {args.command}: interrupted; no output written\n")
        return EXIT_INTERRUPTED
    except _Terminated:
        sys.stderr.write(f"anonymizer {args.command}: terminated; no output written\n")
        return EXIT_TERMINATED
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_IO
    except OSError as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc.strerror or exc}\n")
        return EXIT_IO
    finally:
        with contextlib.suppress(ValueError, TypeError):
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
