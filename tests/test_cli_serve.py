"""`anonymizer serve`: the proxy started from the installed command answers its health check on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# the command installed beside this interpreter (a virtualenv's), else the one on PATH
_BESIDE = Path(sys.executable).with_name("anonymizer")
ANONYMIZER = str(_BESIDE) if _BESIDE.exists() else shutil.which("anonymizer")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(ANONYMIZER is None, reason="the anonymizer command is not installed")
def test_serve_starts_and_reports_health(tmp_path: object) -> None:
    """`anonymizer serve` listens on loopback and its health endpoint answers 200 with the store status."""
    assert ANONYMIZER is not None
    port = _free_port()
    proc = subprocess.Popen(
        [ANONYMIZER, "serve", "--upstream", "http://127.0.0.1:9", "--port", str(port), "--store", "memory:"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        response = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/_anonymizer/health", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None:
                    break
                time.sleep(0.1)
        assert response is not None, proc.stderr.read().decode() if proc.stderr else "no output"
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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
