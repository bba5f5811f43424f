"""The base of the security recognizers: a Presidio pattern recognizer that reports only the sensitive part.

Most security values are recognisable only by the words around them (``password: hunter2``, ``user=jdoe``,
``on host WS-042``): a pattern matches the context and the value, names the value ``(?P<value>...)``, and
only the value is reported, so the context words stay visible to the model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

__all__ = ["ValuePatternRecognizer", "recognizer_result", "word_set"]

# Trailing characters that end a sentence or a quotation rather than a value.
_TRAILING = ".,;:!?)]}>'\"`"


class ValuePatternRecognizer(PatternRecognizer):
    """A Presidio ``PatternRecognizer`` whose patterns may name a ``value`` group: only that group is reported.

    Patterns are compiled once with Python's ``re`` (``re.IGNORECASE`` is not implied: write ``(?i:...)``
    around context words). Trailing sentence punctuation is trimmed off each value, then :meth:`accept`
    decides (override it to veto values: placeholders, stop words). ``prefilter``, a regex every match needs
    somewhere in the text (the keywords or prefixes the patterns start with), skips texts without it in one
    scan; ``pattern_prefilters`` does the same per pattern (by pattern name). Subclass it or build one directly::

        from presidio_analyzer import Pattern
        ticket = ValuePatternRecognizer(
            "TICKET_ID", name="TicketRecognizer",
            patterns=[Pattern("ticket", r"(?i:ticket)\\s*#?(?P<value>INC\\d{6,})", 0.8)],
        )
        detector = presidio(extra_recognizers=[ticket], entities=[*DEFAULT_ENTITIES, "TICKET_ID"])
    """

    def __init__(
        self,
        supported_entity: str,
        *,
        name: str,
        patterns: Sequence[Pattern],
        language: str = "en",
        trim: str = _TRAILING,
        context: Iterable[str] | None = None,
        prefilter: str | None = None,
        pattern_prefilters: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            supported_entity=supported_entity,
            name=name,
            patterns=list(patterns),
            supported_language=language,
            context=list(context) if context is not None else [],
        )
        self._trim = trim
        self._prefilter = re.compile(prefilter) if prefilter is not None else None
        gates = {name: re.compile(gate) for name, gate in (pattern_prefilters or {}).items()}
        self._compiled = [(p, re.compile(p.regex), gates.get(p.name)) for p in patterns]

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` (``value``) is reported; every non-empty value by default."""
        return bool(value)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: Any = None,
    ) -> list[RecognizerResult]:
        """Each pattern's ``value`` group (or whole match) that :meth:`accept` takes, as a result."""
        results: list[RecognizerResult] = []
        if self._prefilter is not None and self._prefilter.search(text) is None:
            return results
        entity = self.supported_entities[0]
        for pattern, compiled, gate in self._compiled:
            if gate is not None and gate.search(text) is None:
                continue
            has_value = "value" in compiled.groupindex
            for m in compiled.finditer(text):
                start, end = m.span("value") if has_value else m.span()
                if start < 0:
                    continue
                while end > start and text[end - 1] in self._trim:
                    end -= 1
                if end <= start or not self.accept(text[start:end], text, start, end):
                    continue
                results.append(recognizer_result(self, entity, start, end, pattern.score, pattern.name, pattern.regex))
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return deduplicated


def recognizer_result(
    recognizer: EntityRecognizer,
    entity: str,
    start: int,
    end: int,
    score: float,
    why: str,
    pattern: str = "",
) -> RecognizerResult:
    """A result of ``recognizer`` for ``text[start:end]``, with the explanation (``why``: the pattern's name,
    ``pattern``: its regex) and the metadata (the recognizer's name and id) Presidio's own recognizers give theirs."""
    label: str = recognizer.name  # type: ignore[has-type]  # Presidio sets it in __init__ without an annotation
    explanation = AnalysisExplanation(label, score, why, pattern)
    metadata = {RecognizerResult.RECOGNIZER_NAME_KEY: label, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id}
    return RecognizerResult(entity, start, end, score, explanation, metadata)


def word_set(text: str) -> frozenset[str]:
    """The whitespace-separated words of ``text`` (for word lists written as one string)."""
    return frozenset(text.split())
