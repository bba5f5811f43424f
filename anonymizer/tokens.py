"""Token strategies: how the stand-in for an original value is made.

=============== ========================================== ==============================================
strategy        token                                      use it when
=============== ========================================== ==============================================
``uuid``        ``9f0c3c1e-5a0b-4c3e-9d7a-0e6b1f2a3b4c``   Kibana compatibility (its default); random
``keyed``       a UUIDv8 from HMAC-SHA256(key, value)      the same person must get the same token in
                                                           every file, process and run (no shared table)
``placeholder`` ``<USER_NAME_1_K7Q2X5>``                   the model should see what kind of value it is;
                                                           short tokens a model keeps intact (the last
                                                           part is the conversation's tag)
``mask``        ``HOST_NAME_<hex>``                        Kibana observability format (8.19/9.1 unkeyed
                                                           SHA-1 object hash; keyed: 32-hex HMAC)
=============== ========================================== ==============================================

A strategy is any object with a ``mint(original, context) -> str`` method (see :class:`TokenStrategy`). The
session calls it only for an original it has no token for yet, and calls it again with ``context.attempt``
increased when the token it got is unusable (already bound to another original, or containing an original);
a strategy may also test candidates itself with ``context.usable(token)``.

Injection safety: a token of another conversation never restores to this conversation's original. Random
``uuid`` tokens differ between conversations; ``placeholder`` tokens carry a random tag of their conversation
(``<USER_NAME_1_K7Q2X5>``: ``K7Q2X5`` is the tag, kept when a session is resumed from its stored map), so
another conversation's ``<USER_NAME_1_...>`` is another token. ``keyed`` and ``mask`` tokens are a function of
the value: two conversations share a token only for the same value, which restores to that same value.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn, Protocol, runtime_checkable

from .errors import ArgumentTypeError, ConfigError

__all__ = [
    "MASK_PATTERN",
    "PLACEHOLDER_PATTERN",
    "TAG_PATTERN",
    "UUID_PATTERN",
    "KeyedTokens",
    "MaskTokens",
    "PlaceholderTokens",
    "TokenContext",
    "TokenStrategy",
    "UuidTokens",
    "conversation_tag",
    "entity_mask",
    "is_json_token",
    "label_for",
    "new_tag",
    "placeholder_parts",
    "strategy_for",
    "token_label",
]

# A conversation tag: three letters and three digits, alternating (``K7Q2X5``). Letters are upper case without
# I, L, O and U, so that a tag survives a change of case and is not misread; alternating, a tag seldom holds an
# original (a number, a word). The digits of a conversation's tag add up to an even number; its tokens of
# numbers, booleans and null carry the same tag with the last digit moved by 5 (odd sum), so the kind of value
# survives a stored str -> str map. 22**3 * 10**3 / 2: about one chance in five million that two conversations
# share a tag.
_TAG_LETTERS = "ABCDEFGHJKMNPQRSTVWXYZ"
_TAG_DIGITS = "0123456789"
#: A conversation tag, as regular-expression source.
TAG_PATTERN = r"(?:[A-HJKMNP-TV-Z][0-9]){3}"

# Token shapes, as regular-expression source without anchors: what the built-in strategies mint, and what the
# restorer reports as an unknown token when it is not in the map.
#: A UUID (``uuid`` and ``keyed`` tokens), either case.
UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
#: A placeholder ``<LABEL_N_TAG>``, or ``<LABEL_N>`` as minted before conversation tags (still restored).
PLACEHOLDER_PATTERN = rf"<[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*_[0-9]+(?:_{TAG_PATTERN})?>"
#: An observability mask ``CLASS_<hex>``: 40 hex digits (unkeyed SHA-1) or 32 (keyed HMAC).
MASK_PATTERN = r"[A-Z][A-Z0-9_]*_(?:[0-9a-f]{40}|[0-9a-f]{32})"

_PLACEHOLDER_PARTS = re.compile(rf"<([A-Z][A-Z0-9_]*?)_([0-9]+)(?:_({TAG_PATTERN}))?>\Z")


def token_label(token: str) -> str | None:
    """The class label of a typed token (a placeholder or a mask), else ``None``.

    >>> token_label("<USER_NAME_1_K7Q2X5>"), token_label("HOST_NAME_" + "0" * 40), token_label("x")
    ('USER_NAME', 'HOST_NAME', None)
    """
    parts = placeholder_parts(token) if token[:1] == "<" else None
    if parts is not None:
        return parts[0]
    m = _MASK_HEX.search(token)
    label = token[: m.start()] if m else ""
    return label if label and _MASK_LABEL.fullmatch(label) else None


def new_tag() -> str:
    """A fresh random conversation tag (matching ``TAG_PATTERN``, digits adding up to an even number), e.g.
    ``K7Q2X5``."""
    n = secrets.randbelow(22**3 * 10**3)  # one draw (cheaper than six), spelt out in mixed radix
    chars: list[str] = []
    for _ in range(3):
        n, letter = divmod(n, 22)
        n, digit = divmod(n, 10)
        chars += (_TAG_LETTERS[letter], _TAG_DIGITS[digit])
    tag = "".join(chars)
    return tag if _digit_sum(tag) % 2 == 0 else _twin(tag)


def _digit_sum(tag: str) -> int:
    return int(tag[1]) + int(tag[3]) + int(tag[5])


def _twin(tag: str) -> str:
    """The tag with its last digit moved by 5: the other parity (a conversation's tag <-> its JSON-value tag)."""
    return tag[:5] + str((int(tag[5]) + 5) % 10)


def conversation_tag(tag: str) -> str:
    """The conversation tag of a token's tag: the tag itself, or (a token of a number, boolean or null) its twin."""
    return tag if _digit_sum(tag) % 2 == 0 else _twin(tag)


def _json_marked(hex_digits: str) -> str:
    """``hex_digits`` with its last 8 replaced by a check of the others: a token that stands for a number,
    boolean or null says so, and a token minted elsewhere (Kibana's random UUIDs) has one chance in 2**32 of
    looking like one."""
    head = hex_digits[:-8]
    return head + hashlib.sha256(b"anonymizer/json-value/v1\x00" + head.lower().encode()).hexdigest()[:8]


# The variant digit of a UUIDv4 ("10" then two random bits), indexed by a random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def _random_uuid4_hex() -> str:
    """32 hex digits of a random RFC 9562 version-4 UUID (what ``uuid.uuid4().hex`` gives, at a third of its
    cost: no ``UUID`` object is built). 122 random bits from ``os.urandom``, read afresh for every token.

    >>> import uuid
    >>> token = _as_uuid(_random_uuid4_hex())
    >>> uuid.UUID(token).version, uuid.UUID(token).variant == uuid.RFC_4122, str(uuid.UUID(token)) == token
    (4, True, True)
    """
    h = os.urandom(16).hex()
    return f"{h[:12]}4{h[13:16]}{_VARIANT[h[16]]}{h[17:]}"


def _as_uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


_UUID_FULL = re.compile(UUID_PATTERN + r"\Z")
_MASK_HEX = re.compile(r"_([0-9a-f]{40}|[0-9a-f]{32})\Z")
_MASK_LABEL = re.compile(r"[A-Z][A-Z0-9_]*")


def is_json_token(token: str) -> bool:
    """Whether ``token`` was minted by a built-in strategy for a number, boolean or null (its original is JSON
    text), so that a session resumed from a stored ``str -> str`` map gives the value back with its type.

    >>> from anonymizer import Anonymizer
    >>> session = Anonymizer(tokens="uuid").session()
    >>> out = session.anonymize_data({"user.name": "jdoe", "user.id": 4608}, fields_to_anonymize=["user.id"])
    >>> is_json_token(out["user.id"]), is_json_token(out["user.name"])
    (True, False)
    """
    if len(token) == 36 and _UUID_FULL.match(token):
        hex32 = token.replace("-", "")
        return _json_marked(hex32) == hex32.lower()
    if token[:1] == "<":
        parts = placeholder_parts(token)
        return parts is not None and bool(parts[2]) and _digit_sum(parts[2]) % 2 == 1
    m = _MASK_HEX.search(token)
    return m is not None and _json_marked(m.group(1)) == m.group(1)


def placeholder_parts(token: str) -> tuple[str, int, str] | None:
    """``(label, number, tag)`` of a placeholder token (``tag`` is ``""`` for an untagged one), else ``None``.

    >>> placeholder_parts("<USER_NAME_12_K7Q2X5>"), placeholder_parts("<HOST_NAME_3>"), placeholder_parts("x")
    (('USER_NAME', 12, 'K7Q2X5'), ('HOST_NAME', 3, ''), None)
    """
    m = _PLACEHOLDER_PARTS.match(token)
    if m is None:
        return None
    return m.group(1), int(m.group(2)), m.group(3) or ""


@dataclass(frozen=True, slots=True)
class TokenContext:
    """What a strategy may know when it mints a token.

    ``field`` is the ECS field the original came from (``None`` for free text); ``entity_class`` the class
    a detector gave it (``PERSON``, ``EMAIL_ADDRESS``, ...); ``attempt`` counts retries (0 first).
    ``ordinal(label)`` is the next free number for a label in this session (a retry gets the number
    ``attempt`` further on); a number is used up only by the token that is bound. ``tag`` is the
    conversation's random tag (``TAG_PATTERN``, e.g. ``K7Q2X5``; kept when the session is resumed from its
    stored map). ``usable(token)`` says whether the session would accept a
    token (not bound to another original, containing no original of the conversation). ``json_value`` says
    that the original is the JSON text of a number, boolean or null: a strategy that can should mint a token
    that says so (see :func:`is_json_token`), so that a resumed session gives the value back with its type.
    """

    field: str | None = None
    entity_class: str | None = None
    attempt: int = 0
    ordinal: Callable[[str], int] = lambda label: 1
    tag: str = ""
    usable: Callable[[str], bool] = lambda token: True
    json_value: bool = False


@runtime_checkable
class TokenStrategy(Protocol):
    """Makes tokens. Implementations must be immutable (an engine is shared across threads).

    Example, a strategy that numbers values per session::

        class Numbered:
            name = "numbered"
            alphabet = frozenset("VALUE_0123456789")

            def mint(self, original: str, context: TokenContext) -> str:
                return f"VALUE_{context.ordinal('VALUE')}"
    """

    #: A short name, for reprs and CLI options.
    name: str
    #: Every character a token of this strategy can contain (``None``: unknown). The session uses it to
    #: check, cheaply, that no token it mints contains an original of the conversation.
    alphabet: frozenset[str] | None

    def mint(self, original: str, context: TokenContext) -> str:
        """Return a token for ``original``."""
        ...


_HEX = frozenset("0123456789abcdef")
_LABEL_RE = re.compile(r"[^A-Za-z0-9]+")


def label_for(field: str | None, entity_class: str | None = None, default: str = "VALUE") -> str:
    """The class label of a token: the entity class, else the field in upper snake case.

    >>> label_for("user.name"), label_for(None, "PER"), label_for("@timestamp"), label_for(None)
    ('USER_NAME', 'PER', 'TIMESTAMP', 'VALUE')
    """
    raw = entity_class or field or ""
    label = _LABEL_RE.sub("_", raw).strip("_").upper()
    if not label:
        return default
    if not label[0].isalpha():
        label = f"{default}_{label}"
    return label


class UuidTokens:
    """Random lower-case UUIDv4 tokens, as Kibana mints them."""

    name = "uuid"
    alphabet: frozenset[str] | None = _HEX | {"-"}

    def mint(self, original: str, context: TokenContext) -> str:
        """A fresh random UUIDv4 (for a number, boolean or null: one whose last 8 hex digits check the others)."""
        hex32 = _random_uuid4_hex()
        return _as_uuid(_json_marked(hex32) if context.json_value else hex32)

    def __repr__(self) -> str:
        return "UuidTokens()"


class KeyedTokens:
    """Deterministic tokens: HMAC-SHA256 of the value under ``key``, shaped as a UUID (version 8).

    The same value gets the same token in every process and run that uses the same key, so files
    redacted separately agree, and no table is needed to be consistent. The token is not invertible
    without the replacements map. The key is never stored in a token or printed in the repr.
    """

    name = "keyed"
    alphabet: frozenset[str] | None = _HEX | {"-"}
    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        self._key = _key_bytes(key)

    def mint(self, original: str, context: TokenContext) -> str:
        """The UUIDv8 derived from HMAC-SHA256(key, original) (and the attempt number on a retry)."""
        msg = b"anonymizer/keyed/v1\x00" + original.encode("utf-8", "surrogatepass")
        if context.attempt:
            msg += b"\x00" + str(context.attempt).encode()
        if context.json_value:  # the number 4608 and the string "4608" get different tokens
            msg += b"\x00json"
        digest = bytearray(hmac.new(self._key, msg, hashlib.sha256).digest()[:16])
        digest[6] = (digest[6] & 0x0F) | 0x80  # version 8: custom
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 9562 variant
        hex32 = bytes(digest).hex()
        return _as_uuid(_json_marked(hex32) if context.json_value else hex32)

    def __repr__(self) -> str:
        return "KeyedTokens(key=<hidden>)"

    def __reduce__(self) -> NoReturn:
        _refuse_to_pickle_a_key("KeyedTokens")


class PlaceholderTokens:
    """Readable typed tokens, numbered per session and tagged per conversation: ``<USER_NAME_1_K7Q2X5>``,
    ``<HOST_NAME_2_K7Q2X5>``, ``<PERSON_1_K7Q2X5>``.

    The tag (``K7Q2X5``) is random per conversation, so that another conversation's ``<USER_NAME_1_...>`` is
    never this conversation's token. Numbers go 1, 2, 3, ... per label; a number whose token would contain an
    original of the conversation (a numeric user name ``"1234"`` and the 1,234th user name) is passed over, and
    when the label itself contains one (a user named ``NAME`` in ``user.name``) the token is ``<VALUE_N_TAG>``.
    """

    name = "placeholder"
    alphabet: frozenset[str] | None = frozenset("<>_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    #: Numbers tried per label before the next label (or, last, giving up: the session raises TokenError).
    numbers_tried = 64

    def mint(self, original: str, context: TokenContext) -> str:
        """``<LABEL_N_TAG>``: LABEL from the entity class or field, N the next number that gives a usable token."""
        label = label_for(context.field, context.entity_class)
        tag = _twin(context.tag) if context.tag and context.json_value else context.tag
        suffix = f"_{tag}>" if tag else ">"
        token = ""
        for name in (label, "VALUE") if label != "VALUE" else (label,):
            first = context.ordinal(name)
            for number in range(first, first + self.numbers_tried):
                token = f"<{name}_{number}{suffix}"
                if context.usable(token):
                    return token
        return token

    def __repr__(self) -> str:
        return "PlaceholderTokens()"


class MaskTokens:
    """Kibana observability masks ``CLASS_<hex>``: unkeyed SHA-1 object hash, or keyed 32-hex HMAC."""

    name = "mask"
    alphabet: frozenset[str] | None = frozenset("_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdef")
    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None) -> None:
        self._key = _key_bytes(key) if key is not None else None

    def mint(self, original: str, context: TokenContext) -> str:
        """The mask of ``original`` for its class (a retry hashes the value with the attempt number). When the
        class itself holds an original of the conversation (a user named ``NAME``), the class is ``VALUE``."""
        value = original if not context.attempt else f"{original}\x00{context.attempt}"
        label = label_for(context.field, context.entity_class)
        token = self._mask(value, label, context.json_value)
        if label != "VALUE" and not context.usable(token):
            fallback = self._mask(value, "VALUE", context.json_value)
            if context.usable(fallback):
                return fallback
        return token

    def _mask(self, value: str, label: str, json_value: bool) -> str:
        token = entity_mask(value, label, key=self._key)
        if not json_value:
            return token
        cut = len(label) + 1
        return token[:cut] + _json_marked(token[cut:])

    def __repr__(self) -> str:
        return "MaskTokens(key=<hidden>)" if self._key is not None else "MaskTokens()"

    def __reduce__(self) -> tuple[type[MaskTokens], tuple[()]]:
        if self._key is not None:
            _refuse_to_pickle_a_key("MaskTokens")
        return (MaskTokens, ())


def _refuse_to_pickle_a_key(strategy: str) -> NoReturn:
    """A keyed strategy never travels in a pickle: the key would go in clear to every process that receives it."""
    raise ArgumentTypeError(
        f"{strategy} holds its key and cannot be pickled (the key would travel in clear); ship where the key is "
        "instead (anonymizer.batch.BatchConfig(key_file=... or key_env=...)) and build the engine in the worker"
    )


def _key_bytes(key: bytes | bytearray | str) -> bytes:
    """A key as bytes (a ``str`` is taken as UTF-8). Use 32 random bytes; shorter keys are weaker."""
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, bytes | bytearray) or not key:
        raise ConfigError("a token key must be non-empty bytes (for example 32 bytes read from a key file)", path="key")
    return bytes(key)


