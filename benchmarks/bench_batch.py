"""Benchmark of batch redaction past one machine: the CLI (1 and 2 workers), Spark ``local[2]`` and Dask (2 worker
processes) on the same generated export, with keyed tokens; outputs compared (per conversation id).

Figures per engine: records per CPU-second (CPU of the whole process tree: driver, JVM, Python workers; Spark and
Dask are measured after their session or cluster is up, the CLI from its start), records per wall second, and the
peak resident memory of the whole process tree (sampled every 50 ms). Full mode: 20,000 records; quick: 4,000.

    python benchmarks/bench_batch.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from batch_export import by_conversation, export_lines

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = Path(sys.executable).with_name("anonymizer")


class TreeWatch:
    """CPU seconds and peak resident memory of a process and all its descendants."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.root = psutil.Process(pid)
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def processes(self) -> list[Any]:
        import psutil

        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return []

    def cpu(self) -> float:
        """User + system seconds of the live tree, with the children each process has reaped."""
        import psutil

        total = 0.0
        for p in self.processes():
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.05):
            rss = 0
            for p in self.processes():
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak_kib = max(self.peak_kib, rss // 1024)

    def __enter__(self) -> TreeWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- engines, each run in its own interpreter ----------------------------------------------------------------


def _spark(source: str, key: str, out: str) -> None:
    from pyspark.sql import SparkSession

    from anonymizer import spark as anonymizer_spark
    from anonymizer.batch import BatchConfig

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(4).repartition(2).count()  # the session is up
    with TreeWatch(os.getpid()) as watch:
        cpu, started = watch.cpu(), time.perf_counter()
        lines = spark.read.text(source).repartition(2)
        anonymizer_spark.write_shards(lines, out, BatchConfig(key_file=key))
        _report(watch, cpu, started)
    spark.stop()


def _dask(source: str, key: str, out: str) -> None:
    import dask.bag
    from distributed import Client, LocalCluster

    from anonymizer import dask as anonymizer_dask
    from anonymizer.batch import BatchConfig

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address="127.0.0.1:0")
    client = Client(cluster)
    with TreeWatch(os.getpid()) as watch:
        cpu, started = watch.cpu(), time.perf_counter()
        size = os.path.getsize(source)
        lines = dask.bag.read_text(source, blocksize=max(size // 8, 1 << 16))
        anonymizer_dask.write_shards(lines, out, BatchConfig(key_file=key))
        _report(watch, cpu, started)
    client.close()
    cluster.close()


def _report(watch: TreeWatch, cpu: float, started: float) -> None:
    wall = time.perf_counter() - started
    time.sleep(0.1)  # one more memory sample
    print(json.dumps({"cpu_s": watch.cpu() - cpu, "wall_s": wall, "peak_kib": watch.peak_kib}))


def _engine(name: str, source: Path, key: Path, out: Path) -> dict[str, float]:
    """Run the Spark or Dask driver in a fresh interpreter; its figures."""
    done = subprocess.run(
        [sys.executable, __file__, "--engine", name, str(source), str(key), str(out)],
        capture_output=True,
        check=False,
        timeout=3600,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} failed: {done.stderr.decode(errors='replace')[-2000:]}")
    result: dict[str, float] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def _cli(source: Path, key: Path, out: Path, repl: Path, workers: int) -> dict[str, float]:
    args = [str(_SCRIPT), "redact", str(source), "-o", str(out), "--replacements-out", str(repl), "--tokens",
            "keyed", "--key-file", str(key), "--workers", str(workers), "--quiet"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with TreeWatch(proc.pid) as watch:
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"the CLI failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "peak_kib": watch.peak_kib}


def _shards(folder: Path) -> dict[str, tuple[Any, Any]]:
    redacted = [line for p in sorted((folder / "redacted").iterdir()) for line in p.read_text().splitlines()]
    entries = [line for p in sorted((folder / "replacements").iterdir()) for line in p.read_text().splitlines()]
    return by_conversation(redacted, entries)


def run(quick: bool) -> dict[str, Any]:
    """Redact one export with each engine; records per CPU-second, per wall second, peak memory, equality."""
    records = 4_000 if quick else 20_000
    figures: dict[str, Any] = {"batch_records": records}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source, key = folder / "export.ndjson", folder / "token.key"
        source.write_text("\n".join(export_lines(records)) + "\n")
        key.write_text(os.urandom(32).hex())
        results: dict[str, dict[str, float]] = {}
        outputs: dict[str, dict[str, tuple[Any, Any]]] = {}
        for workers in (1, 2):
            out, repl = folder / f"cli{workers}.ndjson", folder / f"cli{workers}.repl"
            results[f"cli_{workers}"] = _cli(source, key, out, repl, workers)
            outputs[f"cli_{workers}"] = by_conversation(out.read_text().splitlines(), repl.read_text().splitlines())
        for name, label in (("spark", "spark_local2"), ("dask", "dask_2")):
            results[label] = _engine(name, source, key, folder / name)
            outputs[label] = _shards(folder / name)
        for label, r in results.items():
            figures[f"batch_{label}_records_per_cpu_s"] = round(records / r["cpu_s"], 1)
            figures[f"batch_{label}_records_per_wall_s"] = round(records / r["wall_s"], 1)
            figures[f"batch_{label}_peak_rss_mib"] = round(r["peak_kib"] / 1024, 1)
        base = results["cli_1"]["cpu_s"]
        for label in ("cli_2", "spark_local2", "dask_2"):
            figures[f"batch_{label}_cpu_vs_cli_1"] = round(results[label]["cpu_s"] / base, 2)
        figures["batch_outputs_equal"] = all(outputs[label] == outputs["cli_1"] for label in outputs)
        figures["batch_conversations_compared"] = len(outputs["cli_1"])
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--engine", choices=("spark", "dask"), help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.engine == "spark":
        _spark(*options.paths)
    elif options.engine == "dask":
        _dask(*options.paths)
    else:
        print(json.dumps(run(options.quick), indent=2))
