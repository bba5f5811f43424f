"""Identities: Windows domain SIDs, ``DOMAIN\\user``, Kerberos principals, user names in context, and the user
segment of home-directory paths. Well-known SIDs and built-in accounts stay visible: they name no one and the
analysis needs them.
"""

from __future__ import annotations

import re

from presidio_analyzer import Pattern

from anonymizer.detect.patterns import ValuePatternRecognizer, word_set

__all__ = [
    "BUILTIN_ACCOUNTS",
    "DomainUserRecognizer",
    "HomePathUserRecognizer",
    "UserNameRecognizer",
    "WindowsSidRecognizer",
]

#: Accounts and principals that exist on every system of their kind: visible, like well-known SIDs.
BUILTIN_ACCOUNTS: frozenset[str] = word_set(
    """root system local service localservice network service networkservice nobody daemon bin sys sync games man
    lp mail news uucp proxy www-data backup list irc gnats nogroup systemd-network systemd-resolve messagebus sshd
    postfix anonymous anonymous logon administrator administrators guest defaultaccount wdagutilityaccount krbtgt
    everyone authenticated users users builtin nt authority trustedinstaller dwm-1 dwm-2 dwm-3 umfd-0 umfd-1 umfd-2
    defaultapppool public default all users default user shared localadmin"""
) | frozenset({"local service", "network service", "anonymous logon", "all users", "default user"})

# Words that follow "user"/"account" in prose without being a name.
_NOT_USERS = word_set(
    """a an the this that these those his her their our your my its is was were be been are has had have and or
    to of in on at by for from with without as who which whose what when where account accounts name names id
    ids logon login logged session sessions password passwords group groups object objects profile profiles
    agent agents input interface mode data level rights right privileges privilege information info details
    activity behavior behaviour principal type types list creation created deleted disabled enabled locked
    unlocked lockout added removed changed reset attempts attempt failed failures not no any all some each every
    one two several multiple many other another same new old first last domain domains context credentials
    access accessed does did can could should would will may might must also then there here it he she they we
    you i me him them us"""
)

_USER_VALUE = r"(?P<value>[A-Za-z0-9][A-Za-z0-9._$@\\-]{0,63}[A-Za-z0-9$]|[A-Za-z0-9])"


def _is_user(value: str) -> bool:
    low = value.lower()
    return low not in _NOT_USERS and low not in BUILTIN_ACCOUNTS and not low.isdigit()


class WindowsSidRecognizer(ValuePatternRecognizer):
    """Domain and machine SIDs (``S-1-5-21-<three sub-authorities>[-RID]``) and Entra ID SIDs (``S-1-12-1-...``).

    Well-known SIDs (``S-1-5-18``, ``S-1-5-32-544``, ``S-1-1-0``) do not have that shape and stay visible.
    """

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "WINDOWS_SID",
            name="WindowsSidRecognizer",
            prefilter=r"S-1-",
            language=language,
            patterns=[
                Pattern("Domain SID", r"\bS-1-5-21(?:-\d{1,10}){3}(?:-\d{1,10})?\b", 0.9),
                Pattern("Entra ID SID", r"\bS-1-12-1(?:-\d{1,10}){4}\b", 0.9),
            ],
        )


# Left parts of X\Y that are paths, registry roots or built-in authorities, not domains.
_NOT_DOMAINS = word_set(
    """hklm hkcu hkcr hku hkcc hkey_local_machine hkey_current_user hkey_classes_root hkey_users software system
    windows system32 syswow64 sysnative drivers winsxs program files programdata appdata local roaming temp tmp
    users microsoft currentcontrolset controlset001 services run runonce policies classes authority builtin nt
    service manager host apppool iis window font driver device harddiskvolume1 harddiskvolume2 harddiskvolume3
    globalroot pipe mailslot config etc bin usr var lib opt home documents desktop downloads n r t x u"""
)


class DomainUserRecognizer(ValuePatternRecognizer):
    """``DOMAIN\\user`` (and JSON-escaped ``DOMAIN\\\\user``), not paths, registry keys or built-in principals."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "USER_NAME",
            name="DomainUserRecognizer",
            prefilter=r"\\",
            language=language,
            patterns=[
                Pattern(
                    "DOMAIN\\user",
                    r"(?<![\w\\/:.%$-])(?P<value>[A-Za-z][A-Za-z0-9_.-]{0,14}\\{1,2}[A-Za-z0-9_][A-Za-z0-9_.$-]{0,63})"
                    r"(?![\\\w/])",
                    0.75,
                )
            ],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Not a path segment, registry key, escape sequence or built-in principal."""
        domain, _, user = value.partition("\\")
        user = user.lstrip("\\")
        if domain.lower() in _NOT_DOMAINS or user.lower() in BUILTIN_ACCOUNTS:
            return False
        return not re.fullmatch(r"[A-Za-z0-9_.-]+\.(?:exe|dll|sys|ps1|bat|cmd|vbs|js|log|txt|ini|dat|evtx)", user, re.I)


