"""Run every benchmark in this folder and print the figures.

    python benchmarks/run.py            # a table, with the targets
    python benchmarks/run.py --quick --json

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> dict``; the figures are merged into one
object. Speed figures are ratios against a baseline measured in the same process.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

# figure -> (comparison, target): the project's performance targets
TARGETS: dict[str, tuple[str, float]] = {
    "restore_speedup_vs_kibana_1000": (">=", 50),
    "restore_flatness_10_to_10000": ("<=", 1.5),
    "placeholder_restore_flatness_10_to_10000": ("<=", 1.5),
    "anonymize_data_vs_orjson": ("<=", 3),
    "anonymize_new_session_vs_orjson": ("<=", 20),
    "conversation_growth_1_20_to_481_500": ("<=", 1.5),
    "resumed_restore_vs_kibana_10000": (">=", 5),
    "resumed_anonymize_vs_orjson_10000": ("<=", 20),
    "stream_vs_whole_64b": ("<=", 3),
    "stream_vs_whole_1mb_line_10000": ("<=", 3),
    "stream_us_per_chunk": ("<=", 2),
    "detect_speedup_vs_presidio": (">=", 3),
    "proxy_added_latency_growth_10_to_10000": ("<=", 1.5),
    "redact_peak_rss_ratio_10k_100k": ("<=", 1.3),
    "mint_numeric_growth_1000_to_20000": ("<=", 1.5),
}


def machine() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"python": platform.python_version(), "cpu": cpu, "cores": os.cpu_count(), "os": platform.system()}


def load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def isolated(name: str, quick: bool) -> dict[str, Any]:
    """Run one benchmark in a fresh interpreter and return its figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--json", "--only", name]
    if quick:
        command.append("--quick")
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    try:
        figures: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        lines = done.stderr.strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit {done.returncode}") from None
    if done.returncode != 0 and f"{name}_error" not in figures:
        raise RuntimeError(f"exit {done.returncode}")
    for key in ("machine", "quick"):
        figures.pop(key, None)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller inputs")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", action="append", default=[], help="run only bench_<NAME>.py (repeatable)")
    parser.add_argument(
        "--same-process",
        action="store_true",
        help="run every benchmark in this process (default: each in a fresh interpreter, so that none is "
        "measured in a heap another one left behind)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    figures: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    failed: list[str] = []
    for path in sorted(HERE.glob("bench_*.py")):
        name = path.stem.removeprefix("bench_")
        if args.only and name not in args.only:
            continue
        try:
            if args.same_process or len(args.only) == 1:
                figures.update(load(path).run(args.quick))
            else:
                figures.update(isolated(name, args.quick))
                if f"{name}_error" in figures:
                    failed.append(name)
        except Exception as exc:  # report and go on: one broken benchmark must not hide the others
            failed.append(name)
            figures[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            mark = ""
            if key in TARGETS and isinstance(value, int | float):
                op, target = TARGETS[key]
                ok = value >= target if op == ">=" else value <= target
                mark = f"  (target {op} {target}: {'met' if ok else 'MISSED'})"
            print(f"{key:45} {value}{mark}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
