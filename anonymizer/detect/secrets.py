"""Secrets: cloud keys, tokens with well-known prefixes, JWTs, credentials in headers and URLs, private keys,
and passwords in context. Every recognizer reports ``SECRET`` except :class:`PasswordRecognizer` (``PASSWORD``).
"""

from __future__ import annotations

import base64
import binascii
import re

from presidio_analyzer import Pattern

from anonymizer.detect.patterns import ValuePatternRecognizer, word_set

__all__ = [
    "ApiTokenRecognizer",
    "AwsKeyRecognizer",
    "CredentialRecognizer",
    "JwtRecognizer",
    "PasswordRecognizer",
    "PrivateKeyRecognizer",
]

# A value that is a placeholder or a redaction, not a secret.
_PLACEHOLDER = re.compile(
    r"(?i)^(?:[*x•#.\-_]+|<[^>]*>|\$\{?[\w.]+\}?|%\w+%|\{\{?[^}]*\}\}?|none|null|nil|true|false|undefined|"
    r"redacted|\[redacted\]|hidden|masked|secret|password|changeme|example|xxx+|\.\.\.|empty|n/?a|required|"
    r"optional|string|value|your[_-]?\w*|env|environment)$"
)


def _is_placeholder(value: str) -> bool:
    return bool(_PLACEHOLDER.match(value.strip("\"'")))


class AwsKeyRecognizer(ValuePatternRecognizer):
    """AWS access key ids (``AKIA...``, ``ASIA...``) anywhere; secret access keys after their names."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "SECRET",
            name="AwsKeyRecognizer",
            prefilter=r"A[A-Z0-9]{3}[A-Z2-7]{16}|(?i:secret)",
            language=language,
            patterns=[
                Pattern(
                    "AWS access key id",
                    r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA|ASCA)"
                    r"[A-Z2-7]{16}\b",
                    0.9,
                ),
                Pattern(
                    "AWS secret access key in context",
                    r"(?i:aws.{0,20}?secret|secret.?access.?key|secretaccesskey|aws_secret\w*)[\"']?\s*(?:[:=]|=>|\s)\s*"
                    r"[\"']?(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
                    0.9,
                ),
            ],
        )


class JwtRecognizer(ValuePatternRecognizer):
    """JSON Web Tokens (``eyJ...``.``eyJ...``.signature), signed or not."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "SECRET",
            name="JwtRecognizer",
            prefilter=r"eyJ",
            language=language,
            trim="",
            patterns=[
                Pattern("JWT", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*", 0.9),
                Pattern("JWE", r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){4}", 0.8),
            ],
        )


