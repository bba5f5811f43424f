"""Running the per-record work: in process or on a bounded process pool (order kept), with progress and summary."""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import IO, Any, TypeVar

__all__ = ["Progress", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

_BATCH = 64  # records per task sent to a worker process
_IN_FLIGHT_PER_WORKER = 4  # tasks queued per worker: bounds the memory held in transit

_worker_fn: Callable[[Any], Any] | None = None  # the job of this worker process (set by its initializer)


def _init(factory: Callable[..., Callable[[Any], Any]], args: tuple[Any, ...]) -> None:
    global _worker_fn  # noqa: PLW0603 - one job per worker process, built once
    _worker_fn = factory(*args)


def _run_batch(items: list[Any]) -> list[Any]:
    assert _worker_fn is not None
    return [_worker_fn(item) for item in items]


def ordered_map(
    factory: Callable[..., Callable[[T], R]], args: tuple[Any, ...], items: Iterable[T], *, workers: int
) -> Iterator[R]:
    """``factory(*args)(item)`` for each item, in order; on ``workers`` processes when more than one.

    At most ``workers * 4`` batches of 64 items are in flight, so memory stays flat whatever the input size.
    """
    if workers <= 1:
        job = factory(*args)
        for item in items:
            yield job(item)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init, initargs=(factory, args)) as pool:
        pending: deque[Future[list[R]]] = deque()
        batch: list[T] = []
        try:
            for item in items:
                batch.append(item)
                if len(batch) == _BATCH:
                    pending.append(pool.submit(_run_batch, batch))
                    batch = []
                    if len(pending) >= workers * _IN_FLIGHT_PER_WORKER:
                        yield from pending.popleft().result()
            if batch:
                pending.append(pool.submit(_run_batch, batch))
            while pending:
                yield from pending.popleft().result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class Progress:
    """A one-line progress indicator on a terminal (nothing when stderr is piped) and the final summary line."""

    def __init__(self, command: str, *, total_bytes: int = 0, stream: IO[str] | None = None) -> None:
        self.command = command
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.total_bytes = total_bytes
        self.started = time.monotonic()
        self._shown = 0.0
        self.records = 0

    def tick(self, consumed: Callable[[], int]) -> None:
        """Count one record; redraw at most 5 times a second."""
        self.records += 1
        if not self.live:
            return
        now = time.monotonic()
        if now - self._shown < 0.2:
            return
        self._shown = now
        rate = self.records / max(now - self.started, 1e-9)
        share = f" {100 * consumed() / self.total_bytes:5.1f}%" if self.total_bytes else ""
        self.stream.write(f"\r{self.command}:{share} {self.records:,} records, {rate:,.0f} records/s ")
        self.stream.flush()

    def rate(self) -> float:
        """Records per second so far."""
        return self.records / max(time.monotonic() - self.started, 1e-9)

    def summary(self, text: str) -> None:
        """Clear the progress line and print the summary."""
        if self.live:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{self.command}: {text}, {self.rate():,.0f} records/s\n")
        self.stream.flush()
