"""Benchmark of ``anonymizer redact``: records/s and the peak-memory ratio between two export sizes.

Peak memory must not grow with the input: the CLI redacts two generated exports in a subprocess each and the
ratio of their peak resident memory is reported (target <= 1.3). Full mode: 10,000 vs 100,000 records; quick
mode: 2,000 vs 20,000, reported under the same keys with ``sizes`` saying which were used.
``tests/cli/test_memory.py`` holds the CLI to the target at the quick sizes.

    python benchmarks/bench_cli.py [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

__all__ = ["measure", "peak_rss", "run", "write_export"]

_SCRIPT = (
    str(Path(sys.executable).parent / "anonymizer")
    if (Path(sys.executable).parent / "anonymizer").exists()
    else (shutil.which("anonymizer") or "anonymizer")
)


#: The people and machines of the deployment the generated conversations come from. An export redacts with memory
#: constant per record plus about 350 bytes per *distinct* original (the export-wide set and its automaton), so the
#: originals are drawn from a fixed population, as in a real deployment, not made unique per conversation.
USERS, HOSTS = 5_000, 1_000


def _conversation(i: int) -> dict[str, Any]:
    """A realistic conversation (four replacements, originals and tokens in its text), distinct per ``i``."""
    t = [str(uuid.UUID(int=(i << 8) + k, version=4)) for k in range(4)]
    u, h = (i * 7919) % USERS, (i * 104_729) % HOSTS
    user, host, ip, mail = (
        f"user{u:06d}",
        f"host-{h:06d}.corp.local",
        f"10.{h % 250}.{h % 97}.{h % 13}",
        f"u{u}@corp.local",
    )
    return {
        "id": str(uuid.UUID(int=i + 1, version=4)),
        "title": f"Failed logins for {user}",
        "category": "assistant",
        "createdAt": "2024-08-02T07:19:08.124Z",
        "users": [{"id": "u_mGBROF_q5bmFCATbLXAcCwKa0k8JvONAwSruelyKA5E_0", "name": "elastic"}],
        "apiConfig": {"connectorId": "86ab-471c", "actionTypeId": ".gen-ai", "model": "gpt-4o"},
        "messages": [
            {"role": "user", "content": f"Why did {user} ({mail}) log in to {host} from {ip}?", "timestamp": "t"},
            {"role": "assistant", "content": f"{t[0]} logged in to {t[1]} from {t[2]}; ask {t[3]}.", "timestamp": "t"},
            {"role": "user", "content": "Summarize the alerts of the last 24 hours, please. " * 4, "timestamp": "t"},
        ],
        "replacements": {t[0]: user, t[1]: host, t[2]: ip, t[3]: mail},
        "namespace": "default",
    }


def write_export(path: Path, records: int) -> None:
    """Write an NDJSON export of ``records`` conversations."""
    with path.open("w") as f:
        for i in range(records):
            f.write(json.dumps(_conversation(i)) + "\n")


def peak_rss(args: list[str]) -> tuple[int, float]:
    """Run a command; return its peak resident set size in KiB and its wall time in seconds."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as err, subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            message = err.read().decode(errors="replace")[-500:]
            raise RuntimeError(f"{args[:2]} exited with {proc.returncode}: {message}")
    return int(usage.ru_maxrss), elapsed


def measure(small: int = 10_000, large: int = 100_000) -> dict[str, float | int]:
    """Redact exports of ``small`` and ``large`` records; peak RSS of each, their ratio and records/s."""
    with tempfile.TemporaryDirectory() as tmp:
        out: dict[str, float | int] = {}
        for name, size in (("small", small), ("large", large)):
            export = Path(tmp) / f"export-{size}.ndjson"
            write_export(export, size)
            rss, seconds = peak_rss(
                [_SCRIPT, "redact", str(export), "-o", str(Path(tmp) / "out.ndjson"), "--replacements-out",
                 str(Path(tmp) / "r.ndjson"), "--quiet"]
            )  # fmt: skip
            export.unlink()
            out[f"{name}_records"] = size
            out[f"{name}_peak_rss_kib"] = rss
            out[f"{name}_records_per_s"] = size / seconds
        out["peak_rss_ratio"] = out["large_peak_rss_kib"] / out["small_peak_rss_kib"]
        return out


def run(quick: bool) -> dict[str, float | int | str]:
    """Redact two exports in a subprocess; records/s (of the larger) and the peak-RSS ratio large/small."""
    small, large = (2_000, 20_000) if quick else (10_000, 100_000)
    figures = measure(small, large)
    return {
        "redact_records_per_s": round(float(figures["large_records_per_s"]), 1),
        "redact_peak_rss_ratio_10k_100k": round(float(figures["peak_rss_ratio"]), 3),
        "redact_peak_rss_kib": int(figures["large_peak_rss_kib"]),
        "sizes": f"{small} vs {large} records" + (" (quick mode)" if quick else ""),
    }


if __name__ == "__main__":
    print(run(quick="--quick" in sys.argv))
