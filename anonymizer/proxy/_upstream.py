"""Talking to the upstream Kibana: URLs, the headers that pass in each direction, and Kibana-shaped errors."""

from __future__ import annotations

from collections.abc import Iterable

import httpx
import orjson
from starlette.responses import Response

__all__ = [
    "DEFAULT_TIMEOUT",
    "KIBANA_PHRASES",
    "UpstreamFailure",
    "kibana_error",
    "request_headers",
    "response_headers",
    "upstream_url",
]

#: Kibana streams model output: a long read timeout (the Observability assistant sends a keep-alive every 30 s).
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=300.0, write=60.0, pool=10.0)

# RFC 9110 §7.6.1 connection-specific fields, plus the ones proxies must not forward
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
_NOT_FORWARDED = _HOP_BY_HOP | {b"host", b"expect"}
_BODY_FIELDS = frozenset({b"content-length", b"content-encoding"})
# The server in front of the app (uvicorn, hypercorn) always writes its own Date and Server: the upstream's would
# make them appear twice.
_SERVER_FIELDS = frozenset({b"date", b"server"})

#: The reason phrases Kibana puts in the ``error`` of its error bodies (the table of hapi's Boom, which Kibana's
#: HTTP server uses), for the statuses the proxy answers itself. Fixed here: Python's ``HTTPStatus`` phrases
#: differ (413, 504) and changed in Python 3.13 (413, 422).
KIBANA_PHRASES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Time-out",
    413: "Request Entity Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


class UpstreamFailure(Exception):
    """The upstream could not give an answer: the status to return (502, 504) and a message without data."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def kibana_error(status: int, message: str) -> Response:
    """A response in Kibana's error shape: ``{"statusCode", "error", "message"}``.

    >>> kibana_error(502, "upstream unreachable").body
    b'{"statusCode":502,"error":"Bad Gateway","message":"upstream unreachable"}'
    """
    body = {"statusCode": status, "error": KIBANA_PHRASES.get(status, "Unknown"), "message": message}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def upstream_url(base: httpx.URL, raw_path: bytes, query: bytes) -> httpx.URL:
    """``base`` (which may carry a base path) joined with the request's raw path and query, encoding kept."""
    prefix = base.raw_path.split(b"?", 1)[0].rstrip(b"/")
    target = prefix + (raw_path or b"/")
    if query:
        target += b"?" + query
    return base.copy_with(raw_path=target)


def _connection_named(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    named: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            named.update(part.strip().lower() for part in value.split(b",") if part.strip())
    return named


def request_headers(raw: list[tuple[bytes, bytes]], *, rewritten: bool) -> list[tuple[bytes, bytes]]:
    """The client's headers to send upstream: hop-by-hop fields and ``Host`` dropped.

    For a rewritten body ``Content-Length`` is left to the client library (recomputed) and the response is
    asked for without compression, since it has to be read to be restored.
    """
    drop = _NOT_FORWARDED | _connection_named(raw)
    if rewritten:
        drop = drop | {b"content-length", b"accept-encoding"}
    out = [(name, value) for name, value in raw if name.lower() not in drop]
    if rewritten:
        out.append((b"accept-encoding", b"identity"))
    return out


def response_headers(response: httpx.Response, *, rewritten: bool) -> list[tuple[bytes, bytes]]:
    """The upstream's headers to send to the client: hop-by-hop fields, ``Date`` and ``Server`` dropped
    (repeated fields kept; the server in front of the proxy writes its own ``Date`` and ``Server``).

    For a rewritten (restored) body ``Content-Length`` and ``Content-Encoding`` are dropped: the body is
    decoded, and its length is set again (or it is streamed chunked). ``X-Accel-Buffering`` and
    ``Cache-Control`` are kept, so streams stay unbuffered behind nginx.
    """
    raw = response.headers.raw
    drop = _HOP_BY_HOP | _SERVER_FIELDS | _connection_named(raw)
    if rewritten:
        drop = drop | _BODY_FIELDS
    return [(name.lower(), value) for name, value in raw if name.lower() not in drop]