# Command lines: -u / -U / --user / -l of clients that log in somewhere.
_COMMAND_USER = (
    r"(?i:\b(?:mysql\w*|mariadb\w*|psql|pg_dump|curl|wget|sudo|ssh|plink|pscp|smbclient|rpcclient|crackmapexec|nxc|"
    r"psexec\w*|paexec|netexec|evil-winrm|xfreerdp|rdesktop|sqlcmd|hydra|ftp|mount|mongo\w*|redis-cli|kinit|impacket-\w+|\w+\.py)\b"
    r"[^\n|;]*?\s(?:-u|-U|--user(?:name)?|-l|--login)[ =])[\"']?" + _USER_VALUE
)
# ssh-style user@host with a short host: alice@web01.
_SSH_USER = r"(?i:\b(?:ssh|scp|sftp|rsync)\b[^\n]{0,40}?)\s(?P<value>[a-z_][a-z0-9_.-]{0,31})@[A-Za-z0-9.-]+"

_CONTEXT_USER = [
    # key=value and key: value forms of logs (Windows event text, Linux audit, CEF/LEEF, ECS field names).
    r"(?i:\b(?:user(?:[ _-]?name)?|account(?:[ _-]?name)?|logon[ _-]?name|login|uid|owner|samaccountname|"
    r"targetusername|subjectusername|user\.name|user\.id|src_?user|dst_?user|suser|duser|acct|principal|"
    r"caller|initiated by|requested by|member|new account|target account|security id))[\"']?\s*(?:[:=]|=>)\s*[\"']?"
    + _USER_VALUE,
    # Prose: "for user X", "as X", "logon by X", "user X logged ...".
    r"(?i:\b(?:for (?:invalid |illegal |the )?user|(?:the |a )?user(?:name)?|account|logon by|logged on by|"
    r"login by|signed in by|performed by|executed by|run by|owned by|created by|initiated by|"
    r"(?:logged|logs|signed|authenticated|running|ran|runs|connected|impersonat\w+|acting|logged in|logged on)"
    r" (?:in |on )?as(?: user)?|(?:running|runs|ran|executed|started|spawned) under(?: the)?(?: user| account)?|"
    r"su -|su|sudo -u|runas /user:))(?:\s+(?i:the\s+)?(?i:user(?:name)?|account))?\s+[\"']?" + _USER_VALUE,
    # Windows event XML and sudo's log line: <Data Name="TargetUserName">jdoe</Data>, "sudo:   jdoe : TTY=...".
    r"(?i:Name=[\"'](?:Target|Subject)?(?:User(?:Name)?|UserPrincipalName|AccountName)[\"']>)" + _USER_VALUE,
    r"(?i:\bsudo(?:\[\d+\])?:)\s+" + _USER_VALUE + r"(?=\s+:\s)",
    # Impacket targets: DOMAIN/user:password@host, DOMAIN/user@host.
    r"(?<![\w/:.-])[A-Za-z0-9.-]+/(?P<value>[A-Za-z0-9_.$-]+)(?=(?::[^\s@/]+)?@[A-Za-z0-9.-]+)",
    r"(?i:/user:|/u:)[\"']?" + _USER_VALUE,
    # Command lines: -u / -U / --user / -l of clients that log in somewhere.
    _COMMAND_USER,
    # A user-shaped word before a logon verb: "jdoe logged on to", "after adm_tkim signed in".
    # (a capitalised word there is a surname: "why David Kim logged in" is a person, left to the name finder).
    r"(?<![\w.@\\/-])(?P<value>(?![A-Z][a-z]+\b)[A-Za-z][A-Za-z0-9._$-]{1,63}[A-Za-z0-9$])(?=\s+(?i:logged|"
    r"logs? (?:on|in|into|onto)|signed (?:in|on)|authenticated|authenticates)\b)",
    # Service and admin accounts by their naming conventions: svc_backup, adm_tkim, sql_admin, backup_svc.
    r"(?<![\w.@\\/-])(?=[A-Za-z0-9]*[_-])(?P<value>(?i:svc|srv|sa|adm|admin|service|sql|app|bkp|backup|test|tmp|ops|sys)_[A-Za-z0-9_.$-]*"
    r"[A-Za-z0-9$]|(?i:svc)-[a-z][a-z0-9_.-]*[a-z0-9]|[a-z][a-z0-9]*_(?i:svc|admin|adm|sa|service|bot))(?![\w@\\/-])",
    # An initial and a surname: a.johnson, b.nguyen.
    r"(?<![\w.@\\/-])(?P<value>[a-z]\.[a-z]{3,20}\d{0,3})(?![\w.@\\/-]|\.\w)",
    # Windows "net user NAME [PASSWORD] /add" and domain/realm fields.
    r"(?i:\bnet\s+user\s+)" + _USER_VALUE,
    r"(?i:\b(?:account domain|user domain|target domain|subject domain|supplied realm name|targetdomainname|"
    r"subjectdomainname|user\.domain|realm|domain))\s*(?:[:=]|=>)\s*[\"']?" + _USER_VALUE,
    # Linux authentication logs: "Accepted password for X", "session opened for user X", "Failed none for X".
    r"(?i:\b(?:accepted|failed) \w+ for (?:invalid user )?)" + _USER_VALUE,
    # Kerberos principals with an upper-case realm: jsmith@CORP, svc_web@CORP.LOCAL.
    r"(?<![\w.@-])(?P<value>[A-Za-z0-9][A-Za-z0-9._$-]{0,63}@[A-Z][A-Z0-9-]{1,62}(?:\.[A-Z0-9-]{1,62})*)(?![\w.@-])",
    # ssh-style user@host with a short host: alice@web01.
    _SSH_USER,
]


