"""The engine: :class:`Anonymizer` (configuration, immutable) and :class:`Session` (one conversation).

This is the one place where the field policy, the token strategy and the detectors meet. It knows nothing of
HTTP, CLIs or pydantic; the payload adapters, stream restorers, CLI and proxy are thin layers on top.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import islice
from typing import Any, Protocol

from ._freetext import FreeTextFinder, Span, build
from ._literal import fold, merge_spans
from ._mint import Minter
from .errors import (
    ArgumentTypeError,
    ConfigError,
    DetectorError,
    Issue,
    PayloadError,
    ReplacementsError,
)
from .findings import Detector, Finding, detect_many, resolve_overlaps
from .policy import Action, FieldPolicy
from .restore import Restored, Restorer, token_shaped, uuid_tokens
from .stream import StreamRestorer, restorer_for
from .tokens import TokenStrategy, is_json_token, strategy_for, token_label

__all__ = ["DEFAULT_MIN_LENGTH", "MAX_DEPTH", "Anonymizer", "Session"]

#: Originals shorter than this are not searched for in free text (Kibana once turned every letter ``a`` of
#: a text into a token because a host was named ``a``). They are still tokenized as whole field values.
DEFAULT_MIN_LENGTH = 3
#: Deepest nesting of ``data`` accepted; deeper input raises ``PayloadError`` instead of exhausting the stack.
MAX_DEPTH = 200
_REWRITE_CACHE_SIZE = 4096  # passed-through texts remembered per session
_REWRITE_CACHE_TEXT = 16384  # longest text remembered (characters)
_PLAN_CACHE_SIZE = 64  # distinct fields_to_anonymize sets remembered
_PLAN_WIDTH = 1024  # keys remembered per object position

_STR = 1  # a token stands for a string value
_JSON = 2  # a token stands for a number, boolean or null (its original is the JSON text)


class Anonymizer:
    """The configuration of anonymization: a field policy, a token strategy, detectors. Immutable.

    >>> engine = Anonymizer(tokens="placeholder")
    >>> session = engine.session()
    >>> safe = session.anonymize_data({"user.name": "jdoe", "host.os.name": "macOS"})
    >>> safe  # doctest: +ELLIPSIS
    {'user.name': '<USER_NAME_1_...>', 'host.os.name': 'macOS'}
    >>> session.deanonymize(f"Ask {safe['user.name']} to reboot.")
    'Ask jdoe to reboot.'

    One engine serves any number of sessions and threads; each conversation gets its own :class:`Session`.

    Parameters (all keyword-only):

    * ``policy``: the :class:`~anonymizer.policy.FieldPolicy` (default: Kibana's default fields).
    * ``tokens``: ``"uuid"`` (default), ``"keyed"``, ``"placeholder"``, ``"mask"`` or a
      :class:`~anonymizer.tokens.TokenStrategy`.
    * ``key``: bytes for ``keyed`` tokens (required) and keyed ``mask`` tokens. Never hard-code it.
    * ``detectors``: free-text detectors (:class:`~anonymizer.findings.Detector`), e.g.
      ``anonymizer.detect.presidio()``.
    * ``propagate``: hide known originals wherever they occur in free text (default ``True``).
    * ``min_length``: shortest original hidden inside free text (default 3); shorter ones are tokenized as
      whole values only.
    """

    __slots__ = ("_detectors", "_min_length", "_plans", "_policy", "_propagate", "_strategy")

    def __init__(
        self,
        *,
        policy: FieldPolicy | None = None,
        tokens: str | TokenStrategy = "uuid",
        key: bytes | None = None,
        detectors: Iterable[Detector] = (),
        propagate: bool = True,
        min_length: int = DEFAULT_MIN_LENGTH,
    ) -> None:
        if policy is not None and not isinstance(policy, FieldPolicy):
            raise ArgumentTypeError("policy must be a FieldPolicy (see FieldPolicy.from_fields)")
        if type(min_length) is not int:
            raise ArgumentTypeError(f"min_length must be an int, not {type(min_length).__name__}")
        if min_length < 1:
            raise ConfigError("min_length must be at least 1", path="min_length")
        if not isinstance(detectors, Iterable):
            raise ArgumentTypeError(f"detectors must be a list of detectors, not {type(detectors).__name__}")
        self._policy = policy if policy is not None else FieldPolicy.kibana_default()
        self._strategy: TokenStrategy = strategy_for(tokens, key)
        self._detectors: tuple[Detector, ...] = tuple(detectors)
        for i, d in enumerate(self._detectors):
            if not callable(getattr(d, "detect", None)):
                raise DetectorError(f"detectors[{i}] has no detect(text) method", path=f"detectors[{i}]")
        self._propagate = propagate
        self._min_length = min_length
        # fields_to_anonymize -> the plan tree: each field's action under this policy, learned once per shape
        # of data and shared by all sessions. A cache of a pure function of the configuration (the engine's
        # behaviour never changes); concurrent sessions at worst compute the same entry twice.
        self._plans: dict[frozenset[str], _Plan] = {}

    @property
    def policy(self) -> FieldPolicy:
        """The field policy."""
        return self._policy

    @property
    def tokens(self) -> TokenStrategy:
        """The token strategy."""
        return self._strategy

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The free-text detectors."""
        return self._detectors

    @property
    def propagate(self) -> bool:
        """Whether known originals are hidden inside free text."""
        return self._propagate

    @property
    def min_length(self) -> int:
        """Shortest original hidden inside free text."""
        return self._min_length

    def session(self, replacements: Mapping[str, str] | None = None) -> Session:
        """A new conversation, optionally resumed from a stored replacements map (token -> original)."""
        return Session(self, replacements)

    def __repr__(self) -> str:
        return (
            f"Anonymizer(policy={self._policy!r}, tokens={self._strategy!r}, "
            f"detectors={len(self._detectors)}, propagate={self._propagate}, min_length={self._min_length})"
        )


class Session:
    """The state of one conversation: its replacements map (token -> original) and the reverse index.

    One per conversation, never shared across conversations, users or tenants. Methods may be called from
    several threads (an internal lock guards the map), but a session is meant for one conversation at a time.
    Build it with :meth:`Anonymizer.session`.
    """

    __slots__ = (
        "_by_original",
        "_engine",
        "_finder",
        "_kinds",
        "_lazy",
        "_lock",
        "_minter",
        "_more",
        "_replacements",
        "_restorer",
        "_rewritten",
        "_shared",
        "_variants",
    )

    def __init__(self, engine: Anonymizer, replacements: Mapping[str, str] | None = None) -> None:
        self._engine = engine
        self._replacements: dict[str, str] = {}  # token -> original (JSON text for non-strings)
        self._by_original: dict[str, str] = {}  # original -> its token (the first one bound)
        self._kinds: dict[str, int] = {}  # token -> _STR / _JSON, for tokens used as whole field values
        self._variants: dict[tuple[int, str], str] = {}  # (kind, original) -> token when both kinds occur
        self._more: dict[str, list[str]] = {}  # original -> its other tokens, when a map binds it more than once
        self._minter = Minter(engine._strategy)  # placeholder numbers, the conversation tag, originals to avoid
        self._lock = threading.RLock()
        self._restorer: Restorer | None = None
        self._shared = False  # _replacements is the map of self._restorer: copy it before binding a token
        self._lazy = False  # _replacements was resumed and not indexed yet (see _ensure_index())
        self._finder: FreeTextFinder | None = None
        # free text already seen -> its rewritten form; valid until the next token is bound (chat requests
        # resend the whole history every turn, so the same texts come back again and again)
        self._rewritten: dict[str, str] = {}
        if replacements:
            self.merge_replacements(replacements)

    # ------------------------------------------------------------------ state

    @property
    def engine(self) -> Anonymizer:
        """The engine this session belongs to (to build sibling sessions)."""
        return self._engine

    @property
    def replacements(self) -> dict[str, str]:
        """A copy of the replacements map, token -> original, in the order tokens were bound."""
        with self._lock:
            return dict(self._replacements)

    def __len__(self) -> int:
        return len(self._replacements)

    def __repr__(self) -> str:
        return f"<Session: {len(self._replacements)} tokens>"

    def case_variants(self) -> list[tuple[str, ...]]:
        """Tokens whose originals differ only in case, grouped (each group in the order its tokens were bound).

        An original met in free text in another case (``JDOE`` when ``jdoe`` is known) is hidden under a token
        of its own, so that restoring gives back exactly the text that was sent; this tells which tokens stand
        for one name. Holds tokens only, never originals; works on a resumed session too.
        """
        with self._lock:
            groups: dict[str, dict[str, list[str]]] = {}
            for token, original in self._replacements.items():
                groups.setdefault(fold(original), {}).setdefault(original, []).append(token)
        return [tuple(t for ts in g.values() for t in ts) for g in groups.values() if len(g) > 1]

    def merge_replacements(self, replacements: Mapping[str, str]) -> None:
        """Add a stored map (token -> original) to this session; existing tokens keep their originals.

        Raises :class:`~anonymizer.errors.ReplacementsError` when the map is malformed or binds a token the
        session already has to another original: maps are merged, never silently overwritten.
        """
        if not isinstance(replacements, Mapping):
            raise ReplacementsError("replacements must be an object of token -> original strings")
        with self._lock:
            plain = _well_formed(replacements) if not self._replacements else None
            if plain is not None:
                # A session resumed from a stored map: a dict build. The reverse index, the finder and the
                # restorer's tables are built when first needed (restoring an answer needs none of them).
                self._replacements = dict(replacements)
                self._lazy = bool(self._replacements)
                self._restorer = Restorer._adopt(self._replacements, plain) if self._lazy else None
                self._shared = self._lazy
                self._finder = None
                self._rewritten = {}
                return
            self._ensure_index()
            new: list[tuple[str, str]] = []
            for index, (token, original) in enumerate(replacements.items()):  # check everything, then bind
                if not isinstance(token, str) or not token:
                    raise ReplacementsError(f"replacements entry #{index}: the token must be a non-empty string")
                if not isinstance(original, str):
                    raise ReplacementsError(f"{_entry(token, index)}: the original must be a string")
                bound = self._replacements.get(token)
                if bound is None:
                    new.append((token, original))
                elif bound != original:
                    raise ReplacementsError(f"{_entry(token, index)}: the token is already bound to another original")
            for token, original in new:
                self._bind(token, original)

    def token_for(self, original: str, *, field: str | None = None, entity_class: str | None = None) -> str:
        """The token of ``original`` in this conversation: the one already bound, or a new one.

        ``field``/``entity_class`` only shape a new token (typed strategies); an original keeps its first
        token whatever field or detector it comes from later.
        """
        if not isinstance(original, str):
            raise ArgumentTypeError("token_for takes the original as a string")
        with self._lock:
            self._ensure_index()
            token = self._by_original.get(original)
            if token is None:
                token = self._mint(original, field, entity_class)
            return token

    # ---------------------------------------------------------------- forward

    def anonymize_data(self, data: Mapping[str, Any], fields_to_anonymize: Iterable[str] = ()) -> dict[str, Any]:
        """Apply the policy (and ``fields_to_anonymize``) to ECS ``data``; the input is not modified.

        Returns data of the same shape: fields the policy drops are left out, anonymized fields hold tokens,
        allowed fields are passed through with every known original inside their text replaced by its token.
        Fields named in ``fields_to_anonymize`` are anonymized whether or not the policy lists them.
        """
        if type(data) is not dict and not isinstance(data, Mapping):
            raise PayloadError([Issue((), "Expected object")], kind="data")
        if isinstance(fields_to_anonymize, str) or not isinstance(fields_to_anonymize, Iterable):
            raise ArgumentTypeError("fields_to_anonymize must be a list of field names")
        wanted = frozenset(fields_to_anonymize)
        policy_action = self._engine._policy.action
        with self._lock:
            self._ensure_index()
            plans = self._engine._plans
            plan = plans.get(wanted)
            if plan is None:
                if len(plans) >= _PLAN_CACHE_SIZE:
                    plans.clear()
                plan = plans[wanted] = _Plan("")
            cached = self._rewritten
            walker = _Walk(policy_action, wanted, cached)
            out = walker.obj(data, plan, 0)
            if walker.pending:
                bound = len(self._replacements)
                self._tokenize_pending(walker.pending)
                if cached and len(self._replacements) != bound:
                    # new tokens: the cached rewrites this walk used may miss them; walk again (every value
                    # of the data is known now, so this second walk mints nothing)
                    walker = _Walk(policy_action, wanted, self._rewritten)
                    out = walker.obj(data, plan, 0)
                    self._tokenize_pending(walker.pending)
            if walker.kept:
                self._propagate_into(walker.kept)
        return out

    def anonymize_text(self, text: str) -> str:
        """Replace every known original (and every detector hit) in ``text`` by its token."""
        return self.anonymize_texts([text])[0]

    def anonymize_texts(self, texts: Sequence[str]) -> list[str]:
        """:meth:`anonymize_text` over many texts, with detectors run in batch (``detect_many``)."""
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise ArgumentTypeError(f"anonymize_texts takes a list of strings, not {type(texts).__name__}")
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise ArgumentTypeError(f"texts[{i}] is a {type(t).__name__}, not a string", path=f"texts[{i}]")
        found = self._detect(texts)
        with self._lock:
            self._ensure_index()
            for text, findings in zip(texts, found, strict=True):  # no new token may contain any of them
                for f in findings:
                    self._minter.expect(text[f.start : f.end])
            extra: list[list[Span]] = []
            for text, findings in zip(texts, found, strict=True):
                spans: list[Span] = []
                for f in findings:
                    original = text[f.start : f.end]
                    token = self._by_original.get(original) or self._mint(original, None, f.entity_class)
                    spans.append((f.start, f.end, token))
                extra.append(spans)
            finder = self._free_text_finder() if self._engine._propagate else None
            known = finder.spans_many(texts, self._variant_token) if finder else [[] for _ in texts]
        return [_apply(t, merge_spans(d, k)) for t, d, k in zip(texts, extra, known, strict=True)]

    def anonymize_obj(self, obj: Any) -> Any:
        """Every string leaf of a JSON value through :meth:`anonymize_text` (keys are left as they are)."""
        leaves: list[str] = []
        _collect_strings(obj, leaves, 0)
        if not leaves:
            return _copy_json(obj)
        done = iter(self.anonymize_texts(leaves))
        return _rebuild(obj, lambda _s: next(done))

    # ---------------------------------------------------------------- reverse

    @property
    def restorer(self) -> Restorer:
        """A compiled snapshot of the current map, for restoring (and for stream restorers)."""
        with self._lock:
            if self._restorer is None:
                self._restorer = Restorer._adopt(self._replacements)
                self._shared = True
            return self._restorer

    def deanonymize(self, text: str) -> str:
        """Every token of this conversation in ``text`` back to its original, in one literal pass.

        Tokens the model altered (case, hyphens, brackets) are restored when the change is unambiguous;
        tokens not in this session's map (another conversation's, invented ones) are left as they are.
        """
        if type(text) is not str and not isinstance(text, str):
            raise ArgumentTypeError(f"deanonymize takes a string, not {type(text).__name__} (deanonymize_obj: JSON)")
        return self.restorer.restore(text)

    def restore(self, text: str) -> Restored:
        """Like :meth:`deanonymize`, with a report of restored, altered, ambiguous and unknown tokens."""
        if not isinstance(text, str):
            raise ArgumentTypeError(f"restore takes a string, not {type(text).__name__}")
        return self.restorer.restore_with_report(text)

    def deanonymize_obj(self, obj: Any) -> Any:
        """Restore every string (values and keys) of a JSON value.

        A string that is exactly a token of a number, boolean or null field value becomes that value again.
        """
        restorer = self.restorer
        originals = self._replacements
        kinds = self._kinds

        def leaf(s: str) -> Any:
            original = originals.get(s)
            if original is None:
                return restorer.restore(s)
            kind = kinds.get(s)
            if kind == _JSON or (kind is None and is_json_token(s)):  # (kind None: bound from a stored map)
                try:
                    return json.loads(original)
                except ValueError:  # a stored map edited by hand: the text as it is
                    return original
            return original

        return _rebuild(obj, leaf, restorer.restore)

    # -------------------------------------------------------- payloads/streams

    def anonymize_payload(self, payload: Any, *, kind: str) -> dict[str, Any]:
        """Anonymize a whole API payload of ``kind`` in this conversation: the same as
        :func:`anonymizer.payloads.anonymize_payload(session, payload, kind) <anonymizer.payloads.anonymize_payload>`.
        """
        return _payload_adapter().anonymize_payload(self, payload, kind)

    def deanonymize_payload(self, payload: Any, *, kind: str) -> dict[str, Any]:
        """Restore a whole API payload of ``kind``: the same as :func:`anonymizer.payloads.deanonymize_payload`."""
        return _payload_adapter().deanonymize_payload(self, payload, kind)

    def stream(self, fmt: str = "text") -> StreamRestorer:
        """A sans-IO restorer for a stream in ``fmt`` (see :mod:`anonymizer.stream`)."""
        return restorer_for(self.restorer, fmt)

    # ---------------------------------------------------------------- private

    def _ensure_index(self) -> None:
        """Index a resumed map (original -> token, risky originals, placeholder numbers) before it is used
        for anonymizing: once per resumed session, never for a session that only restores."""
        if not self._lazy:
            return
        self._lazy = False
        items = self._replacements
        by_original = {o: t for t, o in reversed(items.items())}  # an original's first token wins
        if len(by_original) != len(items):
            for token, original in items.items():
                if by_original[original] != token:
                    self._more.setdefault(original, []).append(token)
        self._by_original = by_original
        bound = self._minter.bound  # originals no new token may contain, placeholder numbers, the tag
        for token, original in items.items():
            bound(token, original)

    def _bind(self, token: str, original: str) -> None:
        if self._shared:  # the current restorer holds the map: it stays as it was
            self._replacements = dict(self._replacements)
            self._shared = False
            if self._finder is not None:
                self._finder.retarget(self._replacements)
        self._replacements[token] = original
        first = self._by_original.setdefault(original, token)
        if first != token:
            self._more.setdefault(original, []).append(token)
        self._minter.bound(token, original)
        self._restorer = None
        finder = self._finder
        if finder is not None:  # extended, never rebuilt
            if len(original) >= self._engine._min_length:
                finder.add(original)
            finder.add(token, token=True)
        if self._rewritten:
            self._rewritten = {}

    def _mint(self, original: str, field: str | None, entity_class: str | None, json_value: bool = False) -> str:
        token = self._minter.mint(original, field, entity_class, self._replacements, json_value)
        self._bind(token, original)
        return token

    def _tokenize_pending(self, pending: list[tuple[Any, Any, Any, str]]) -> None:
        """Put the tokens of whole field values in place (all originals are known before any is minted)."""
        by_original = self._by_original
        kinds = self._kinds
        rest = []
        for item in pending:  # the common case first: a string the conversation already has a token for
            value = item[2]
            token = by_original.get(value) if type(value) is str else None
            if token is not None and kinds.get(token) == _STR:
                item[0][item[1]] = token
            else:
                rest.append(item)
        if not rest:
            return
        pending = rest
        expect = self._minter.expect
        for _, _, value, field in pending:  # no new token may contain an original of this same call
            expect(value if isinstance(value, str) else _json_text(value, field))
        for container, key, value, field in pending:
            container[key] = self._value_token(value, field)

    def _value_token(self, value: Any, field: str) -> str:
        """The token of a whole field value (string, number, boolean or null)."""
        if isinstance(value, str):
            kind, original = _STR, value
        else:
            kind, original = _JSON, _json_text(value, field)
        token = self._by_original.get(original)
        if token is None:
            token = self._mint(original, field, None, kind == _JSON)
            self._kinds[token] = bound = kind
        else:
            bound = self._kinds.get(token) or self._kinds.setdefault(token, _stored_kind(token, kind))
        if bound != kind:  # "1" and 1 both occur: each keeps its own token, so both come back typed
            token = self._variants.get((kind, original)) or next(
                (t for t in self._more.get(original, ()) if self._kinds.get(t, _stored_kind(t, kind)) == kind), ""
            )
            token = token or self._mint(original, field, None, kind == _JSON)
            self._variants[(kind, original)] = token
            self._kinds[token] = kind
        return token

    def _free_text_finder(self) -> FreeTextFinder:
        if self._finder is None:
            minimum = self._engine._min_length
            self._finder = build(self._by_original, self._replacements, minimum)
        return self._finder

    def _variant_token(self, found: str, original: str) -> str:
        """The token of ``found``, a case variant of ``original`` met in free text: a token of its own (so that
        restoring gives back the text as it was), of the same class as the original's."""
        token = self._by_original.get(found)
        if token is None:
            token = self._mint(found, None, token_label(self._by_original.get(original, "")))
        return token

    def _propagate_into(self, kept: list[tuple[Any, Any, str, str]]) -> None:
        """Rewrite passed-through strings the walk found no cached rewrite for; cache the results."""
        by_original = self._by_original
        propagate = self._engine._propagate
        cache = self._rewritten
        if len(cache) > _REWRITE_CACHE_SIZE:
            cache.clear()
        rest: list[tuple[Any, Any, str, str]] = []
        for item in kept:
            container, key, text, field = item
            if text in by_original:  # the whole value is an original: its own (string) token
                container[key] = cache[text] = self._value_token(text, field)
            elif propagate:
                rest.append(item)
            elif len(text) <= _REWRITE_CACHE_TEXT:
                cache[text] = text
        if not rest:
            return
        texts = [r[2] for r in rest]
        found = self._free_text_finder().spans_by_text(texts, self._variant_token)
        cache.update({t: t for t in texts if len(t) <= _REWRITE_CACHE_TEXT})  # the cache's memory stays bounded
        for i, spans in found.items():
            container, key, text, _ = rest[i]
            container[key] = done = _apply(text, spans)
            if len(text) <= _REWRITE_CACHE_TEXT:
                cache[text] = done

    def _detect(self, texts: Sequence[str]) -> list[list[Finding]]:
        per_text: list[list[Finding]] = [[] for _ in texts]
        if not self._engine._detectors or not texts:
            return per_text
        for d_index, detector in enumerate(self._engine._detectors):
            try:
                results = detect_many(detector, texts)
            except DetectorError:
                raise
            except Exception as exc:  # never let a detector's message (it may quote the text) through
                raise DetectorError(f"detectors[{d_index}] failed: {type(exc).__name__}") from None
            if len(results) != len(texts):
                raise DetectorError(f"detectors[{d_index}] returned {len(results)} results for {len(texts)} texts")
            for i, findings in enumerate(results):
                n = len(texts[i])
                for f in findings:
                    if not (0 <= f.start < f.end <= n):
                        raise DetectorError(f"detectors[{d_index}] returned a span outside text {i}")
                    per_text[i].append(f)
        return [resolve_overlaps(fs) for fs in per_text]


class PayloadAdapter(Protocol):
    """What :meth:`Session.anonymize_payload` and :meth:`Session.deanonymize_payload` call: the payload adapter
    (:mod:`anonymizer.payloads`), which sits above the engine. The package connects it (see
    :func:`connect_payload_adapter`), so the engine imports nothing above itself."""

    def anonymize_payload(self, session: Session, payload: object, kind: Any) -> dict[str, Any]: ...

    def deanonymize_payload(self, session: Session, payload: object, kind: Any) -> dict[str, Any]: ...


_payload_loader: list[Callable[[], PayloadAdapter]] = []  # set once, by the package (anonymizer/__init__.py)


def connect_payload_adapter(loader: Callable[[], PayloadAdapter]) -> None:
    """Give the sessions' payload methods the adapter ``loader`` returns (called on first use, so the adapter and
    pydantic are imported only when a payload is). The ``anonymizer`` package does this when it is imported."""
    _payload_loader[:] = [loader]


def _payload_adapter() -> PayloadAdapter:
    if not _payload_loader:  # pragma: no cover - the package connects it before any session exists
        raise ConfigError("no payload adapter connected: import anonymizer.payloads")
    return _payload_loader[0]()


_DROP, _KEEP, _ANONYMIZE = Action.DROP, Action.KEEP, Action.ANONYMIZE
_SCALARS = frozenset((str, int, float, bool, type(None)))


class _Plan:
    """What the walk learned about one object position of the data (cached per session and data shape).

    ``prefix`` is the dotted name of the position followed by a dot (``""`` at the top); ``actions`` maps each
    key seen there to its action; ``children`` the plans of the objects (or lists of objects) under it.
    """

    __slots__ = ("actions", "children", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.actions: dict[str, Action] = {}
        self.children: dict[str, _Plan] = {}

    def child(self, key: str) -> _Plan:
        plan = self.children.get(key)
        if plan is None:
            if len(self.children) >= _PLAN_WIDTH:  # hostile data with endless distinct keys: start over
                self.children.clear()
            plan = self.children[key] = _Plan(self.prefix + key + ".")
        return plan


class _Walk:
    """One pass over ECS data: drop, keep or tokenize each leaf by its dotted field name.

    Written for speed (it runs on every message): exact-type checks first, ``isinstance`` only for the rare
    Mapping/Sequence subclasses; field actions come from the cached :class:`_Plan` tree; tokens are minted
    after the walk, once every original of the call is known.
    """

    __slots__ = ("kept", "pending", "policy_action", "rewritten", "wanted")

    def __init__(
        self, policy_action: Callable[[str], Action], wanted: frozenset[str], rewritten: dict[str, str]
    ) -> None:
        self.policy_action = policy_action  # the policy's action of a field (asked once per field: plans cache it)
        self.wanted = wanted
        self.rewritten = rewritten  # passed-through text -> its rewritten form, from earlier calls
        self.kept: list[tuple[Any, Any, str, str]] = []  # (container, key, text, field): free text to hide in
        self.pending: list[tuple[Any, Any, Any, str]] = []  # (container, key, value, field): to tokenize

    def action(self, field: str) -> Action:
        if self.wanted and field in self.wanted:
            return _ANONYMIZE
        return self.policy_action(field)

    def obj(self, node: Mapping[str, Any], plan: _Plan, depth: int) -> dict[str, Any]:
        prefix = plan.prefix
        if depth > MAX_DEPTH:
            raise PayloadError([Issue((), f"data nested deeper than {MAX_DEPTH} levels under '{prefix[:-1]}'")])
        out: dict[str, Any] = {}
        actions = plan.actions
        below = plan.children.get
        rewritten = self.rewritten
        for key, value in node.items():
            try:  # subscripts, not .get(): no call on the hot path (a miss happens once per shape or text)
                act = actions[key]
            except KeyError:
                if type(key) is not str:
                    raise PayloadError([Issue((), f"a key under '{prefix[:-1] or '$'}' is not a string")]) from None
                if len(actions) >= _PLAN_WIDTH:
                    actions.clear()
                act = actions[key] = self.action(prefix + key)
            kind = type(value)
            if kind is str:  # most leaves: tested first
                if act is _KEEP:
                    try:
                        out[key] = rewritten[value]
                    except KeyError:
                        self.kept.append((out, key, value, prefix + key))
                        out[key] = value
                elif act is _ANONYMIZE:
                    out[key] = value  # replaced by its token once the walk is over
                    self.pending.append((out, key, value, prefix + key))
            elif kind is dict:
                if value:
                    sub = self.obj(value, below(key) or plan.child(key), depth + 1)
                    if sub:
                        out[key] = sub
                elif act is not _DROP:
                    out[key] = {}
            elif kind in _SCALARS:
                if act is _KEEP:
                    out[key] = value
                elif act is _ANONYMIZE:
                    out[key] = value
                    self.pending.append((out, key, value, prefix + key))
            elif kind is list or kind is tuple:
                if value:
                    items = self.seq(value, below(key) or plan.child(key), act, depth + 1)
                    if items:
                        out[key] = items
                elif act is not _DROP:
                    out[key] = []
            else:
                self.other(out, key, value, plan.child(key), act, depth)
        return out

    def seq(self, items: Sequence[Any], plan: _Plan, act: Action, depth: int) -> list[Any]:
        """A list at the field ``plan.prefix[:-1]``: scalars take the field's action, objects are walked."""
        field = plan.prefix[:-1]
        if depth > MAX_DEPTH:
            raise PayloadError([Issue((), f"data nested deeper than {MAX_DEPTH} levels under '{field}'")])
        out: list[Any] = []
        for value in items:
            kind = type(value)
            if kind in _SCALARS:
                if act is _KEEP:
                    if kind is str:
                        try:
                            out.append(self.rewritten[value])
                        except KeyError:
                            self.kept.append((out, len(out), value, field))
                            out.append(value)
                    else:
                        out.append(value)
                elif act is _ANONYMIZE:
                    self.pending.append((out, len(out), value, field))
                    out.append(value)
            elif kind is dict:
                sub = self.obj(value, plan, depth + 1)
                if sub or not value:
                    out.append(sub)
            elif kind is list or kind is tuple:
                inner = self.seq(value, plan, act, depth + 1)
                if inner or not value:
                    out.append(inner)
            else:
                self.other(out, len(out), value, plan, act, depth)
        return out

    def other(self, container: Any, key: Any, value: Any, plan: _Plan, act: Action, depth: int) -> None:
        """The slow path: subclasses of str/int/float/dict/list, and values that are not JSON at all.

        ``plan`` is the plan of the value's own position (``plan.prefix[:-1]`` is its field).
        """
        field = plan.prefix[:-1]
        # an empty container stays in a list; in an object, only if its field is not dropped (as on the fast path)
        keep_empty = isinstance(container, list) or act is not _DROP
        if isinstance(value, Mapping):
            sub = self.obj(value, plan, depth + 1)
            if sub or (not value and keep_empty):
                _put(container, key, sub)
        elif isinstance(value, list | tuple):
            items = self.seq(value, plan, act, depth + 1)
            if items or (not value and keep_empty):
                _put(container, key, items)
        elif act is _DROP:
            return
        else:
            _check_scalar(value, field)  # raises for what is not a JSON value
            plain = str(value) if isinstance(value, str) else value
            _put(container, key, plain)
            if act is _ANONYMIZE:
                self.pending.append((container, key, plain, field))
            elif isinstance(plain, str):
                self.kept.append((container, key, plain, field))


def _put(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, list):
        container.append(value)
    else:
        container[key] = value


def _well_formed(replacements: Mapping[str, str]) -> bool | None:
    """``None`` unless every token is a non-empty string and every original a string, else whether every token
    is a lower-case UUID (see :func:`~anonymizer.restore.uuid_tokens`). Checked at C speed, in batches; a map
    that fails is checked again entry by entry, for an error that names the entry."""
    try:
        plain = uuid_tokens(replacements)
        values = iter(replacements.values())
        for _ in range(0, len(replacements), 512):
            "".join(islice(values, 512))
    except TypeError:
        return None
    return None if "" in replacements else plain


def _entry(token: str, index: int) -> str:
    """How an error names a replacements entry: by its token when it has a token's shape, else by position
    (a map given the wrong way round has originals for keys, and those must not be echoed)."""
    if token_shaped(token):
        return f"replacements[{token!r}]"
    return f"replacements entry #{index}"


def _stored_kind(token: str, default: int) -> int:
    """The kind of value a token bound from a stored map stands for: what its shape says (built-in strategies
    mark tokens of numbers, booleans and null), else ``default``."""
    if is_json_token(token):
        return _JSON
    return _STR if token_shaped(token) else default


def _json_text(value: Any, field: str) -> str:
    """The original of a number, boolean or null field value: its JSON text."""
    try:
        return json.dumps(value)
    except ValueError:  # Python's limit on int -> str conversion (4,300 digits by default)
        raise PayloadError([Issue((field,), "an integer too long to tokenize")], kind="data") from None


def _check_scalar(value: Any, field: str) -> None:
    if value is None or isinstance(value, str | bool | int | float):
        return
    raise PayloadError([Issue((), f"field '{field}' holds a {type(value).__name__}, not a JSON value")])


def _apply(text: str, spans: list[Span]) -> str:
    if not spans:
        return text
    parts: list[str] = []
    pos = 0
    for start, end, rep in spans:
        parts.append(text[pos:start])
        parts.append(rep)
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


def _collect_strings(obj: Any, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise PayloadError([Issue((), f"JSON nested deeper than {MAX_DEPTH} levels")])
    if isinstance(obj, str):
        out.append(obj)
    elif isinstance(obj, Mapping):
        for v in obj.values():
            _collect_strings(v, out, depth + 1)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _collect_strings(v, out, depth + 1)


def _rebuild(obj: Any, leaf: Any, key: Any = None, depth: int = 0) -> Any:
    """A copy of a JSON value with ``leaf`` applied to every string (and ``key`` to every key, if given)."""
    if isinstance(obj, str):
        return leaf(obj)
    if depth > MAX_DEPTH:
        raise PayloadError([Issue((), f"JSON nested deeper than {MAX_DEPTH} levels")])
    if isinstance(obj, Mapping):
        return {
            (key(k) if key and isinstance(k, str) else k): _rebuild(v, leaf, key, depth + 1) for k, v in obj.items()
        }
    if isinstance(obj, list | tuple):
        return [_rebuild(v, leaf, key, depth + 1) for v in obj]
    return obj


def _copy_json(obj: Any) -> Any:
    return _rebuild(obj, lambda s: s)