# object-hash 1.3/3.x serializes {value, class_name} with this fixed preamble (the prototype walk of a
# plain object); see the research notes.
# Kibana: getEntityMask = CLASS + "_" + objectHash({value, class_name}).
_OBJECT_HASH_PREFIX = (
    "object:5:string:9:prototype:Undefined,string:9:__proto__:object:3:string:9:prototype:Undefined,"
    "string:9:__proto__:Null,string:11:constructor:fn:string:8:[native]string:20:function-name:Object"
    "object:0:,,string:11:constructor:fn:string:8:[native]string:20:function-name:Object"
    "string:12:[CIRCULAR:2],"
)


def _js_len(text: str) -> int:
    """JavaScript ``.length``: UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _oh_string(text: str) -> str:
    return f"string:{_js_len(text)}:{text}"


def entity_mask(value: str, class_name: str, *, key: bytes | None = None, field: str | None = None) -> str:
    """One observability mask for ``value`` of ``class_name``.

    Unkeyed: Kibana 8.19/9.1's ``CLASS_`` + object-hash SHA-1 (40 hex) of ``{value, class_name}``.
    Keyed: ``CLASS_`` + the first 32 hex of HMAC-SHA256(key, message) where message is
    ``"{len(cls)}:{cls}:{len(field)}:{field}:{value}"`` and ``field`` defaults to the class.

    >>> entity_mask("my-server-01", "HOST_NAME")
    'HOST_NAME_69a3ddb8f26cfd626b9de2cee13de641aa226208'
    """
    if not isinstance(value, str) or not isinstance(class_name, str) or not isinstance(field, str | None):
        raise ArgumentTypeError("entity_mask takes the value, the class name and the field as strings")
    if key is None:
        payload = (
            _OBJECT_HASH_PREFIX + f"{_oh_string('class_name')}:{_oh_string(class_name)},"
            f"{_oh_string('value')}:{_oh_string(value)},"
        )
        digest = hashlib.sha1(payload.encode("utf-8", "surrogatepass")).hexdigest()
        return f"{class_name}_{digest}"
    scope = class_name if field is None else field
    message = f"{len(class_name)}:{class_name}:{len(scope)}:{scope}:{value}"
    mac = hmac.new(_key_bytes(key), message.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{class_name}_{mac[:32]}"


def strategy_for(tokens: str | TokenStrategy, key: bytes | None = None) -> TokenStrategy:
    """The strategy named by ``tokens`` (``uuid``, ``keyed``, ``placeholder``, ``mask``), or ``tokens``."""
    if not isinstance(tokens, str):
        if not callable(getattr(tokens, "mint", None)):
            raise ArgumentTypeError(
                f"tokens must be a strategy name or an object with a mint() method, not {type(tokens).__name__}"
            )
        return tokens
    if tokens == "uuid":
        return UuidTokens()
    if tokens == "keyed":
        if key is None:
            raise ConfigError('tokens="keyed" needs key=<bytes> (for example read from a key file)', path="key")
        return KeyedTokens(key)
    if tokens == "placeholder":
        return PlaceholderTokens()
    if tokens == "mask":
        return MaskTokens(key)
    raise ConfigError("unknown token strategy: use uuid, keyed, placeholder or mask", path="tokens")
