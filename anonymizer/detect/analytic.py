"""What the analysis needs stays visible: hashes, CVE and ATT&CK ids, event codes, process and executable names,
system paths, well-known SIDs, ports, dates and times, vendor, product and tool names.

:class:`AnalyticTerms` vetoes findings whose text is one of those; :func:`~anonymizer.detect.presidio` applies
it to the classes that can mistake them (names, places, organisations, phone numbers, host and user names,
URLs). Secrets, passwords, domain SIDs, e-mail and IP addresses are never vetoed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from anonymizer.detect.patterns import word_set

__all__ = ["VETOED_CLASSES", "AnalyticTerms", "PRODUCT_NAMES"]

#: Entity classes whose findings :class:`AnalyticTerms` may veto.
VETOED_CLASSES: frozenset[str] = frozenset(
    {
        "PERSON",
        "LOCATION",
        "ORGANIZATION",
        "NRP",
        "PHONE_NUMBER",
        "HOST_NAME",
        "USER_NAME",
        "URL",
        "US_SSN",
        "CRYPTO",
        "DATE_TIME",
    }
)

#: Vendor, product, tool and malware-family names seen in security text (lower case; multi-word names too).
PRODUCT_NAMES: frozenset[str] = word_set(
    """elastic elasticsearch kibana logstash beats filebeat winlogbeat auditbeat packetbeat metricbeat fleet
    endgame splunk sentinel qradar arcsight chronicle sumo logrhythm exabeam securonix crowdstrike falcon
    sentinelone cylance carbon black vmware broadcom symantec mcafee trellix sophos eset kaspersky bitdefender
    trend micro malwarebytes defender microsoft windows azure entra intune office outlook exchange sharepoint
    onedrive teams skype powershell pwsh cmd sysmon sysinternals procmon autoruns psexec wmi wmic winrm rdp
    active directory ldap kerberos ntlm okta duo ping auth0 onelogin cyberark beyondtrust thycotic delinea
    hashicorp vault terraform aws amazon lambda cloudtrail guardduty s3 ec2 iam gcp google cloud workspace
    gmail chrome chromium firefox edge safari opera mozilla apple macos ios iphone android linux ubuntu debian
    centos redhat rhel fedora suse alpine kali docker kubernetes k8s podman openshift nginx apache tomcat iis
    jenkins gitlab github bitbucket jira confluence atlassian slack zoom webex cisco meraki umbrella asa
    firepower palo alto networks panorama globalprotect prisma cortex xdr xsoar fortinet fortigate fortiweb
    checkpoint check point juniper f5 big-ip citrix netscaler pulse ivanti sonicwall zscaler cloudflare
    akamai proofpoint mimecast barracuda tanium qualys tenable nessus rapid7 insightvm metasploit nmap
    masscan burp wireshark zeek bro suricata snort osquery velociraptor yara sigma mitre att&ck atlas
    virustotal shodan censys greynoise misp opencti thehive cortex mimikatz rubeus bloodhound sharphound
    impacket responder cobalt strike beacon sliver havoc brute ratel empire covenant mythic meterpreter
    lazagne procdump nltest adfind certutil bitsadmin rundll32 regsvr32 mshta cscript wscript schtasks
    vssadmin bcdedit wevtutil netsh sc reg net whoami ntdsutil dsquery anydesk teamviewer screenconnect
    atera ngrok plink putty winscp rclone mega emotet trickbot qakbot qbot icedid bumblebee lockbit conti
    ryuk revil blackcat alphv blackbasta akira clop royal hive maze wannacry notpetya petya dridex ursnif
    zloader agent tesla formbook redline raccoon vidar lumma asyncrat njrat remcos quasar darkcomet
    plugx shadowpad gootloader socgholish raspberry robin qilin play medusa rhysida scattered spider apt28
    apt29 apt41 lazarus fin7 fin8 ta505 wizard kitten sandworm turla kimsuky volt typhoon midnight blizzard
    oracle mysql postgresql postgres mssql sql server mongodb redis kafka rabbitmq sap salesforce workday
    servicenow pagerduty opsgenie datadog new relic grafana prometheus nagios zabbix solarwinds orion
    moveit veeam netapp dell hp lenovo intel amd nvidia openssl openssh bash zsh python perl ruby java
    javascript node nodejs npm pypi pip log4j log4shell spring struts wordpress drupal joomla"""
) | frozenset(
    {
        "active directory",
        "carbon black",
        "trend micro",
        "palo alto",
        "palo alto networks",
        "check point",
        "cobalt strike",
        "brute ratel",
        "agent tesla",
        "raspberry robin",
        "scattered spider",
        "volt typhoon",
        "midnight blizzard",
        "wizard spider",
        "new relic",
        "sql server",
        "microsoft defender",
        "google cloud",
        "defender for endpoint",
        "microsoft defender for endpoint",
        "elastic security",
        "elastic defend",
    }
)

_PATTERNS = [
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128}",  # hashes
    r"(?i:CVE-\d{4}-\d{4,}|CWE-\d+|GHSA(?:-[a-z0-9]{4}){3}|MS\d\d-\d{3}|KB\d{6,8}|CAPEC-\d+)",  # advisories
    r"T[AS]?\d{4}(?:\.\d{3})?|[GS]\d{4}",  # ATT&CK techniques, tactics, groups, software
    r"0x[0-9a-fA-F]+|\d{1,6}",  # event codes, ports, PIDs, status codes
    r"(?i:[\w.-]+\.(?:exe|dll|sys|drv|ps1|psm1|psd1|bat|cmd|vbs|vbe|js|jse|wsf|wsh|hta|msi|msp|scr|cpl|ocx|lnk|"
    r"jar|py|pyc|sh|elf|so|dylib|app|pkg|dmg|deb|rpm|apk|ipa|iso|img|vhd|vhdx|evtx|etl|pf|plist|service|"
    r"timer|conf|cfg|ini|yaml|yml|json|xml|log))",  # process, executable and file names
    r"(?i:(?:[a-z]:\\|%\w+%\\?|\\\\\?\\)(?:windows|program files(?: \(x86\))?|programdata|system32|syswow64)"
    r"(?:\\[^\s]*)?)",  # Windows system paths
    r"(?:/(?:usr|bin|sbin|etc|lib|lib64|opt|var|tmp|dev|proc|sys|boot|run|srv|System|Library|Applications|"
    r"private)(?:/[^\s]*)?)",  # Unix system paths
    r"S-1-(?:0|1|2|3|4|16)-\d+|S-1-5-(?:\d{1,2}|32-\d+|8[0-9]-\d+(?:-\d+)*)",  # well-known SIDs
    # dates and times
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|\d{1,2}:\d{2}(?::\d{2})?"
    r"(?:\s?(?:[AaPp]\.?[Mm]\.?|UTC|GMT|Z))?|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}",
    r"(?i:(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.? \d{1,2}(?:st|nd|rd|th)?(?:,? \d{4})?|"
    r"\d{1,2} (?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?(?: \d{4})?|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)day|today|yesterday|tonight|last (?:night|week|month))",
]
# Classes found by a language model, which mistakes product and tool names for names: the only ones the
# product list vetoes (a pattern recognizer found ``oracle`` in ``su - oracle`` by its context).
_NER_CLASSES = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP"})
# Product words that are also given names or surnames: they veto a name only when they are all of it.
_NAME_LIKE = word_set(
    """ruby akira royal play hive edge opera ping duo chrome java medusa wizard conti maze beacon mega robin raccoon
    vidar bash perl python brute ratel empire covenant mythic havoc sliver quasar spider kitten typhoon blizzard
    dell hp intel amd oracle apple sap jenkins vault fleet falcon sentinel chronicle sumo cortex mimecast atlas
    splunk zoom teams edge node spring struts zeek bro cisco juniper"""
)
# PowerShell cmdlets (Verb-Noun with an approved verb): Get-WinEvent, Invoke-Mimikatz.
_CMDLET = re.compile(
    r"\b(?:Get|Set|New|Remove|Add|Invoke|Start|Stop|Import|Export|Out|Write|Read|Test|Enable|Disable|Find|Clear|"
    r"Copy|Move|Convert|ConvertTo|ConvertFrom|Select|Where|ForEach|Register|Unregister|Update|Install|Uninstall|"
    r"Restart|Resolve|Expand|Compress|Format|Measure|Wait|Connect|Disconnect|Send|Receive|Grant|Revoke|Unblock|"
    r"Mount|Dismount|Join|Split|Rename|Reset|Save|Show|Use|Push|Pop|Enter|Exit)-[A-Z][A-Za-z]+"
)
_ANALYTIC = re.compile("|".join(f"(?:{p})" for p in _PATTERNS))


class AnalyticTerms:
    """Decides whether a finding's text is an analytic term that must stay visible.

    ``extra`` adds names (vendors, products, internal tool names) to :data:`PRODUCT_NAMES`; ``veto``
    overrides :data:`VETOED_CLASSES`.

    >>> keep = AnalyticTerms()
    >>> keep.is_analytic("powershell.exe", "PERSON"), keep.is_analytic("Cobalt Strike", "PERSON")
    (True, True)
    >>> keep.is_analytic("Maria Garcia", "PERSON"), keep.is_analytic("CVE-2024-3400", "HOST_NAME")
    (False, True)
    >>> keep.is_analytic("oracle", "USER_NAME")  # names are vetoed only where a language model found them
    False
    """

    def __init__(self, extra: Iterable[str] = (), *, veto: Iterable[str] = VETOED_CLASSES) -> None:
        self.names = PRODUCT_NAMES | {e.lower() for e in extra}
        self.veto = frozenset(veto)

    def __repr__(self) -> str:
        return f"AnalyticTerms(names={len(self.names)}, veto={sorted(self.veto)!r})"

    def is_analytic(self, value: str, entity_class: str) -> bool:
        """Whether ``value``, found as ``entity_class``, is a term the analysis needs to see."""
        if entity_class not in self.veto:
            return False
        core = value.strip(" \t\r\n.,;:!?\"'`()[]{}<>")
        if not core:
            return True
        if _ANALYTIC.fullmatch(core):
            return True
        if entity_class in _NER_CLASSES:
            low = core.lower()
            if low in self.names:
                return True
            words = re.split(r"[\s/]+", low.removeprefix("the "))
            if all(w in self.names or w in ("for", "and", "of", "the") for w in words):
                return True
            # A tool's name first ("Okta Verify", "Cobalt Strike Beacon"), a PowerShell cmdlet, a lower-case start.
            if (words[0] in self.names and words[0] not in _NAME_LIKE and len(words) <= 3) or (
                not core[0].isupper() and len(words) == 1
            ):
                return True
            if _CMDLET.search(core) or " - " in core:
                return True
            # A name has no digits, paths, file extensions or underscores; a lone all-capitals word is an acronym.
            if re.search(r"[\d\\/_@={}]|\.\w{2,4}\b", core) or (core.isupper() and " " not in core):
                return True
        return False
