"""``anonymizer serve``: run the anonymizing proxy in front of a Kibana.

The main CLI adds the sub-command with :func:`add_serve_parser` and runs it with :func:`run_serve`;
``python -m anonymizer.proxy`` does the same on its own.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from anonymizer._cli.options import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliFailure,
    add_detect_options,
    add_engine_options,
    detect_model,
    read_key,
    read_policy,
)
from anonymizer._install import install_hint

__all__ = ["add_serve_parser", "run_serve"]

_EXIT_STARTUP = 3  # uvicorn's own code when it cannot listen (port in use)

_HELP = """\
Run an HTTP proxy in front of Kibana's AI Assistant APIs: requests are anonymized before they reach Kibana
(and the model behind it), answers and streams are restored before they reach the client. Each conversation's
replacements are kept in the store, keyed by a hash of the caller's credential and the conversation id.

The store holds every original the proxy has seen: protect the SQLite file (created with mode 0600) or the
Redis instance like the data itself.

examples:
  anonymizer serve --upstream http://127.0.0.1:5601
  anonymizer serve --upstream https://kibana.internal:5601 --port 8443 --store redis://127.0.0.1:6379/0 \\
      --tokens keyed --key-file token.key --policy anonymization_fields.json
  anonymizer serve --upstream http://127.0.0.1:5601 --detect    # also hide PII and secrets found in free text

Without a credential (Authorization header or Kibana's session cookie) the rewritten routes answer 401: the
store is keyed by user. --allow-anonymous lets such requests share one "anonymous" identity (and its maps).

Endpoints of its own: /_anonymizer/live (liveness), /_anonymizer/ready (store and upstream reachable, else 503),
/metrics (Prometheus).

exit codes:
  0    stopped normally
  2    usage error (bad option, unreadable policy or key file, unknown store URL, detector that cannot load)
  3    could not start (the port is in use, or the store cannot be reached)
  130  interrupted (Ctrl-C), after a graceful shutdown
  143  terminated (SIGTERM), after a graceful shutdown
"""


class _Terminated(Exception):
    """SIGTERM arrived (uvicorn has already shut down gracefully when it is raised)."""


def _terminated(signum: int, frame: FrameType | None) -> None:
    raise _Terminated


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` sub-command to an ``argparse`` sub-parsers object and return its parser."""
    serve: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the anonymizing proxy in front of Kibana",
        description=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--upstream", required=True, metavar="URL", help="the Kibana base URL")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    serve.add_argument(
        "--store",
        default="sqlite:///anonymizer-replacements.db",
        metavar="URL",
        help="sqlite:///PATH (default: sqlite:///anonymizer-replacements.db), redis://HOST:PORT/DB or memory:",
    )
    add_engine_options(serve)
    serve.add_argument(
        "--identity-key-file",
        metavar="FILE",
        help="secret that makes user identities HMACs of the credentials (recommended with Basic auth)",
    )
    add_detect_options(serve)
    serve.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="serve requests without credential under one shared 'anonymous' identity (default: refuse them, 401)",
    )
    serve.add_argument(
        "--session-cache",
        type=int,
        default=256,
        metavar="N",
        help="conversations whose compiled session stays in memory (default: 256; 0: none)",
    )
    serve.add_argument("--timeout", type=float, default=300.0, metavar="S", help="upstream read timeout (default: 300)")
    serve.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    serve.set_defaults(run=run_serve)
    return serve


def _engine(args: argparse.Namespace) -> Any:
    """The engine the options describe, with its detectors loaded (a missing model fails here, at start)."""
    from anonymizer import Anonymizer, FieldPolicy
    from anonymizer.errors import AnonymizerError

    policy = FieldPolicy.from_fields(read_policy(args.policy)) if args.policy else None
    if args.tokens == "keyed" and not args.key_file:
        raise CliFailure("--tokens keyed needs --key-file", EXIT_USAGE)
    key = read_key(args.key_file, "key") if args.key_file else None
    model = detect_model(args)
    try:
        detectors: tuple[Any, ...] = ()
        if args.detect:
            from anonymizer.detect import presidio

            detectors = (presidio(model=model),)
        return Anonymizer(policy=policy, tokens=args.tokens, key=key, detectors=detectors)
    except ImportError:
        raise CliFailure(f"--detect needs the detection libraries: {install_hint('detect')}", EXIT_USAGE) from None
    except (ValueError, AnonymizerError) as exc:
        raise CliFailure(str(exc), EXIT_USAGE) from None


def run_serve(args: argparse.Namespace) -> int:
    """Run the proxy with the parsed ``serve`` options until interrupted; return the exit code."""
    try:
        import httpx
        import uvicorn

        from anonymizer.proxy import configure_logging, create_app, store_from_url
    except ImportError as exc:  # pragma: no cover - depends on the installation
        print(f"anonymizer serve: needs the proxy extra ({install_hint('proxy')}): {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        engine = _engine(args)
        identity_key = read_key(args.identity_key_file, "identity key") if args.identity_key_file else None
        try:
            store = store_from_url(args.store)
        except ValueError as exc:
            raise CliFailure(f"--store: {exc}", EXIT_USAGE) from None
        if args.session_cache < 0:
            raise CliFailure("--session-cache cannot be negative", EXIT_USAGE)
        timeout = httpx.Timeout(connect=10.0, read=args.timeout, write=60.0, pool=10.0)
        try:
            app = create_app(
                args.upstream,
                engine=engine,
                store=store,
                timeout=timeout,
                identity_key=identity_key,
                session_cache_size=args.session_cache,
                allow_anonymous=args.allow_anonymous,
                close_store=True,  # at shutdown, on the server's loop (Redis connections belong to it)
            )
        except ValueError as exc:
            raise CliFailure(f"--upstream: {exc}", EXIT_USAGE) from None
    except CliFailure as exc:
        print(f"anonymizer serve: {exc}", file=sys.stderr)
        return exc.code
    configure_logging(args.log_level.upper())
    config = uvicorn.Config(
        app, host=args.host, port=args.port, lifespan="on", log_config=None, access_log=False, proxy_headers=False
    )
    server = uvicorn.Server(config)
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main else None
    code = EXIT_OK
    try:
        server.run()  # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again
        if not server.started:
            code = _EXIT_STARTUP
    except _Terminated:
        code = EXIT_TERMINATED
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    except SystemExit as exc:  # uvicorn exits with 3 when it cannot bind
        code = exc.code if isinstance(exc.code, int) else _EXIT_STARTUP
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)
    return code