# Token formats whose prefix names the issuer (public documentation of each service).
_TOKEN_PATTERNS = [
    ("GitHub token", r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b"),
    ("GitHub fine-grained token", r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b"),
    ("GitLab token", r"\b(?:glpat|gldt|glrt|glcbt|glptt|glft|glimt|glagent|gloas)-[A-Za-z0-9_-]{20,}"),
    ("GitLab runner token", r"\bGR1348941[A-Za-z0-9_-]{20,}"),
    ("Slack token", r"\bxox[abeoprs]-(?:\d+-)*[A-Za-z0-9-]{10,}"),
    ("Slack app token", r"\bxapp-\d-[A-Z0-9]+-\d+-[a-f0-9]+"),
    ("Slack webhook", r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}"),
    ("Stripe key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}"),
    ("Stripe webhook secret", r"\bwhsec_[A-Za-z0-9]{24,}"),
    ("Google API key", r"\bAIza[0-9A-Za-z_-]{35}"),
    ("Google OAuth token", r"\bya29\.[0-9A-Za-z_-]{20,}"),
    ("Google OAuth client secret", r"\bGOCSPX-[A-Za-z0-9_-]{20,}"),
    ("OpenAI / Anthropic key", r"\bsk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{20,}"),
    ("npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    ("PyPI token", r"\bpypi-[A-Za-z0-9_-]{50,}"),
    ("Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("SendGrid key", r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
    ("Twilio key", r"\bSK[0-9a-f]{32}\b"),
    ("Shopify token", r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b"),
    ("DigitalOcean token", r"\bdo[opr]_v1_[a-f0-9]{64}\b"),
    ("Atlassian token", r"\bATATT3[A-Za-z0-9_=-]{50,}"),
    ("Databricks token", r"\bdapi[a-f0-9]{32}(?:-\d)?\b"),
    ("Mailgun key", r"\bkey-[0-9a-f]{32}\b"),
    ("Square token", r"\b(?:sq0atp|sq0csp|EAAA)[A-Za-z0-9_-]{22,}"),
    (
        "Azure storage account key",
        r"(?i:AccountKey|SharedAccessKey|SharedAccessSignature)\s*=\s*(?P<value>[A-Za-z0-9+/%]{20,}={0,2})",
    ),
    ("Azure SAS signature", r"[?&;\s](?:sig|sv=[^&\s]*&sig)=(?P<value>[A-Za-z0-9%+/]{20,}={0,2})"),
    ("Azure connection string", r"\bDefaultEndpointsProtocol=[^\s\"']+"),
    (
        "Key in prose",
        r"(?i:\b(?:api[ _-]?key|access[ _-]?key|secret[ _-]?key|token|secret|client secret)\s+(?:is|was|=|:))\s*[\"'`]?"
        r"(?P<value>(?=[A-Za-z0-9_\-+/=.~]*\d)(?=[A-Za-z0-9_\-+/=.~]*[A-Za-z])[A-Za-z0-9_\-+/=.~]{12,})",
    ),
    (
        "Generic assignment",
        r"(?i:api[_-]?key|apikey|api[_-]?secret|access[_-]?token|auth[_-]?token|client[_-]?secret"
        r"|secret[_-]?key|private[_-]?token|x-api-key|app[_-]?secret|refresh[_-]?token|session[_-]?token|token|secret)"
        r"[\"']?\s*(?:[:=]|=>)\s*[\"']?(?P<value>[A-Za-z0-9_\-+/=.~%]{12,})",
    ),
]


_TOKEN_PREFILTER = (
    r"(?i:key|token|secret|sig=|signature|gh[pousr]_|github_pat_|gl[a-z]{2,5}-|GR1348941|xox|xapp-|hooks\.slack|"
    r"[srp]k_|whsec_|AIza|ya29\.|GOCSPX|sk-|npm_|pypi-|hf_|SG\.|shp|do[opr]_v1|ATATT3|dapi|sq0|EAAA|"
    r"DefaultEndpointsProtocol|SK[0-9a-f]{32})"
)


class ApiTokenRecognizer(ValuePatternRecognizer):
    """Tokens whose prefix names the service (GitHub, GitLab, Slack, Stripe, Google, OpenAI, npm, PyPI, Azure
    storage keys and SAS signatures, ...) and long values assigned to ``api_key``/``token``/``secret`` names."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "SECRET",
            name="ApiTokenRecognizer",
            prefilter=_TOKEN_PREFILTER,
            language=language,
            trim=".,;:)]}>'\"`",
            patterns=[Pattern(name, pattern, 0.85) for name, pattern in _TOKEN_PATTERNS],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Not a placeholder, and (for assigned values) not a plain word or a hash-like hex string."""
        return not _is_placeholder(value) and not value.isalpha()


class CredentialRecognizer(ValuePatternRecognizer):
    """Credentials in ``Authorization`` headers (bearer, basic, ...) and in URLs (``https://user:pass@host``)."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "SECRET",
            name="CredentialRecognizer",
            prefilter=r"(?i:auth|api-key|cookie|bearer|basic)|://[^\s/]*@",
            language=language,
            trim=".,;)]}>'\"`",
            patterns=[
                Pattern(
                    "Authorization header",
                    r"(?i:(?:proxy-)?authorization|x-auth-token|x-api-key|api-key|cookie|set-cookie)[\"']?\s*[:=]\s*[\"']?"
                    r"(?i:(?:bearer|basic|token|digest|negotiate|ntlm|apikey|sso-key)\s+)?(?P<value>[A-Za-z0-9._~+/=:-]{8,})",
                    0.85,
                ),
                Pattern("Bearer token", r"(?i:\bbearer)\s+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)", 0.8),
                Pattern(
                    "Basic credentials", r"(?i:\bbasic)\s+(?P<value>[A-Za-z0-9+/]{8,}={0,2})(?![A-Za-z0-9+/=])", 0.8
                ),
                Pattern(
                    "URL credentials",
                    r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://(?P<value>[^\s:/@\"'<>]+:[^\s/@\"'<>]+)@",
                    0.9,
                ),
            ],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Basic credentials must decode to ``user:password``; other values must not be placeholders."""
        if _is_placeholder(value):
            return False
        before = text[max(0, start - 12) : start].lower()
        if before.rstrip().endswith("basic") and ":" not in value:
            try:
                return b":" in base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
            except (binascii.Error, ValueError):
                return False
        return True


class PrivateKeyRecognizer(ValuePatternRecognizer):
    """PEM private-key blocks (the whole block, or its body after the ``BEGIN`` line) and base64 key material."""

    def __init__(self, language: str = "en") -> None:
        begin = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        super().__init__(
            "SECRET",
            name="PrivateKeyRecognizer",
            prefilter=r"PRIVATE KEY|MII|b3BlbnNzaC1rZXktdjE|PuTTY",
            language=language,
            trim="",
            patterns=[
                Pattern("PEM block", begin + r"[\s\S]*?(?:-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)", 0.95),
                Pattern("Key body after BEGIN", begin + r"[\s\S]{0,80}?(?P<value>[A-Za-z0-9+/]{24,}={0,2})", 0.9),
                Pattern(
                    "DER key material",
                    r"(?<![A-Za-z0-9+/])(?:MII[A-Za-z0-9+/]{20,}|b3BlbnNzaC1rZXktdjE[A-Za-z0-9+/]{8,})={0,2}",
                    0.7,
                ),
                Pattern("PuTTY key", r"PuTTY-User-Key-File-\d:[\s\S]*?Private-MAC:\s*[0-9a-f]+", 0.95),
            ],
        )


# Words that follow "password" in prose without being one.
_NOT_PASSWORDS = word_set(
    """a an and any are as at be been being by can change changed changes complexity expired expires field for from
    had has hash hashes have he her his history if in is it its length manager may must my no not of on or our
    policy prompt protected reset resets reuse reused she should spray spraying that the their them then there
    these they this to under update updated was were when which will with without you your attempt attempts
    failed failure failures guessing login logon authentication auth based less last age never was:
    file files list lists dump dumps store stored vault rotation sync"""
)


_PASSWORD_PREFILTER = (
    r"(?i:pass|pwd|pw\b|kennwort|mot de passe|contrase|senha|mysql|mariadb|secret|cred|u/p|net\s+use|net\s+user)"
    r"|\s-[pPuU]|--user|\s/p[:= ]|/[\w.$-]+:[^\s@/]+@"
)


class PasswordRecognizer(ValuePatternRecognizer):
    """Passwords after their name (``password=...``, ``pwd: ...``, ``"password": "..."``, ``password is ...``)
    and in command lines (``-p...`` of MySQL clients, ``sshpass -p``, ``--password``, ``net use ... /user:X pw``).
    """

    def __init__(self, language: str = "en") -> None:
        name = (
            r"(?i:pass(?:word|wd|phrase|code)?|pwd|pw|passphrase|pass phrase|kennwort|mot de passe|contrase[ñn]a|senha)"
        )
        super().__init__(
            "PASSWORD",
            name="PasswordRecognizer",
            prefilter=_PASSWORD_PREFILTER,
            language=language,
            trim=".,;:)]}>'\"`",
            patterns=[
                Pattern(
                    "JSON password",
                    r"(?i:\"[\w.-]*(?:password|passwd|pwd|secret)[\w.-]*\")\s*:\s*\"(?P<value>[^\"]{1,200})\"",
                    0.9,
                ),
                Pattern(
                    "Assigned password",
                    # DB_PASSWORD, db.password, PGPASSWORD, userPassword; not bypass, compass
                    r"(?:(?<![a-z])|(?=P))" + name + r"[\"']?\s*(?:[:=]|=>|:=)\s*[\"']?(?P<value>[^\s\"',;]{1,128})",
                    0.85,
                ),
                Pattern(
                    "Password is",
                    r"(?<![\w-])"
                    + name
                    + r"\s+(?i:is|was|set to|changed to|reset to|of|:)\s*[\"'`]?(?P<value>[^\s\"'`]{3,128})",
                    0.8,
                ),
                Pattern("Password then value", r"(?<![\w-])" + name + r"\s+(?P<value>[^\s\"'`]{4,128})", 0.7),
                Pattern(
                    "MySQL -p",
                    r"(?i:\b(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)\b)[^\n|;]*?\s-p(?P<value>[^\s-][^\s]*)",
                    0.9,
                ),
                Pattern(
                    "Password option",
                    r"(?:\s|^)(?:--password|--pass|--passwd|-pw|-password|/password|/pass|/p)[=: ]\s*[\"']?"
                    r"(?P<value>[^\s\"']+)",
                    0.85,
                ),
                Pattern(
                    "user:password option", r"(?:\s|^)(?:-u|--user|-U)\s*[\"']?[^\s:\"']+:(?P<value>[^\s\"']+)", 0.9
                ),
                Pattern(
                    "Command line -p",
                    r"(?i:\b(?:psexec\w*|paexec|crackmapexec|nxc|netexec|smbclient|rpcclient|evil-winrm|hydra|sqlcmd|"
                    r"medusa|plink|pscp|winrs|wmic|schtasks|runas|mstsc|openssl|7z|zip|unzip|rar)\b)[^\n|;]*?\s-[pP]\s*"
                    r"[\"']?(?P<value>[^\s\"']+)",
                    0.85,
                ),
                Pattern(
                    "Impacket target",
                    r"(?<![\w/:.-])[A-Za-z0-9.-]+/[A-Za-z0-9_.$-]+:(?P<value>[^\s@/]{2,})@[A-Za-z0-9.-]+",
                    0.85,
                ),
                Pattern(
                    "Credentials pair",
                    r"(?i:\b(?:creds?|credentials?|user(?:name)?[ /]password|u/p))\s*[:=]?\s*"
                    r"[A-Za-z0-9_.\\@-]+\s*[/:]\s*(?P<value>[^\s\"']{3,})",
                    0.8,
                ),
                Pattern("sshpass -p", r"\bsshpass\s+-p\s*[\"']?(?P<value>[^\s\"']+)", 0.9),
                Pattern("net user password", r"(?i:\bnet\s+user\s+)\S+\s+(?P<value>[^\s/*][^\s]*)", 0.9),
                Pattern("net use password", r"(?i:\bnet\s+use\b)[^\n]*?/user:\S+\s+(?P<value>[^\s/][^\s]*)", 0.9),
                Pattern("Connection string password", r"(?i:;\s*(?:password|pwd)\s*=\s*)(?P<value>[^;\"'\s]+)", 0.9),
            ],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Not a placeholder nor a word of prose; a bare ``password X`` needs a digit or symbol in ``X``."""
        if _is_placeholder(value) or value.lower() in _NOT_PASSWORDS or re.match(r"(?:/|~/|[A-Za-z]:\\)", value):
            return False  # PWD=/home/x in sudo logs is a directory
        between = text[max(0, start - 16) : start]
        bare = not re.search(r"[:=\"']|\b(?:is|was|to|of)\s*$", between, re.IGNORECASE)
        if bare:
            return bool(re.search(r"[\d\W_]", value)) and any(c.isalpha() for c in value) and len(value) >= 6
        return True