class UserNameRecognizer(ValuePatternRecognizer):
    """User names named as such: ``user=jdoe``, ``Account Name: jdoe``, ``for user jdoe``, ``logged in as jdoe``,
    ``logon by jdoe``, ``su - jdoe``, ``sudo -u jdoe``, ``-u jdoe``, ``jdoe@CORP.LOCAL``, ``ssh jdoe@web01``.

    Built-in accounts (:data:`BUILTIN_ACCOUNTS`) and words of prose after ``user`` are not reported.
    """

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "USER_NAME",
            name="UserNameRecognizer",
            language=language,
            patterns=[Pattern(f"User in context {i}", p, 0.7) for i, p in enumerate(_CONTEXT_USER)],
            pattern_prefilters={
                f"User in context {_CONTEXT_USER.index(_COMMAND_USER)}": r"\s(?:-[uUl]|--user|--login)[ =]",
                f"User in context {_CONTEXT_USER.index(_SSH_USER)}": r"(?i:ssh|scp|sftp|rsync)",
            },
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """A user-like value: not a word of prose, a built-in account or a number."""
        core = value.rsplit("\\", maxsplit=1)[-1]
        return _is_user(core) and _is_user(value) and not value.upper().startswith("S-1-")


_PROFILE_DIRS = frozenset(
    {
        "public",
        "default",
        "default user",
        "all users",
        "shared",
        "guest",
        "administrator",
        "defaultapppool",
        "%username%",
        "$user",
        "${user}",
        "*",
        "<user>",
        "user",
        "username",
        "localservice",
        "networkservice",
    }
)


class HomePathUserRecognizer(ValuePatternRecognizer):
    """The user segment of home-directory paths, and only that segment: ``C:\\Users\\<user>\\...``,
    ``/home/<user>/...``, ``/Users/<user>/...`` (shared and default profiles stay visible)."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(
            "USER_NAME",
            name="HomePathUserRecognizer",
            prefilter=r"(?i:users|documents and settings|home/)|~",
            language=language,
            trim="",
            patterns=[
                Pattern(
                    "Windows profile",
                    r"(?i:(?:\b[A-Z]:)?\\{1,2}(?:users|documents and settings)\\{1,2})"
                    r"(?P<value>[^\\/:*?\"<>|\r\n\t ]+(?: [^\\/:*?\"<>|\r\n\t ]+)*?)(?=\\|[\s\"',;)]|$)",
                    0.8,
                ),
                Pattern(
                    "Unix home",
                    r"(?<![\w.-])(?:/home|/Users|/var/home|/export/home|/usr/home)/(?P<value>[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63})"
                    r"(?=/|[\s\"',;)]|$)",
                    0.8,
                ),
                Pattern("Tilde home", r"(?<![\w/])~(?P<value>[a-z_][a-z0-9_.-]{0,31})(?=/)", 0.7),
            ],
        )

    def accept(self, value: str, text: str, start: int, end: int) -> bool:
        """Not a shared or default profile, nor a placeholder."""
        return value.lower() not in _PROFILE_DIRS and not value.startswith(("%", "$", "<", "{"))
