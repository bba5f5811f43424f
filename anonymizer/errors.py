"""The exceptions raised by :mod:`anonymizer`.

Every error the library raises on purpose derives from :class:`AnonymizerError`, grouped by what the caller can
do about it::

    AnonymizerError                          .path  .line  .rule: where the problem is (None when not known)
    ├── ConfigError        (ValueError)      a bad option: unknown token strategy, payload kind or store URL;
    │                                        a missing or empty key; an out-of-range setting
    ├── ArgumentTypeError  (TypeError)       a function got an argument of the wrong type (a str where bytes
    │                                        are expected, a number where text is expected, ...)
    ├── PolicyError        (ValueError)      a field policy or anonymization-field list is malformed
    ├── PayloadError       (ValueError)      a payload or ECS data failed validation (every problem with its
    │                                        JSON path in .issues); .to_kibana_error()
    ├── ReplacementsError  (ValueError)      a replacements map is malformed or conflicts with the session
    ├── TokenError         (ValueError)      a token strategy cannot give a usable token for an original
    ├── DetectorError                        a free-text detector is missing, misconfigured (.rule) or failed
    ├── StreamError        (ValueError)      a stream restorer was misused (fed after close, unknown format)
    └── StoreError         (RuntimeError)    a replacements store could not be reached or used

Messages name *where* the problem is (a JSON path such as ``$.messages[0].role``, a line number, a rule index)
and never echo the sensitive value that caused it. Read the location from the attributes, not from ``str(exc)``:

>>> try:
...     raise ConfigError("unknown token strategy", path="tokens")
... except AnonymizerError as exc:
...     (exc.path, exc.line, exc.rule)
('tokens', None, None)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AnonymizerError",
    "ArgumentTypeError",
    "ConfigError",
    "DetectorError",
    "Issue",
    "PayloadError",
    "PolicyError",
    "ReplacementsError",
    "StoreError",
    "StreamError",
    "TokenError",
    "json_path",
]


class AnonymizerError(Exception):
    """Base class of every error raised on purpose by :mod:`anonymizer`.

    ``path`` is where the problem is in a JSON value or a configuration (``$.messages[0].role``,
    ``rules[2].pattern``, ``tokens``), ``line`` the 1-based line of an input file or stream, ``rule`` the index
    of a detector rule; each is ``None`` when it does not apply. None of them ever holds a sensitive value.
    """

    path: str | None
    line: int | None
    rule: int | None

    def __init__(
        self, message: str = "", *, path: str | None = None, line: int | None = None, rule: int | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.rule = rule


class ConfigError(AnonymizerError, ValueError):
    """An option or argument has a value the library cannot work with: an unknown name (token strategy, payload
    kind, store URL), a missing or empty key, a setting out of range. Fix the call; retrying cannot help."""


class ArgumentTypeError(AnonymizerError, TypeError):
    """A function got an argument of the wrong type (``feed("text")`` where bytes are expected, a number
    where text is expected). The message names the argument and the types, never the value."""


class PolicyError(AnonymizerError, ValueError):
    """A field policy (anonymization-field list) is malformed."""


class ReplacementsError(AnonymizerError, ValueError):
    """A replacements map is malformed, or conflicts with the map the session already holds.

    Raised, for instance, when a stored map binds a token to another original than the session does:
    replacements are merged, never silently overwritten.
    """


class TokenError(AnonymizerError, ValueError):
    """A token strategy could not give a usable token: it returned something other than a non-empty string, or
    kept returning tokens that are already bound or that contain an original of the conversation."""


class DetectorError(AnonymizerError):
    """A free-text detector could not be built or failed (missing model, bad rule, regex timeout).

    ``rule`` is the index of the offending rule of a rules list, when one is to blame.
    """


class StreamError(AnonymizerError, ValueError):
    """A stream restorer was used out of order (fed after ``close()``, unknown format, ...)."""


class StoreError(AnonymizerError, RuntimeError):
    """A replacements store could not be reached or used (I/O error, Redis down, closed store). Often
    temporary: a server answers 503 and the client may retry."""


def json_path(parts: Iterable[str | int]) -> str:
    """A location as a JSON path: ``json_path(["messages", 0, "role"]) == "$.messages[0].role"``."""
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem: where it is (``path``, a sequence of keys and indices) and what is wrong.

    ``message`` never contains the offending value.
    """

    path: tuple[str | int, ...]
    message: str

    @property
    def json_path(self) -> str:
        """The location as a JSON path, e.g. ``$.messages[0].role``."""
        return json_path(self.path)

    @property
    def dotted_path(self) -> str:
        """The location as Kibana (zod) prints it: keys and indices joined by dots (``messages.0.role``)."""
        return ".".join(str(p) for p in self.path)


class PayloadError(AnonymizerError, ValueError):
    """A payload failed validation. Carries every :class:`Issue` found, each with its JSON path.

    ``str(err)`` lists the problems as ``$.path: message``; ``err.path`` is the JSON path of the first one;
    :meth:`to_kibana_error` gives the body Kibana answers with for an invalid request (HTTP 400).
    """

    #: Kibana lists at most this many issues in a 400 message, then ``and N more``.
    KIBANA_MAX_ISSUES = 5

    def __init__(self, issues: Iterable[Issue], *, kind: str | None = None, line: int | None = None) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.kind = kind
        where = f"invalid {kind} payload" if kind else "invalid payload"
        detail = "; ".join(f"{i.json_path}: {i.message}" for i in self.issues) or "no details"
        at = f"line {line}: " if line is not None else ""
        super().__init__(f"{at}{where}: {detail}", path=self.issues[0].json_path if self.issues else None, line=line)

    def to_kibana_error(self) -> dict[str, object]:
        """The 400 body Kibana returns for this validation failure.

        >>> PayloadError([Issue(("connectorId",), "Required")]).to_kibana_error()["message"]
        '[request body]: connectorId: Required'
        """
        return {
            "statusCode": 400,
            "error": "Bad Request",
            "message": "[request body]: " + kibana_issue_list(self.issues, self.KIBANA_MAX_ISSUES),
        }


def kibana_issue_list(issues: Sequence[Issue], limit: int) -> str:
    """Join issues the way Kibana's ``stringifyZodError`` does: ``path: message, ...`` then ``and N more``."""
    shown = [f"{i.dotted_path}: {i.message}" if i.path else i.message for i in issues[:limit]]
    if len(issues) > limit:
        shown.append(f"and {len(issues) - limit} more")
    return ", ".join(shown)
