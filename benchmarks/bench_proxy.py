"""Proxy load: the same requests sent directly to a Kibana stand-in and through the proxy, on loopback.

The stand-in (:class:`anonymizer.proxy.testing.KibanaStandIn`) and the proxy (``python -m anonymizer.proxy``,
SQLite store in a temporary directory, JSON request logs to /dev/null) run as two subprocesses on 127.0.0.1;
the load comes from this process (httpx). Throughput is measured at concurrency 8, latency one request at a time
(so that it holds no queueing on this 2-core machine). Bounded: 200 requests per throughput phase (quick) or
1000, half as many per latency phase, and a hard time limit; both servers are stopped at the end, whatever
happens.

Figures: ``proxy_rps`` (non-streamed security chat/complete through the proxy), ``proxy_added_latency_p50_ms``
and ``_p99_ms`` (proxy latency percentile minus direct latency percentile, same requests, sequential), the same for
streamed requests (``proxy_stream_*``, time to the end of the stream), ``proxy_ttfb_ms`` (median time to the
first restored byte of a stream) next to ``direct_ttfb_ms``.

Growth with the conversation's map: two conversations whose stored maps hold 10 and 10,000 tokens (written to the
SQLite store before the proxy starts), the same non-streamed chat/complete sent in each, one request at a time,
interleaved with direct requests. ``proxy_added_latency_growth_10_to_10000`` is the proxy's added p50 latency in
the 10,000-token conversation over its added p50 latency in the 10-token one (the compiled session is kept
between requests, so it should stay near 1); ``proxy_cold_request_10000_ms`` is the first request of the
10,000-token conversation (the session built from the stored map). The same measured through a proxy that
keeps no session (``--session-cache 0``, so every request resumes its session from the stored map) gives
``proxy_uncached_added_latency_growth_10_to_10000``, what the cache saves. Run alone with
``python benchmarks/bench_proxy.py [--quick]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import httpx

from anonymizer.proxy import SQLiteStore, conversation_key, user_identity

CONCURRENCY = 8
GROWTH_SIZES = (10, 10_000)
CHAT = "/api/security_ai_assistant/chat/complete"
HEADERS = {"Authorization": "ApiKey YmVuY2g6YmVuY2g=", "kbn-xsrf": "true", "elastic-api-version": "2023-10-31"}
_STANDIN = (
    "import sys, uvicorn\n"
    "from anonymizer.proxy.testing import KibanaStandIn\n"
    "uvicorn.run(KibanaStandIn(chunk=64).app(), host='127.0.0.1', port=int(sys.argv[1]), log_level='error')\n"
)


def _body(i: int, stream: bool) -> bytes:
    data = {
        "user.name": f"user-{i % 50}",
        "host.name": f"host-{i % 20}.corp.local",
        "source.ip": f"10.0.{i % 7}.{i % 200}",
        "event.category": "authentication",
        "process.name": "sshd",
    }
    message = {
        "role": "user",
        "content": f"Why did user-{i % 50} log in to host-{i % 20}.corp.local at 03:00? Summarize the alert.",
        "data": data,
        "fields_to_anonymize": ["source.ip"],
    }
    body = {
        "connectorId": "bench",
        "persist": False,
        "isStream": stream,
        "conversationId": f"bench-{i % 25}",
        "messages": [message],
    }
    return json.dumps(body).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_up(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:  # bounded polling for the start of a server
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1.0, trust_env=False)
            return
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


def _fill(path: str) -> None:
    """Store the maps of the growth conversations (uuid tokens, host-name originals) for the bench's user."""
    import uuid

    async def fill() -> None:
        store = SQLiteStore(path)
        user = user_identity({k.lower(): v for k, v in HEADERS.items()})
        for size in GROWTH_SIZES:
            mapping = {str(uuid.uuid4()): f"stored-{i:05d}.corp.local" for i in range(size)}
            await store.merge(user, conversation_key("security", None, f"growth-{size}"), mapping)
        await store.aclose()

    asyncio.run(fill())


def _growth_body(size: int) -> bytes:
    body = json.loads(_body(7, False))
    body["conversationId"] = f"growth-{size}"
    return json.dumps(body).encode()


def _growth(proxy: str, upstream: str, n: int, deadline: float) -> dict[str, float]:
    """Sequential requests in the 10- and 10,000-token conversations, interleaved with direct ones."""
    times: dict[str, list[float]] = {"direct": [], **{str(size): [] for size in GROWTH_SIZES}}
    out: dict[str, float] = {}
    with httpx.Client(timeout=60, trust_env=False) as client:

        def once(base: str, body: bytes) -> float:
            t0 = time.perf_counter()
            r = client.post(base + CHAT, content=body, headers=HEADERS)
            end = time.perf_counter()
            if r.status_code != 200:
                raise RuntimeError(f"status {r.status_code} from {base}")
            return (end - t0) * 1000

        out["proxy_cold_request_10000_ms"] = round(once(proxy, _growth_body(10_000)), 2)
        once(proxy, _growth_body(10))
        for _ in range(n):
            if time.monotonic() > deadline:
                break
            times["direct"].append(once(upstream, _growth_body(10)))
            for size in GROWTH_SIZES:
                times[str(size)].append(once(proxy, _growth_body(size)))
    direct = statistics.median(times["direct"])
    added = {size: statistics.median(times[str(size)]) - direct for size in GROWTH_SIZES}
    for size in GROWTH_SIZES:
        out[f"proxy_added_latency_p50_ms_{size}_tokens"] = round(added[size], 3)
    out["proxy_added_latency_growth_10_to_10000"] = round(added[10_000] / added[10], 3)
    return out


