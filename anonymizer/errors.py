"""The exceptions raised by :mod:`anonymizer`.

Every error the library raises on purpose derives from :class:`AnonymizerError`::

    AnonymizerError
    ├── PolicyError        (also a ValueError)  a field policy or anonymization-field list is malformed
    ├── PayloadError       (also a ValueError)  a request/response payload failed validation
    ├── ReplacementsError  (also a ValueError)  a replacements map is malformed or conflicts with the session
    ├── DetectorError                           a free-text detector is missing, misconfigured or failed
    └── StreamError        (also a ValueError)  a stream restorer was misused (e.g. fed after close)

Messages name *where* the problem is (a JSON path such as ``$.messages[0].role``, a token, a line number)
and never echo the sensitive value that caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "AnonymizerError",
    "ConfigError",
    "DetectorError",
    "Issue",
    "PayloadError",
    "PolicyError",
    "ReplacementsError",
    "StreamError",
]


class AnonymizerError(Exception):
    """Base class of every error raised on purpose by :mod:`anonymizer`."""


class ConfigError(AnonymizerError, ValueError):
    """A bad option: an unknown token strategy, a missing or too short key, an unsafe batch configuration."""


class PolicyError(AnonymizerError, ValueError):
    """A field policy (anonymization-field list) is malformed."""


class ReplacementsError(AnonymizerError, ValueError):
    """A replacements map is malformed, or conflicts with the map the session already holds.

    Raised, for instance, when a stored map binds a token to another original than the session does:
    replacements are merged, never silently overwritten.
    """


class DetectorError(AnonymizerError):
    """A free-text detector could not be built or failed (missing model, bad rule, regex timeout)."""


class StreamError(AnonymizerError, ValueError):
    """A stream restorer was used out of order (fed after ``close()``, unknown format, ...)."""


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
        out = ["$"]
        for part in self.path:
            if isinstance(part, int):
                out.append(f"[{part}]")
            elif part.isidentifier():
                out.append(f".{part}")
            else:
                escaped = part.replace("\\", "\\\\").replace("'", "\\'")
                out.append(f"['{escaped}']")
        return "".join(out)

    @property
    def dotted_path(self) -> str:
        """The location as Kibana (zod) prints it: keys and indices joined by dots (``messages.0.role``)."""
        return ".".join(str(p) for p in self.path)


class PayloadError(AnonymizerError, ValueError):
    """A payload failed validation. Carries every :class:`Issue` found, each with its JSON path.

    ``str(err)`` lists the problems as ``$.path: message``; :meth:`to_kibana_error` gives the body Kibana
    answers with for an invalid request (HTTP 400).
    """

    #: Kibana lists at most this many issues in a 400 message, then ``and N more``.
    KIBANA_MAX_ISSUES = 5

    def __init__(self, issues: Iterable[Issue], *, kind: str | None = None) -> None:
        self.issues: tuple[Issue, ...] = tuple(issues)
        self.kind = kind
        where = f"invalid {kind} payload" if kind else "invalid payload"
        detail = "; ".join(f"{i.json_path}: {i.message}" for i in self.issues) or "no details"
        super().__init__(f"{where}: {detail}")

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
