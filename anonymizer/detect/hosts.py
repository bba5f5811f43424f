"""Host names: fully qualified names on internal suffixes, and short (NetBIOS-like) names by their shape and
the words around them (``on host WS-042``, ``Workstation Name: LT-7``, ``\\\\FS02\\share``, ``DC01``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from presidio_analyzer import Pattern, PatternRecognizer

from anonymizer.detect.network import LABEL, suffix_alternation
from anonymizer.detect.patterns import ValuePatternRecognizer, word_set

__all__ = ["HostNameRecognizer", "InternalHostRecognizer"]


class InternalHostRecognizer(PatternRecognizer):
    """Fully qualified host names on internal suffixes (``dc01.corp.local``) as ``HOST_NAME``."""

    def __init__(self, internal: Iterable[str], language: str) -> None:
        pattern = rf"(?<![@\w.-])(?:{LABEL}\.)+(?:{suffix_alternation(internal)})\b(?![.-]?\w)"
        super().__init__(
            supported_entity="HOST_NAME",
            name="InternalHostRecognizer",
            patterns=[Pattern("Internal FQDN", pattern, 0.6)],
            context=["host", "hostname", "server"],
            supported_language=language,
        )


_NAME = r"(?P<value>[A-Za-z0-9][A-Za-z0-9-]{0,62}(?<!-))(?![\w.-]*\w)"
_STRONG = (
    r"(?i:\b(?:host(?:[ _.-]?name)?|computer(?:[ _-]?name)?|workstation(?:[ _-]?name)?|machine(?:[ _-]?name)?|"
    r"server|device(?:[ _-]?name)?|endpoint|node|client[ _-]?name|dvchost|shost|dhost|src_?host|dst_?host|"
    r"host\.name|host\.hostname|agent\.name|observer\.name|laptop|desktop|vm|box|dc|domain controller|rhost|lhost|"
    r"jump ?(?:host|box)|bastion)s?)"
)
_WEAK = r"(?i:\b(?:on|from|to|at|via|into|onto|against|reach(?:ed)?|isolate|isolated|reimage|rebuild|scan(?:ned)?))"

# Shapes that are analytic identifiers, versions or technical words, not hosts.
_NOT_HOST = re.compile(
    r"(?i)^(?:cve|cwe|ghsa|capec|ms\d\d|kb\d|rfc|iso|nist|pci|sha|md[45]|aes|des|rsa|ecdsa|ed25519|tls|ssl|ssh|"
    r"http|https|utf|ucs|ascii|base\d|x86|x64|amd64|arm64|i386|win(?:dows)?\d|win32|win64|ipv[46]|smbv?\d|"
    r"ntlmv?\d|kerberos|covid|log4j|h\d|p\d|q\d|fy\d|v\d|t[as]?\d{4}|s\d|ec\d|m\d|cp\d+|rc\d|mp\d|s-1-|"
    r"0x|\d|apt\d|fin\d|unc\d|ta\d{3}|storm-\d|dev-\d|gpt|llama|claude|gemini|mistral|phi-\d|o\d|"
    # ticket and case ids, months (Jan-20-2024), products with a version or year (Office365, Server2019)
    r"inc|case|ticket|req|chg|prb|ritm|jira|task|sr-|cr-|ir-|db2$|"
    r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*-\d|"
    r"(?:office|server|windows|exchange|sql|outlook|visualstudio|vs|android|ios|macos|ubuntu|debian|rhel|centos|"
    r"fedora|kali|java|python|php|node|dotnet|net|chrome|firefox|edge|safari|log4)[-_ ]?\d)"
    r"|(?i:^(?:top|step|phase|stage|level|tier|layer|part|page|day|week|hour|minute)-?\d+$)"
)
# First parts that name a host role; NAME-123 with such a prefix is a host.
_ROLE = (
    r"(?:desktop|laptop|win|ws|wks|pc|nb|lt|srv|svr|sv|dc|ad|sql|db|web|app|apps|fs|file|files|print|prn|vm|vdi|"
    r"host|node|mac|mbp|exch|mail|mx|ns|dns|dhcp|proxy|fw|gw|vpn|rtr|sw|esx|esxi|hv|k8s|kube|jump|bastion|"
    r"build|ci|git|nas|san|backup|bkp|mgmt|adm|admin|kiosk|pos|lab|test|dev|prod|stg|uat|ubuntu|debian|centos|"
    r"rhel|linux|lnx|ip|ec2|az|gcp)"
)


def _host_shaped(value: str) -> bool:
    """Letters and digits mixed, or hyphenated parts with a digit: WS-042, DC01, pos-store-112, FILESRV3."""
    if _NOT_HOST.match(value) or len(value) < 3:
        return False
    letters = sum(c.isalpha() for c in value)
    digits = sum(c.isdigit() for c in value)
    return letters >= 2 and digits >= 1 and value[0].isalpha()


class HostNameRecognizer(ValuePatternRecognizer):
    """Short host names: after host words (``host``, ``Workstation Name:``, ``ComputerName=``), after ``on``/
    ``from``/``to`` when host-shaped (letters and digits), UNC paths (``\\\\FS02\\share``), and shapes that
    are hosts on their own (``WS-FIN-042``, ``DESKTOP-7QK2M``, ``srv-db-01``, ``DC02``).
    """

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "HOST_NAME",
            name="HostNameRecognizer",
            language=language,
            patterns=[
                Pattern("After host word", _STRONG + r"[\"']?\s*(?:[:=]|=>|\s)\s*[\"']?" + _NAME, 0.7),
                Pattern(
                    "After preposition",
                    _WEAK + r"\s+(?:(?i:the )?(?i:host|machine|server|workstation|box)\s+)?" + _NAME,
                    0.6,
                ),
                Pattern("UNC path", r"(?<![\\\w])\\\\{1,2}(?P<value>[A-Za-z0-9][A-Za-z0-9.-]{0,62})\\", 0.8),
                Pattern(
                    "Command line -h",
                    r"(?:\s)(?:-h|--host(?:name)?|-H|/node:|/s:?)[ =:]?(?P<value>[A-Za-z][A-Za-z0-9-]{1,62})"
                    r"(?![\w.-]*\w)",
                    0.6,
                ),
                Pattern(
                    "Role-prefixed name",
                    rf"(?<![\w.\\/-])(?=[A-Za-z0-9]*-[\w-]*\d)(?P<value>(?i:{_ROLE})(?:-[A-Za-z0-9]+)*-[A-Za-z0-9]*\d[A-Za-z0-9]*)"
                    r"(?![\w.-]*\w)",
                    0.6,
                ),
                Pattern(
                    "Hyphenated name with a number",
                    r"(?<![\w.\\/-])(?=[A-Za-z0-9]*-[A-Za-z0-9]*-)(?P<value>[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+){1,4}-[A-Za-z0-9]*\d"
                    r"[A-Za-z0-9]*)"
                    r"(?![\w.-]*\w)",
                    0.55,
                ),
                Pattern(
                    "Role and number",
                    rf"(?<![\w.\\/-])(?=[A-Za-z]+\d)(?P<value>(?i:{_ROLE})\d{{1,4}}[A-Za-z]?)(?![\w.-]*\w)",
                    0.55,
                ),
            ],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Host-shaped (or after a host word: not a word of prose), and not an analytic identifier."""
        if _NOT_HOST.match(value):
            return False
        before = text[max(0, start - 40) : start]
        if before.endswith("\\") or re.search(_STRONG + r"[\"']?\s*(?:[:=]|=>)\s*[\"']?$", before):
            return value.lower() not in _NOT_HOSTS and not value.isdigit()
        if re.search(_STRONG + r"\s+$", before):
            named = (value.isupper() and len(value) >= 3) or ("-" in value and any(c.isalpha() for c in value))
            return value.lower() not in _NOT_HOSTS and (named or _host_shaped(value))
        return _host_shaped(value)


_NOT_HOSTS = word_set(
    """a an the this that these those is was were be been are has had have and or to of in on at by for from with
    as which what who where when it its name names list lists group groups level isolation isolated logs log
    level count counts type types os version details information info itself side sides itself traffic"""
)
