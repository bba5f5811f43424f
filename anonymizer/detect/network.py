"""Network identifiers: URLs (internal hosts too), e-mail addresses validated offline, IP addresses with any
trailing punctuation, and defanged indicators (``1.2.3[.]4``, ``hxxp://``, ``evil[.]com``, ``a[@]b[.]com``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import regex
import tldextract
from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import EmailRecognizer, UrlRecognizer

from anonymizer.detect.patterns import recognizer_result

if TYPE_CHECKING:
    from presidio_analyzer.nlp_engine import NlpArtifacts

__all__ = [
    "INTERNAL_SUFFIXES",
    "WELL_KNOWN_IPS",
    "AnyHostUrlRecognizer",
    "DefangedRecognizer",
    "IpAddressRecognizer",
    "OfflineEmailRecognizer",
    "offline_tldextract",
    "refang",
]

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


def suffix_alternation(suffixes: Iterable[str]) -> str:
    """A regex alternation of DNS suffixes, longest first."""
    return "|".join(regex.escape(s) for s in sorted(suffixes, key=lambda s: (-len(s), s)))


#: One DNS label.
LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# Presidio's URL TLD list, minus the TLDs that are mostly file extensions in security text (setup.py, run.sh).
_FILE_LIKE_TLDS = frozenset({"md", "mov", "pl", "ps", "py", "rs", "sh", "so", "zip"})
_PUBLIC_TLDS = sorted(
    set(regex.findall(r"\(\?:([a-z]+)\)", UrlRecognizer.BASE_URL_REGEX)) - _FILE_LIKE_TLDS,
    key=lambda s: (-len(s), s),
)
# Elastic Common Schema field sets: ``process.name``, ``user.id``, ``user.email`` are field names, not domains.
_ECS_FIELD_SETS = (
    "(?:agent|as|client|cloud|code_signature|container|data_stream|destination|device|dll|dns|ecs|elf|email|error|"
    "event|faas|file|geo|group|hash|host|http|interface|log|macho|network|observer|orchestrator|organization|os|"
    "package|pe|process|registry|related|risk|rule|server|service|source|span|threat|tls|trace|transaction|url|"
    "user|user_agent|vlan|volume|vulnerability|x509|kibana|signal|winlog|powershell|sysmon|message|labels|tags)"
)
_PUBLIC_TLD_SET = frozenset(_PUBLIC_TLDS)
_URL_TRAILING = ".,;:!?)]}'\""


class AnyHostUrlRecognizer(PatternRecognizer):
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
                "Internal URL with path",
                rf"(?<![@\w.-])(?:{LABEL}\.)+(?:{suffix_alternation(internal)})(?::\d{{1,5}})?/[^\s<>\"'`]*",
                0.6,
            ),
        ]
        # Bare public domains: one scan for dotted names, then the last label looked up among the public TLDs
        # (a regex alternation of ~1,500 TLDs at every position costs more than the rest of the recognizers).
        self._bare = re.compile(
            rf"(?<![@\w.-])(?!{_ECS_FIELD_SETS}\.)(?:{LABEL}\.)+(?P<tld>[a-z]{{2,63}}){host_end}{path}", re.I
        )
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
        for m in self._bare.finditer(text):
            if m.group("tld").lower() in _PUBLIC_TLD_SET:
                results.append(recognizer_result(self, "URL", m.start(), m.end(), 0.5, "Bare public URL"))
        for r in results:
            while r.end > r.start and text[r.end - 1] in _URL_TRAILING:
                r.end -= 1
        return results


class OfflineEmailRecognizer(EmailRecognizer):
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


def offline_tldextract() -> tldextract.TLDExtract:
    """A ``TLDExtract`` on the public-suffix snapshot it ships: it never fetches the list nor writes a cache."""
    # suffix_list_urls=() makes tldextract use the snapshot it ships; cache_dir=None writes nothing.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


#: Addresses that name no machine of anyone's: visible, the analysis needs them.
WELL_KNOWN_IPS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"})

_CIDR = re.compile(r"/(\d{1,3})(?!\d)")
_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)"
_IPV6 = r"(?<![\w:.])(?:[0-9A-Fa-f]{1,4}:|:){2,7}[0-9A-Fa-f.:]*(?:%[A-Za-z0-9_.]+)?(?![\w])"


class IpAddressRecognizer(PatternRecognizer):
    """IPv4 and IPv6 addresses, validated with :mod:`ipaddress`; an IPv6 address followed by ``:`` or ``.``
    (end of a sentence, a port, a list) is still found. Loopback, unspecified and broadcast stay visible.

    Replaces Presidio's ``IpRecognizer``, which drops ``2001:db8::8a2e:370:7334:`` whole.
    """

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            supported_entity="IP_ADDRESS",
            name="IpAddressRecognizer",
            patterns=[Pattern("IPv4", _IPV4, 0.6), Pattern("IPv6", _IPV6, 0.6)],
            context=["ip", "ipv4", "ipv6", "address", "source", "destination"],
            supported_language=language,
        )
        self._candidates = re.compile(f"{_IPV4}|{_IPV6}")

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: Any = None,
    ) -> list[RecognizerResult]:
        """Each candidate, shortened by trailing ``:``/``.`` until it parses as an address."""
        results: list[RecognizerResult] = []
        for m in self._candidates.finditer(text):
            start, end = m.span()
            while end > start:
                candidate = text[start:end]
                if _is_address(candidate):
                    cidr = _CIDR.match(text, end)
                    if cidr and int(cidr.group(1)) <= (32 if "." in candidate and ":" not in candidate else 128):
                        end = cidr.end()
                    if candidate.split("%")[0].lower() not in WELL_KNOWN_IPS:
                        results.append(recognizer_result(self, "IP_ADDRESS", start, end, 0.6, "IP address"))
                    break
                if text[end - 1] not in ":.":
                    break
                end -= 1
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return deduplicated


def _is_address(candidate: str) -> bool:
    if candidate.count(":") < 2 and candidate.count(".") != 3:
        return False
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return False
    return True


_DOT = r"(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[\.|\.\]|\.)"
_AT = r"(?:\[@\]|\(@\)|\[at\]|\(at\)|@)"
_DEFANGED = re.compile(
    r"(?<![\w\[\](){}.@/-])(?:(?:h[xX]{2}ps?|f[xX]p|https?|s?ftp)(?:\[:\]|\[://\]|:)//)?"
    rf"[A-Za-z0-9_-]+(?:(?:{_DOT}|{_AT})[A-Za-z0-9_-]+)+"
    r"(?:(?:\[:\]|:)\d{1,5})?(?:/[^\s<>\"'`]*)?",
    re.IGNORECASE,
)
_DEFANG_MARK = re.compile(
    r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[\.|\.\]|\[@\]|\(@\)|\[at\]|\(at\)|\[:\]|h[xX]{2}p|f[xX]p", re.I
)
_TRAILING = ".,;:!?)]}'\""


def refang(indicator: str) -> str:
    """The indicator with its defanging undone: ``hxxp://a[.]b`` gives ``http://a.b``.

    >>> refang("hxxps://login-example[.]com/a") , refang("1.2.3[.]4"), refang("a[@]b[.]com")
    ('https://login-example.com/a', '1.2.3.4', 'a@b.com')
    """
    out = re.sub(r"\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\)|\[\.|\.\]", ".", indicator, flags=re.I)
    out = re.sub(r"\[@\]|\(@\)|\[at\]|\(at\)", "@", out, flags=re.I)
    out = re.sub(r"\[:\]|\[://\]", ":", out).replace("::////", "://")
    return re.sub(r"^h[xX]{2}p", "http", re.sub(r"^f[xX]p", "ftp", out))


class DefangedRecognizer(PatternRecognizer):
    """Defanged indicators: ``185.220.101[.]34``, ``hxxps://evil[.]com/x``, ``evil[.]com``, ``a[@]b[.]com``.

    Each is reported as what it stands for once refanged (:func:`refang`): ``IP_ADDRESS``, ``EMAIL_ADDRESS``,
    ``URL`` (with a scheme or a path) or ``HOST_NAME``.
    """

    ENTITIES = ("IP_ADDRESS", "EMAIL_ADDRESS", "URL", "HOST_NAME")

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            supported_entity="URL",
            name="DefangedRecognizer",
            patterns=[Pattern("Defanged indicator", _DEFANGED.pattern, 0.8)],
            supported_language=language,
        )
        self.supported_entities = list(self.ENTITIES)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: Any = None,
    ) -> list[RecognizerResult]:
        """Each defanged indicator, typed by what it refangs to."""
        results: list[RecognizerResult] = []
        if _DEFANG_MARK.search(text) is None:
            return results
        for m in _DEFANGED.finditer(text):
            start, end = m.span()
            while end > start and text[end - 1] in _TRAILING and not text[start:end].endswith(("[.]", "(.)")):
                end -= 1
            value = text[start:end]
            if not _DEFANG_MARK.search(value):
                continue
            plain = refang(value)
            if "://" in plain or "/" in plain:
                entity = "URL"
            elif "@" in plain:
                entity = "EMAIL_ADDRESS"
            elif _is_address(plain):
                entity = "IP_ADDRESS"
            else:
                entity = "HOST_NAME"
            results.append(recognizer_result(self, entity, start, end, 0.8, "Defanged indicator", _DEFANGED.pattern))
        deduplicated: list[RecognizerResult] = EntityRecognizer.remove_duplicates(results)
        return deduplicated
