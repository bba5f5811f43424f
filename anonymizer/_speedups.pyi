# The compiled fast path of the text stream restorer (anonymizer/_speedups.c; optional: see anonymizer/stream.py).
from collections.abc import Callable, Mapping

from .restore import RawEvent

class HoldBase:
    text: str | bytes
    _before: str | bytes
    _log: list[bytes]
    _events: list[RawEvent] | None
    offset: int
    _due: int
    _run_map: bytes
    _run: str
    _ends: dict[str | bytes, int]
    _end: int
    _tail: Callable[[str | bytes, str], int]
    _originals: Mapping[str, str]
    _keys: list[str]
    _longest: int
    _memo: dict[str | bytes, int]
    _memo_run: int
    def feed_bytes(self, chunk: bytes, /) -> bytes | None: ...
