"""What a free-text detector reports, and the protocol a detector follows.

The engine only knows this protocol; :mod:`anonymizer.detect` provides the Presidio/spaCy implementation.
A detector is any object with a ``detect`` method (and, optionally, a batched ``detect_many``)::

    class Hostnames:
        def detect(self, text: str) -> list[Finding]:
            return [Finding(m.start(), m.end(), "HOST_NAME") for m in HOST_RE.finditer(text)]

    engine = Anonymizer(detectors=[Hostnames()])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Detector", "Finding", "detect_many", "resolve_overlaps"]


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """A span of text ``[start, end)`` (Python ``str`` indices) that holds an entity of ``entity_class``.

    ``entity_class`` is a short upper-case label (``PERSON``, ``EMAIL_ADDRESS``, ``IP_ADDRESS`` or a Kibana
    rule's ``entityClass``); token strategies that are typed (``placeholder``, ``mask``) use it.
    ``score`` is the detector's confidence in ``[0, 1]``; ``rule`` optionally names the rule that fired.
    """

    start: int
    end: int
    entity_class: str
    score: float = 1.0
    rule: int = 0


@runtime_checkable
class Detector(Protocol):
    """Finds sensitive spans in free text. Implementations must be safe to call from several threads."""

    def detect(self, text: str) -> Sequence[Finding]:
        """Return the findings in ``text`` (any order; overlaps allowed, the engine resolves them)."""
        ...


def detect_many(detector: Detector, texts: Sequence[str]) -> list[Sequence[Finding]]:
    """Run ``detector`` over many texts, through its batched ``detect_many`` when it has one."""
    batched = getattr(detector, "detect_many", None)
    if batched is not None:
        return list(batched(texts))
    return [detector.detect(t) for t in texts]


def resolve_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Keep non-overlapping findings: earliest start wins, then the longer span, then the earlier rule.

    Empty spans are dropped. The result is sorted by start.

    >>> resolve_overlaps([Finding(0, 4, "URL"), Finding(0, 9, "EMAIL"), Finding(5, 9, "HOST_NAME")])
    [Finding(start=0, end=9, entity_class='EMAIL', score=1.0, rule=0)]
    """
    kept: list[Finding] = []
    end = 0
    for f in sorted(findings, key=lambda f: (f.start, -f.end, f.rule)):
        if f.end > f.start and f.start >= end:
            kept.append(f)
            end = f.end
    return kept
