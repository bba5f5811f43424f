"""What a free-text detector reports, and the protocol a detector follows.

The engine only knows this protocol; :mod:`anonymizer.detect` provides the Presidio/spaCy implementation.
A detector is any object with a ``detect`` method (and, optionally, a batched ``detect_many``)::

    class Hostnames:
        def detect(self, text: str) -> list[Finding]:
            return [Finding(m.start(), m.end(), "HOST_NAME") for m in HOST_RE.finditer(text)]

    engine = Anonymizer(detectors=[Hostnames()])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Detector", "Finding", "detect_many"]


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
