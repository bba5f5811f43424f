"""``python -m anonymizer.proxy --upstream URL``: the same as ``anonymizer serve``."""

from __future__ import annotations

import argparse
import sys

from anonymizer.proxy.cli import add_serve_parser, run_serve


def main(argv: list[str] | None = None) -> int:
    """Parse ``serve`` options and run the proxy until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m anonymizer.proxy")
    commands = parser.add_subparsers(dest="command")
    add_serve_parser(commands)
    args = parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    return run_serve(args)


if __name__ == "__main__":
    sys.exit(main())
