"""`anonymizer serve`: the installed command on loopback: health, exit codes, detection end to end."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import orjson
import pytest

from anonymizer.proxy.testing import KibanaStandIn, serve_in_thread

# the command installed beside this interpreter (a virtualenv's), else the one on PATH
_BESIDE = Path(sys.executable).with_name("anonymizer")
ANONYMIZER = str(_BESIDE) if _BESIDE.exists() else shutil.which("anonymizer")
pytestmark = pytest.mark.skipif(ANONYMIZER is None, reason="the anonymizer command is not installed")
CHAT = "/api/security_ai_assistant/chat/complete"
AUTH = {"Authorization": "ApiKey c2VydmU6dGVzdA==", "kbn-xsrf": "true"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(*options: str, upstream: str = "http://127.0.0.1:9") -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start `anonymizer serve` on a free port; yield it once live; stop it (bounded) at the end."""
    assert ANONYMIZER is not None
    port = _free_port()
    command = [ANONYMIZER, "serve", "--upstream", upstream, "--port", str(port), "--store", "memory:", *options]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # bounded polling for the start of the server
            try:
                httpx.get(url + "/_anonymizer/live", timeout=2, trust_env=False)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_serve_starts_and_reports_health() -> None:
    """`anonymizer serve` listens on loopback: live (200), not ready while its upstream is down (503)."""
    with serve() as (_, url):
        live = httpx.get(url + "/_anonymizer/live", timeout=5, trust_env=False)
        ready = httpx.get(url + "/_anonymizer/ready", timeout=10, trust_env=False)
        assert live.status_code == 200 and live.json() == {"status": "ok"}
        assert ready.status_code == 503 and ready.json()["upstream"] == "unreachable"


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_serve_exit_codes_on_signals(sig: signal.Signals, code: int) -> None:
    """SIGTERM ends `serve` with 143 and SIGINT with 130, after a graceful shutdown."""
    with serve() as (proc, _):
        proc.send_signal(sig)
        assert proc.wait(timeout=30) == code


def test_serve_exit_code_on_a_busy_port() -> None:
    """A port already in use ends `serve` with 3, and the log says why."""
    assert ANONYMIZER is not None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        done = subprocess.run(
            [ANONYMIZER, "serve", "--upstream", "http://127.0.0.1:9", "--port", port, "--store", "memory:"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 3
    assert b"address already in use" in done.stderr
    assert b"\x1b[" not in done.stderr  # JSON lines, no terminal colours


def test_serve_rejects_a_bad_store_url() -> None:
    """A store URL of an unknown scheme exits with the usage code 2."""
    assert ANONYMIZER is not None
    done = subprocess.run(
        [ANONYMIZER, "serve", "--upstream", "http://127.0.0.1:9", "--store", "ftp://nowhere"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert b"--store" in done.stderr


JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.mark.parametrize(
    ("secret", "text"),
    [
        ("+1 415-555-0132", "Call the analyst at +1 415-555-0132 about the alert"),
        (JWT, f"The request carried Authorization: Bearer {JWT} from the proxy"),
    ],
    ids=["phone", "jwt"],
)
def test_serve_detect_hides_free_text_secrets_end_to_end(secret: str, text: str) -> None:
    """`serve --detect`: a phone number or a JWT no policy names, in a new conversation, never reaches the
    upstream and comes back restored."""
    kibana = KibanaStandIn()
    with ExitStack() as stack:
        upstream = stack.enter_context(serve_in_thread(kibana.app()))
        _, url = stack.enter_context(serve("--detect", "--detect-model", "none", upstream=upstream))
        body = {
            "connectorId": "c",
            "persist": False,
            "isStream": False,
            "messages": [{"role": "user", "content": text}],
        }
        r = httpx.post(url + CHAT, content=orjson.dumps(body), headers=AUTH, timeout=60, trust_env=False)
    assert r.status_code == 200
    (sent,) = kibana.bodies(CHAT)
    assert secret.encode() not in sent
    assert secret[-8:].encode() not in sent  # nor a part of it
    assert text in r.json()["data"]
