"""The Presidio engine set-up: :func:`presidio` and the :class:`PresidioDetector` it builds."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    IbanRecognizer,
    MacAddressRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UsSsnRecognizer,
)

from anonymizer.detect.analytic import AnalyticTerms
from anonymizer.detect.hosts import HostNameRecognizer, InternalHostRecognizer
from anonymizer.detect.identities import (
    DomainUserRecognizer,
    HomePathUserRecognizer,
    UserNameRecognizer,
    WindowsSidRecognizer,
)
from anonymizer.detect.network import (
    INTERNAL_SUFFIXES,
    AnyHostUrlRecognizer,
    DefangedRecognizer,
    IpAddressRecognizer,
    OfflineEmailRecognizer,
    offline_tldextract,
)
from anonymizer.detect.patterns import ValuePatternRecognizer
from anonymizer.detect.pipeline import DEFAULT_MODEL, LoadedSpacyNlpEngine, chunks, load_pipeline
from anonymizer.detect.secrets import (
    ApiTokenRecognizer,
    AwsKeyRecognizer,
    CredentialRecognizer,
    JwtRecognizer,
    PasswordRecognizer,
    PrivateKeyRecognizer,
)
from anonymizer.errors import DetectorError
from anonymizer.findings import Finding, resolve_overlaps

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult
    from spacy.language import Language

__all__ = ["DEFAULT_ENTITIES", "PresidioDetector", "default_recognizers", "presidio"]

#: Entity classes :func:`presidio` looks for unless told otherwise. Dates, nationalities and organisations
#: are left out (security answers need their times; organisation names are mostly vendors and products).
DEFAULT_ENTITIES: tuple[str, ...] = (
    "CREDIT_CARD",
    "CRYPTO",
    "EMAIL_ADDRESS",
    "HOST_NAME",
    "IBAN_CODE",
    "IP_ADDRESS",
    "MAC_ADDRESS",
    "PASSWORD",
    "PERSON",
    "PHONE_NUMBER",
    "SECRET",
    "URL",
    "USER_NAME",
    "US_SSN",
    "WINDOWS_SID",
)

# spaCy labels onto Presidio's entity names (Presidio's own mapping, plus FAC as a location).
_SPACY_TO_PRESIDIO = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
_NER_ENTITIES = ("LOCATION", "NRP", "ORGANIZATION", "PERSON", "DATE_TIME")

#: What :func:`presidio` keeps visible unless told otherwise.
DEFAULT_KEEP = AnalyticTerms()

_DEFAULT_BATCH_SIZE = 128
_PIPE_CHUNK = 1024  # distinct texts held as spaCy docs at once by detect_many


def default_recognizers(
    language: str = "en", *, internal_suffixes: Iterable[str] = INTERNAL_SUFFIXES
) -> list[EntityRecognizer]:
    """The pattern recognizers :func:`presidio` runs, in priority order (an earlier one wins a tie).

    Secrets (AWS keys, JWTs, prefixed API tokens, credentials in headers and URLs, private keys, passwords
    in context), identities (domain SIDs, ``DOMAIN\\user``, user names in context, home-directory users),
    network (URLs, e-mail, IP addresses, defanged indicators), hosts (internal FQDNs, short names in context),
    then Presidio's phone, card, IBAN, crypto-wallet, MAC and SSN recognizers. Pick, drop or add to the list
    and pass it as ``presidio(recognizers=...)``; each is a Presidio recognizer with a ``name``.

    >>> names = [r.name for r in default_recognizers()]
    >>> names[:3], "PhoneRecognizer" in names
    (['AwsKeyRecognizer', 'JwtRecognizer', 'ApiTokenRecognizer'], True)
    """
    internal = frozenset(s.lower() for s in internal_suffixes)
    return [
        AwsKeyRecognizer(language),
        JwtRecognizer(language),
        ApiTokenRecognizer(language),
        PrivateKeyRecognizer(language),
        CredentialRecognizer(language),
        PasswordRecognizer(language),
        WindowsSidRecognizer(language),
        DomainUserRecognizer(language),
        HomePathUserRecognizer(language),
        OfflineEmailRecognizer(offline_tldextract(), internal, language),
        DefangedRecognizer(language),
        AnyHostUrlRecognizer(internal, language),
        InternalHostRecognizer(internal, language),
        IpAddressRecognizer(language),
        UserNameRecognizer(language),
        HostNameRecognizer(language),
        PhoneRecognizer(supported_language=language),
        CreditCardRecognizer(supported_language=language),
        IbanRecognizer(supported_language=language),
        CryptoRecognizer(supported_language=language),
        MacAddressRecognizer(supported_language=language),
        UsSsnRecognizer(supported_language=language),
    ]


_WARM_UP = (
    "warm-up: ops@corp.example wrote to a@b.com from 10.0.0.1 and fe80::1, see https://x.example/a "
    "and www.example.com; call +1 212 555 0100 or 020 7946 0958; card 4111 1111 1111 1111; "
    "IBAN GB82 WEST 1234 5698 7654 32; host dc01.corp.local; mac 00:1A:2B:3C:4D:5E; John Smith. "
    "password=hunter2x user=jdoe CORP\\jdoe S-1-5-21-1-2-3-500 C:\\Users\\jdoe\\x on WS-042 1.2.3[.]4"
)

# Recognizers that build new result objects on every call (the batch context enhancer relies on it).
_FRESH_RESULT_RECOGNIZERS = frozenset(
    {
        AnyHostUrlRecognizer,
        CreditCardRecognizer,
        CryptoRecognizer,
        DefangedRecognizer,
        IbanRecognizer,
        InternalHostRecognizer,
        IpAddressRecognizer,
        MacAddressRecognizer,
        OfflineEmailRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    }
)


def _name_of(recognizer: EntityRecognizer) -> str:
    return str(getattr(recognizer, "name", ""))


def _makes_fresh_results(recognizer: EntityRecognizer) -> bool:
    kind = type(recognizer)
    if kind in _FRESH_RESULT_RECOGNIZERS:
        return True
    return isinstance(recognizer, ValuePatternRecognizer) and kind.analyze is ValuePatternRecognizer.analyze


class PresidioDetector:
    """A detector on a Presidio ``AnalyzerEngine`` whose NLP engine is spaCy. Build it with :func:`presidio`.

    ``detect(text)`` gives :class:`~anonymizer.findings.Finding` objects; ``detect_many(texts)`` does the
    same for many texts through ``nlp.pipe`` (``batch_size``), analysing each distinct text once.
    ``analyze(text)`` gives Presidio's own ``RecognizerResult`` list (for presidio-anonymizer and
    :class:`SessionTokenOperator`).

    >>> det = presidio(model=None)
    >>> [(f.entity_class, "a@corp.local x"[f.start:f.end]) for f in det.detect("a@corp.local x")]
    [('EMAIL_ADDRESS', 'a@corp.local')]
    """

    def __init__(
        self,
        analyzer: AnalyzerEngine,
        *,
        language: str = "en",
        entities: Sequence[str] | None = None,
        score_threshold: float | None = None,
        batch_size: int = _DEFAULT_BATCH_SIZE,
        keep: AnalyticTerms | None = None,
        speedups: bool = True,
    ) -> None:
        if batch_size < 1:
            raise DetectorError(f"batch_size: expected a positive integer, got {batch_size}", path="batch_size")
        self.analyzer = analyzer
        self.language = language
        self.entities: list[str] = list(entities or analyzer.get_supported_entities(language))
        self.score_threshold = score_threshold
        self.batch_size = batch_size
        self.keep = keep
        self.speedups = speedups
        self._nlp_engine = analyzer.nlp_engine
        # Pattern-only mode (a pipeline without components): tokens carry no lemmas, so Presidio's context
        # words can never raise a score and its recognizers read nothing else from them; texts are not
        # tokenized at all (empty artifacts: the context enhancer skips them, as it skips lemma-less tokens).
        nlp = getattr(analyzer.nlp_engine, "nlp", {}).get(language)
        self._no_tokens: NlpArtifacts | None = None
        if nlp is not None and not nlp.pipe_names:
            self._no_tokens = NlpArtifacts([], [], [], [], analyzer.nlp_engine, language)  # type: ignore[arg-type]
        self._lock = threading.Lock()
        recognizers = analyzer.registry.get_recognizers(language=language, all_fields=True)
        self._rule_of: dict[str, int] = {r.id: i for i, r in enumerate(recognizers)}
        for recognizer in recognizers:  # Presidio loads these lazily inside analyze(), without a lock
            recognizer.load()
            recognizer.is_loaded = True
        self._batch_phones: list[Any] = []
        self._batch_analyzer = analyzer
        if speedups:
            from anonymizer.detect.speedups import batch_analyzer

            self._batch_analyzer, self._batch_phones = batch_analyzer(analyzer, fresh=_makes_fresh_results)
        self.detect(_WARM_UP)  # compiles patterns, loads phone metadata and the suffix trie, once

    def __repr__(self) -> str:
        return f"PresidioDetector(language={self.language!r}, entities={self.entities!r})"

    def _artifacts(self, text: str) -> NlpArtifacts:
        if self._no_tokens is not None:
            return self._no_tokens
        with self._lock:
            return self._nlp_engine.process_text(text, self.language)

    def _analyze(
        self, text: str, artifacts: NlpArtifacts, analyzer: AnalyzerEngine | None = None
    ) -> list[RecognizerResult]:
        results: list[RecognizerResult] = (analyzer or self.analyzer).analyze(
            text,
            language=self.language,
            entities=self.entities,
            score_threshold=self.score_threshold,
            nlp_artifacts=artifacts,
        )
        return self.keep_visible(text, results)

    def analyze(self, text: str, /) -> list[RecognizerResult]:
        """Presidio's results for ``text`` (unresolved overlaps), e.g. for presidio-anonymizer.

        >>> [r.entity_type for r in presidio(model=None).analyze("ping 10.0.0.7")]
        ['IP_ADDRESS']
        """
        return self._analyze(text, self._artifacts(text))

    def to_findings(self, results: Iterable[RecognizerResult], /, text: str | None = None) -> list[Finding]:
        """Presidio results as non-overlapping findings (see :func:`resolve_overlaps`); given the ``text``
        they were found in, analytic terms are dropped first (:meth:`keep_visible`)."""
        rule_of = self._rule_of
        return resolve_overlaps(
            Finding(
                r.start,
                r.end,
                r.entity_type,
                float(r.score),
                rule_of.get((r.recognition_metadata or {}).get("recognizer_identifier", ""), 0),
            )
            for r in (results if text is None else self.keep_visible(text, results))
        )

    def keep_visible(self, text: str, results: Iterable[RecognizerResult], /) -> list[RecognizerResult]:
        """``results`` (Presidio's, for ``text``) without the analytic terms :attr:`keep` vetoes."""
        keep = self.keep
        if keep is None:
            return list(results)
        return [r for r in results if not keep.is_analytic(text[r.start : r.end], r.entity_type)]

    def detect(self, text: str, /) -> list[Finding]:
        """The findings in ``text``.

        >>> presidio(model=None).detect("mail jdoe@acme.com")
        [Finding(start=5, end=18, entity_class='EMAIL_ADDRESS', score=1.0, rule=9)]
        """
        if not text:
            return []
        return self.to_findings(self._analyze(text, self._artifacts(text)))

    def detect_many(self, texts: Sequence[str], /) -> list[list[Finding]]:
        """The findings of each text, as ``[detect(t) for t in texts]``; each distinct text is analysed once.

        >>> presidio(model=None).detect_many(["10.0.0.1", "", "10.0.0.1"])[2]
        [Finding(start=0, end=8, entity_class='IP_ADDRESS', score=0.6, rule=13)]
        """
        found: dict[str, list[Finding]] = {"": []}
        distinct = [t for t in dict.fromkeys(texts) if t]
        for phone in self._batch_phones:
            phone.begin_batch()
        try:
            for chunk in chunks(distinct, _PIPE_CHUNK):
                if self._no_tokens is not None:
                    artifacts = [self._no_tokens] * len(chunk)
                else:
                    with self._lock:
                        artifacts = [
                            a
                            for _, a in self._nlp_engine.process_batch(chunk, self.language, batch_size=self.batch_size)
                        ]
                for text, art in zip(chunk, artifacts, strict=True):
                    found[text] = self.to_findings(self._analyze(text, art, self._batch_analyzer))
        finally:
            for phone in self._batch_phones:
                phone.end_batch()
        return [list(found[t]) for t in texts]


def presidio(
    *,
    model: str | None = DEFAULT_MODEL,
    entities: Sequence[str] | None = None,
    score_threshold: float | None = 0.4,
    language: str = "en",
    internal_suffixes: Iterable[str] = INTERNAL_SUFFIXES,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    nlp: Language | None = None,
    recognizers: Sequence[EntityRecognizer] | None = None,
    extra_recognizers: Sequence[EntityRecognizer] = (),
    disable: Iterable[str] = (),
    keep: AnalyticTerms | None = DEFAULT_KEEP,
    speedups: bool = True,
) -> PresidioDetector:
    """Build the default detector: security-domain and Presidio pattern recognizers plus spaCy NER, offline.

    ``model`` names an installed spaCy pipeline (package or path); ``None`` is pattern-only mode (a blank
    tokenizer; every pattern recognizer still works, only person names need the model). ``nlp`` hands over a
    pipeline you loaded yourself instead. ``entities`` defaults to :data:`DEFAULT_ENTITIES`;
    ``score_threshold`` drops weaker results (Presidio's scores; ``None`` keeps Presidio's per-recognizer
    thresholds). ``recognizers`` replaces :func:`default_recognizers`, ``extra_recognizers`` adds to them,
    ``disable`` drops recognizers by name. ``keep`` vetoes analytic terms (hashes, CVE ids, process names,
    paths, dates, product names: :class:`~anonymizer.detect.analytic.AnalyticTerms`); ``None`` turns the veto
    off. ``speedups=False`` turns off the exact batch shortcuts (:mod:`anonymizer.detect.speedups`). A missing
    pipeline raises :class:`DetectorError` with the install command.

    >>> det = presidio(model=None, entities=["IP_ADDRESS"])
    >>> [f.entity_class for f in det.detect("from 192.168.1.20 to a@b.com")]
    ['IP_ADDRESS']
    >>> det = presidio(model=None, disable=["HostNameRecognizer"])
    >>> [f.entity_class for f in det.detect("password: Winter2024! on WS-FIN-042")]
    ['PASSWORD']
    """
    if nlp is None:
        nlp = load_pipeline(model, language=language, speedups=speedups)
    has_ner = "ner" in nlp.pipe_names
    ner_labels: tuple[str, ...] = tuple(getattr(nlp.get_pipe("ner"), "labels", ())) if has_ner else ()
    config = NerModelConfiguration(
        model_to_presidio_entity_mapping=dict(_SPACY_TO_PRESIDIO),
        # Unmapped labels (CARDINAL, MONEY, ...) are ignored rather than logged as a warning per entity.
        labels_to_ignore=[label for label in ner_labels if label not in _SPACY_TO_PRESIDIO],
    )
    wanted = list(entities) if entities is not None else list(DEFAULT_ENTITIES)
    chosen = (
        list(recognizers)
        if recognizers is not None
        else default_recognizers(language, internal_suffixes=internal_suffixes)
    )
    chosen += list(extra_recognizers)
    ner_entities = [e for e in _NER_ENTITIES if e in wanted]
    if has_ner and ner_entities:
        chosen.append(SpacyRecognizer(supported_language=language, supported_entities=ner_entities))
    dropped = set(disable)
    unknown = dropped - {_name_of(r) for r in chosen}
    if unknown:
        raise DetectorError(f"disable: no recognizer named {sorted(unknown)!r}", path="disable")
    chosen = [r for r in chosen if _name_of(r) not in dropped and set(r.supported_entities) & set(wanted)]
    registry = RecognizerRegistry(recognizers=chosen, supported_languages=[language])
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=LoadedSpacyNlpEngine(nlp, language, config),
        supported_languages=[language],
    )
    supported = set(analyzer.get_supported_entities(language))
    return PresidioDetector(
        analyzer,
        language=language,
        entities=[e for e in wanted if e in supported],
        score_threshold=score_threshold,
        batch_size=batch_size,
        keep=keep,
        speedups=speedups,
    )
