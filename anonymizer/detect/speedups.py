"""Batch speed-ups of detection, each exact: the findings are those of stock spaCy, phonenumbers and Presidio.

They re-implement internals of those libraries (spaCy's attribute-ruler matching, phonenumbers' candidate
verdicts, Presidio's context enhancer copy), so they rely on the version ranges ``pyproject.toml`` sets;
``presidio(speedups=False)`` (and ``load_pipeline(..., speedups=False)``) turns every one of them off.

- the attribute ruler evaluates its rules on token attribute ids (one-token rules by table lookup) instead of
  trying ~180 rules at every token (:class:`_TableAttributeRulerMatch`: the stock matcher's sorted match list,
  stock ``set_annotations``);
- the batch engine (a copy of the analyzer: same recognizers, ids, thresholds) swaps the stock phone recognizer
  for a copy whose ``phonenumbers`` matcher remembers each candidate's verdict within the batch and skips
  parsing candidates with fewer digit-like characters than any valid number has (:func:`_phone_min_chars`,
  derived from phonenumbers' metadata), and skips the context enhancer's defensive deep copy of fresh results.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import phonenumbers
import regex
from phonenumbers import NumberParseException, PhoneNumberMatch, PhoneNumberMatcher

# phonenumbers' private candidate patterns, on purpose: the shared candidate search must find exactly the candidates
# the stock matcher finds. That is third-party code, not ours to make public; tests/test_detect_batch.py pins the
# result equal to the plain path (stock matcher, stock Presidio engine) and tests/test_detect_security.py pins
# presidio() equal to presidio(speedups=False), so a phonenumbers change that breaks this fails there.
from phonenumbers import phonenumbermatcher as _matcher
from phonenumbers.phonenumbermatcher import _PATTERN, _TIME_STAMPS_SUFFIX, Leniency
from presidio_analyzer import AnalyzerEngine, EntityRecognizer
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.predefined_recognizers import PhoneRecognizer
from spacy.attrs import IDS
from spacy.matcher import Matcher
from spacy.pipeline import AttributeRuler
from spacy.strings import get_string_id

if TYPE_CHECKING:
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts
    from spacy.language import Language
    from spacy.tokens import Doc


__all__ = ["batch_analyzer", "speed_up_pipeline"]


def batch_analyzer(
    analyzer: AnalyzerEngine, *, fresh: Callable[[EntityRecognizer], bool]
) -> tuple[AnalyzerEngine, list[_BatchPhoneRecognizer]]:
    """A copy of ``analyzer`` for batches, and the phone recognizers whose memo each batch opens and closes.

    Its registry's stock phone recognizers remember candidate verdicts within a batch (same ids, so same
    context, thresholds, dedup and rule numbers); its stock lemma enhancer skips a defensive deep copy when
    every recognizer makes fresh results (``fresh(recognizer)``).
    """
    phones = [_BatchPhoneRecognizer(r) for r in analyzer.registry.recognizers if type(r) is PhoneRecognizer]
    swap = {p.id: p for p in phones}
    registry = copy.copy(analyzer.registry)
    registry.recognizers = [swap.get(r.id, r) if type(r) is PhoneRecognizer else r for r in registry.recognizers]
    vars(registry)["get_recognizers"] = _RememberedSelection(registry)
    batch = copy.copy(analyzer)
    batch.registry = registry
    if type(analyzer.context_aware_enhancer) is LemmaContextAwareEnhancer and all(
        type(r) is _BatchPhoneRecognizer or fresh(r) for r in registry.recognizers
    ):
        batch.context_aware_enhancer = _BatchContextEnhancer(analyzer.context_aware_enhancer)
    return batch, phones


class _RememberedSelection:
    """``RecognizerRegistry.get_recognizers`` answering a repeated request from memory.

    Presidio selects the recognizers for the requested entities on every ``analyze`` call (a set built from
    every recognizer); for the same language, entities and registry contents the stock method returns the same
    recognizers in the same order, so the answer is kept. A request with ad-hoc recognizers, or a registry whose
    recognizer list changed, goes to the stock method.
    """

    def __init__(self, registry: Any) -> None:
        self._registry = registry
        self._stock = type(registry).get_recognizers
        self._seen: dict[tuple[Any, ...], list[EntityRecognizer]] = {}
        self._recognizers = (registry.recognizers, len(registry.recognizers))

    def __call__(
        self,
        language: str,
        entities: list[str] | None = None,
        all_fields: bool = False,
        ad_hoc_recognizers: list[EntityRecognizer] | None = None,
    ) -> list[EntityRecognizer]:
        registry = self._registry
        listed, count = self._recognizers
        if ad_hoc_recognizers or registry.recognizers is not listed or len(listed) != count:
            selected: list[EntityRecognizer] = self._stock(registry, language, entities, all_fields, ad_hoc_recognizers)
            return selected
        key = (language, None if entities is None else tuple(entities), all_fields)
        known = self._seen.get(key)
        if known is None:
            known = self._seen[key] = list(self._stock(registry, language, entities, all_fields, None))
        return list(known)


def speed_up_pipeline(nlp: Language) -> None:
    """Give every attribute ruler of ``nlp`` the table matcher (:class:`_TableAttributeRulerMatch`)."""
    for _, component in nlp.pipeline:
        if type(component) is AttributeRuler:
            vars(component)["match"] = _TableAttributeRulerMatch(component)


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


# ------------------------------------------------------------------------------------------ batch phones

# A phone candidate's verdict, once computed in a batch: tries it consumed, then (offset within the
# candidate, matched string, parsed number) or None.
_SECOND_NUMBER_START: Any = getattr(_matcher, "_SECOND_NUMBER_START_PATTERN")  # noqa: B009 (untyped upstream)
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

    def __init__(
        self,
        text: str,
        region: str,
        leniency: int,
        memo: dict[tuple[Any, ...], _PhoneVerdict],
        searches: dict[int, tuple[int, int] | None] | None = None,
    ) -> None:
        super().__init__(text, region, leniency=leniency)
        self._memo = memo
        self._min_chars = _phone_min_chars(region)
        self._searches = {} if searches is None else searches

    def _search(self, index: int) -> tuple[int, int] | None:
        # _PATTERN finds candidates whatever the region: one scan of a text serves every region's matcher.
        if index not in self._searches:
            found = _PATTERN.search(self.text, index)
            self._searches[index] = None if found is None else found.span()
        return self._searches[index]

    def _find(self, index: int) -> PhoneNumberMatch | None:
        # phonenumbers' PhoneNumberMatcher._find line for line, the candidate search answered by _search.
        match = self._search(index)
        while self._max_tries > 0 and match is not None:
            start = match[0]
            candidate = self.text[start : match[1]]
            candidate = self._trim_after_first_match(_SECOND_NUMBER_START, candidate)
            candidate_len = len(candidate)
            if candidate_len >= getattr(self, "_min_candidate_length", 0):
                found = self._extract_match(candidate, start)
                if found is not None:
                    return found
                self._max_tries -= 1
            index = start + candidate_len
            match = self._search(index)
        return None

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
        searches: dict[int, tuple[int, int] | None] = {}
        for region in self.supported_regions:
            for match in _RememberingPhoneNumberMatcher(text, region, self.leniency, memo, searches):
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
        """The stock enhancement, on the results themselves.

        Without tokens (pattern-only mode) and without request context every surrounding-word list is ``[""]``,
        which no non-empty context word is a part of: the stock method would return the results unchanged.
        """
        if not nlp_artifacts.tokens and not context and not any("" in (r.context or ()) for r in recognizers):
            return raw_results
        enhanced: list[RecognizerResult] = super().enhance_using_context(
            text, _FreshResults(raw_results), nlp_artifacts, recognizers, context
        )
        return enhanced
