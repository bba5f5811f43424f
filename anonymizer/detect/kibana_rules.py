"""Kibana's ``ai:anonymizationSettings`` rules (``RegExp`` and ``NER``) as a detector."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex

from anonymizer.detect.pipeline import chunks, default_pipeline_name, load_pipeline
from anonymizer.errors import DetectorError
from anonymizer.findings import Finding, resolve_overlaps

if TYPE_CHECKING:
    from spacy.language import Language

__all__ = ["KIBANA_DEFAULT_NER_MODEL", "SPACY_TO_KIBANA", "KibanaRulesDetector", "from_kibana_rules"]

#: The model id Kibana ships in its default NER rule; it maps onto the default installed spaCy pipeline.
KIBANA_DEFAULT_NER_MODEL = "elastic__distilbert-base-uncased-finetuned-conll03-english"

_DEFAULT_BATCH_SIZE = 128
_PIPE_CHUNK = 1024  # distinct texts held as spaCy docs at once by detect_many

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

_KIBANA_CLASSES = frozenset(
    {"PER", "ORG", "LOC", "MISC"}
)  # ---------------------------------------------------------------------------------------- Kibana rules


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
        for chunk in chunks(distinct, _PIPE_CHUNK):
            ner = self._ner_findings(chunk) if self._pipelines else [[] for _ in chunk]
            for text, ner_found in zip(chunk, ner, strict=True):
                found[text] = resolve_overlaps(self._regex_findings(text) + ner_found)
        return [list(found[t]) for t in texts]


#: Longest ``RegExp`` rule pattern accepted, in characters.
MAX_PATTERN_LENGTH = 10_000
#: Largest ``RegExp`` rule accepted, in units of :func:`regex_size` (about 50 ms of compiling).
MAX_PATTERN_SIZE = 50_000


def regex_size(pattern: str) -> int:
    """An upper estimate of what compiling ``pattern`` builds: its atoms, each counted once per copy.

    The ``regex`` module unrolls counted repeats, so ``(a{100}){100}`` builds about 10,000 nodes and
    ``((a{1000}){1000}){1000}`` a billion; this walks the pattern once (escapes, classes, groups,
    alternation, quantifiers) and multiplies each repeated part by its minimum count, without compiling.

    >>> regex_size(r"WS-\\d{3}"), regex_size("((a{1000}){1000}){1000}")
    (6, 1000000000)
    """
    stack: list[list[int]] = [[0, 0]]  # per open group: [cost of the current branch, cost of finished branches]
    last = 0  # cost of the atom a quantifier would apply to
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            i += 2
            if i < n + 1 and pattern[i - 1 : i] in ("p", "P", "N", "x", "u", "U") and pattern[i : i + 1] == "{":
                i = pattern.find("}", i) + 1 or n
            last = 1
            stack[-1][0] += 1
            continue
        if c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last = 1
            stack[-1][0] += 1
            continue
        if c == "(":
            stack.append([0, 0])
            i += 1
            if pattern[i : i + 1] == "?":  # (?:, (?P<name>, (?i) ... : the group's own syntax is not an atom
                while i < n and pattern[i] not in ":)>" and not (pattern[i] == "=" or pattern[i] == "!"):
                    i += 1
                i += 1 if i < n and pattern[i] in ":>=!" else 0
            continue
        if c == ")" and len(stack) > 1:
            branch, done = stack.pop()
            last = max(branch + done, 1)
            stack[-1][0] += last
            i += 1
            continue
        if c == "|":
            stack[-1][1] += stack[-1][0]
            stack[-1][0] = 0
            last = 0
            i += 1
            continue
        if c == "{":
            m = regex.match(r"\{(\d*)(?:,(\d*))?\}", pattern[i:])
            if m and (m.group(1) or m.group(2)):
                times = int(m.group(1) or 0)
                if times > 1:
                    stack[-1][0] += last * (times - 1)
                    last *= times
                i += m.end()
                continue
        last = 1
        stack[-1][0] += 1
        i += 1
    return sum(sum(level) for level in stack)


def _check_size(pattern: str, i: int) -> None:
    where = f"rules[{i}].pattern"
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise DetectorError(f"{where}: RegExp rule is longer than {MAX_PATTERN_LENGTH} characters", rule=i, path=where)
    size = regex_size(pattern)
    if size > MAX_PATTERN_SIZE:
        raise DetectorError(
            f"{where}: RegExp rule would compile to about {size} nodes (limit {MAX_PATTERN_SIZE}); "
            "counted repeats multiply, e.g. (a{100}){100} is 10,000",
            rule=i,
            path=where,
        )


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
            _check_size(pattern, i)
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
            default_pipeline_name(f"rules[{i}].modelId") if model_id in (None, KIBANA_DEFAULT_NER_MODEL) else model_id
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