@contextlib.contextmanager
def _servers(deadline: float) -> Iterator[tuple[str, str, str]]:
    """The stand-in, the proxy, and a proxy that keeps no compiled session (``--session-cache 0``)."""
    upstream_port, proxy_port, uncached_port = _free_port(), _free_port(), _free_port()
    upstream = f"http://127.0.0.1:{upstream_port}"
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
            procs.append(subprocess.Popen([sys.executable, "-c", _STANDIN, str(upstream_port)], **quiet))
            path = os.path.join(tmp, "replacements.db")
            _fill(path)
            store = "sqlite:///" + path
            command = [sys.executable, "-m", "anonymizer.proxy", "--upstream", upstream, "--store", store]
            procs.append(subprocess.Popen([*command, "--port", str(proxy_port)], **quiet))
            procs.append(subprocess.Popen([*command, "--port", str(uncached_port), "--session-cache", "0"], **quiet))
            proxy, uncached = f"http://127.0.0.1:{proxy_port}", f"http://127.0.0.1:{uncached_port}"
            _wait_up(upstream + "/api/status", deadline)
            _wait_up(proxy + "/_anonymizer/live", deadline)
            _wait_up(uncached + "/_anonymizer/live", deadline)
            yield upstream, proxy, uncached
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)


async def _phase(
    base: str, n: int, stream: bool, deadline: float, concurrency: int = 0
) -> tuple[list[float], list[float], float]:
    """Send ``n`` requests (``concurrency`` at once); return latencies, times to first byte (ms), wall time (s)."""
    concurrency = concurrency or CONCURRENCY
    latencies: list[float] = []
    ttfbs: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, trust_env=False, limits=limits) as client:
        queue = iter(range(n))

        async def worker() -> None:
            for i in queue:
                if time.monotonic() > deadline:
                    return
                t0 = time.perf_counter()
                first = None
                async with client.stream("POST", base + CHAT, content=_body(i, stream), headers=HEADERS) as r:
                    async for chunk in r.aiter_raw():
                        if first is None and chunk:
                            first = time.perf_counter()
                    if r.status_code != 200:
                        raise RuntimeError(f"status {r.status_code} from {base}")
                end = time.perf_counter()
                latencies.append((end - t0) * 1000)
                ttfbs.append(((first or end) - t0) * 1000)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - start
    return latencies, ttfbs, wall


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(quick: bool) -> dict[str, float | int | str]:
    """Start both servers, measure, stop them; return the figures."""
    n = 200 if quick else 1000
    deadline = time.monotonic() + (90 if quick else 300)
    out: dict[str, float | int | str] = {"proxy_requests_per_phase": n, "proxy_concurrency": CONCURRENCY}
    with _servers(deadline) as (upstream, proxy, uncached):
        asyncio.run(_phase(proxy, 20, False, deadline))  # warm up both (imports, SQLite, connections)
        asyncio.run(_phase(upstream, 20, False, deadline))
        for stream, prefix in ((False, "proxy"), (True, "proxy_stream")):
            # throughput: concurrency 8
            _, _, direct_wall = asyncio.run(_phase(upstream, n, stream, deadline))
            via, _, wall = asyncio.run(_phase(proxy, n, stream, deadline))
            if not via:
                raise RuntimeError("time limit reached before any request completed")
            out[f"{prefix}_rps"] = round(len(via) / wall, 1)
            out[f"{prefix}_direct_rps"] = round(n / direct_wall, 1)
            # latency: one request at a time, so that the figures hold no queueing
            m = n // 2
            direct, direct_ttfb, _ = asyncio.run(_phase(upstream, m, stream, deadline, concurrency=1))
            via, via_ttfb, _ = asyncio.run(_phase(proxy, m, stream, deadline, concurrency=1))
            if not direct or not via:
                raise RuntimeError("time limit reached before any request completed")
            for q, name in ((0.5, "p50"), (0.99, "p99")):
                out[f"{prefix}_{name}_ms"] = round(_pct(via, q), 2)
                out[f"{prefix}_direct_{name}_ms"] = round(_pct(direct, q), 2)
                out[f"{prefix}_added_latency_{name}_ms"] = round(_pct(via, q) - _pct(direct, q), 2)
            if stream:
                out["proxy_ttfb_ms"] = round(statistics.median(via_ttfb), 2)
                out["direct_ttfb_ms"] = round(statistics.median(direct_ttfb), 2)
        out.update(_growth(proxy, upstream, n // 2, deadline + 120))
        baseline = _growth(uncached, upstream, n // 4, deadline + 240)
        out["proxy_uncached_added_latency_growth_10_to_10000"] = baseline["proxy_added_latency_growth_10_to_10000"]
        out["proxy_uncached_added_latency_p50_ms_10000_tokens"] = baseline["proxy_added_latency_p50_ms_10000_tokens"]
    return out


if __name__ == "__main__":
    for key, value in run("--quick" in sys.argv).items():
        print(f"{key:40} {value}")
