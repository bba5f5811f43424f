"""Prometheus metrics of one proxy app (``prometheus-client``), served at :data:`METRICS_PATH`.

Every label takes its value from a small fixed set (route names, HTTP methods and statuses, outcome names):
never a user, a conversation, a path, a token or an original.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "METRICS_PATH", "Metrics"]

#: Where the proxy serves its metrics (Prometheus' default scrape path); never forwarded.
METRICS_PATH = "/metrics"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# request latencies on loopback are milliseconds; streams of model answers last up to minutes
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The metrics of one app, in a registry of their own (several apps in one process do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._requests = Counter(
            "anonymizer_proxy_requests",
            "Requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "anonymizer_proxy_request_duration_seconds",
            "Time from the request to the end of the answer (streams: to their last byte), by route",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._upstream_latency = Histogram(
            "anonymizer_proxy_upstream_response_seconds",
            "Time from sending a request upstream to the upstream's response headers, by route",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self._tokens = Counter(
            "anonymizer_proxy_tokens",
            "Tokens seen in answers: restored (exact or altered), altered (model-changed copies), unknown (not in "
            "the conversation's map, left as they were); minted: new tokens bound in requests",
            ["outcome"],
            registry=r,
        )
        self._store_errors = Counter(
            "anonymizer_proxy_store_errors", "Replacement store failures, by operation", ["operation"], registry=r
        )
        self._upstream_errors = Counter(
            "anonymizer_proxy_upstream_errors",
            "Upstream failures: unreachable, timeout, cut (a body or stream that stopped mid-way)",
            ["reason"],
            registry=r,
        )
        self._sessions = Counter(
            "anonymizer_proxy_session_cache", "Compiled-session cache lookups: hit or miss", ["result"], registry=r
        )
        self._merge_retries = Counter(
            "anonymizer_proxy_merge_retries",
            "Merges that found the conversation's map changed by another request and anonymized again",
            registry=r,
        )

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count an answered request and its duration."""
        self._requests.labels(route, method if method in _METHODS else "OTHER", str(status)).inc()
        self._latency.labels(route).observe(seconds)

    def upstream_response(self, route: str, seconds: float) -> None:
        """Observe the time to the upstream's response headers."""
        self._upstream_latency.labels(route).observe(seconds)

    def tokens(self, *, restored: int = 0, altered: int = 0, unknown: int = 0, minted: int = 0) -> None:
        """Count tokens restored, altered and unknown in an answer, or minted for a request."""
        for outcome, count in (("restored", restored), ("altered", altered), ("unknown", unknown), ("minted", minted)):
            if count:
                self._tokens.labels(outcome).inc(count)

    def store_error(self, operation: str) -> None:
        """Count a store failure (``version``, ``load``, ``merge``, ``delete``, ``ping``)."""
        self._store_errors.labels(operation).inc()

    def upstream_error(self, reason: str) -> None:
        """Count an upstream failure (``unreachable``, ``timeout``, ``cut``)."""
        self._upstream_errors.labels(reason).inc()

    def session_cache(self, hit: bool) -> None:
        """Count a compiled-session cache lookup."""
        self._sessions.labels("hit" if hit else "miss").inc()

    def merge_retry(self) -> None:
        """Count a merge that lost a race and anonymized again."""
        self._merge_retries.inc()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
