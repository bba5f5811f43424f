"""Write ``detect_corpus.jsonl``: labelled security-assistant messages for the detector evaluation.

Run ``python tests/data/detect_corpus_build.py``; the output is deterministic (fixed seed). Each line is
``{"text", "entities": [{"start", "end", "entity_class"}]}`` with Python ``str`` indices. Messages are
alerts, analyst questions and model answers assembled from templates whose slots carry the gold class.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SEED = 20240611
COUNT = 260

VALUES: dict[str, list[str]] = {
    "PERSON": [
        "Alice Johnson",
        "Rahul Mehta",
        "Maria Garcia",
        "Wei Chen",
        "John Smith",
        "David Kim",
        "Emily Brown",
        "Carlos Ruiz",
        "Anna Kowalski",
        "James Wilson",
        "Fatima Hassan",
        "Tom Becker",
        "Laura Rossi",
        "Michael Chang",
        "Sophie Martin",
        "Daniel Okafor",
        "Priya Sharma",
        "Robert Miller",
    ],
    "USER_NAME": ["jdoe", "svc_backup", "administrator", "a.johnson", "mgarcia", "wchen", "root", "sql_admin"],
    "HOST_NAME": [
        "WS-FIN-042",
        "srv-db-01",
        "LAPTOP-7QK2M",
        "dc01.corp.local",
        "fileserver.acme.internal",
        "vpn-gw.branch.lan",
        "build-03.dev.example",
        "exch02.corp.local",
        "nas.home.arpa",
        "jump01.ops.internal",
    ],
    "IP_ADDRESS": [
        "10.0.4.17",
        "192.168.1.105",
        "172.16.20.3",
        "203.0.113.45",
        "198.51.100.7",
        "185.220.101.34",
        "8.8.8.8",
        "fe80::1ff:fe23:4567:890a",
        "2001:db8:85a3::8a2e:370:7334",
        "100.64.12.9",
    ],
    "EMAIL_ADDRESS": [
        "alice.johnson@acme.com",
        "m.garcia@contoso.co.uk",
        "jdoe@corp.local",
        "helpdesk@it.internal",
        "secops@acme.example",
        "backup@nas.lan",
        "admin@router.home.arpa",
        "svc@test.localdomain",
        "rahul.mehta@globex.io",
        "noreply@payroll-update.net",
        "wchen@research.corp",
        "it-support@branch.test",
    ],
    "URL": [
        "https://wiki.corp.local/display/SEC/Runbook",
        "http://10.1.2.3:8080/admin",
        "https://login.microsoftonline.com/common/oauth2/authorize",
        "http://malicious-updates.xyz/payload.bin",
        "https://jira.acme.internal/browse/SEC-1432",
        "https://kibana.soc.lan:5601/app/security/alerts",
        "http://intranet.example/hr/salaries.xlsx",
        "https://github.com/acme/infra/pull/88",
        "https://pastebin.com/raw/x8Yq2LmN",
        "http://update-check.test/api/v2/ping",
    ],
    "FILE_PATH": [
        r"C:\Users\jdoe\AppData\Local\Temp\invoice.exe",
        "/home/mgarcia/.ssh/authorized_keys",
        "/var/log/auth.log",
        r"C:\Windows\System32\drivers\etc\hosts",
        "/tmp/.x/kworker",
        r"C:\ProgramData\svc\update.ps1",
    ],
}

# Slots that draw their own values but carry another gold class.
CLASS_OF = {"CIDR": "IP_ADDRESS"}
VALUES["CIDR"] = ["10.0.0.0/8", "192.168.10.0/24", "172.16.0.0/12"]

# Unlabelled filler (rule names, processes, numbers) that a detector should leave alone.
FILLER: dict[str, list[str]] = {
    "RULE": [
        "Suspicious PowerShell Encoded Command",
        "Brute Force Attempt",
        "Credential Dumping via LSASS",
        "Unusual Network Connection",
        "Malware Detection Alert",
        "Potential Lateral Movement via SMB",
    ],
    "PROC": ["powershell.exe", "rundll32.exe", "lsass.exe", "curl", "mimikatz.exe", "psexec.exe", "sshd"],
    "NUM": ["3", "12", "47", "128", "5", "9"],
    "SEV": ["high", "critical", "medium", "low"],
}

TEMPLATES = [
    "Alert: {RULE} on host {HOST_NAME} (user {USER_NAME}, source IP {IP_ADDRESS}). Severity {SEV}.",
    "{RULE} detected: {PROC} spawned by {USER_NAME} on {HOST_NAME}, connecting to {IP_ADDRESS}.",
    "Can you check why {PERSON} logged in from {IP_ADDRESS} at 03:12 UTC? The account is {USER_NAME}.",
    "Who owns {HOST_NAME}? I see {NUM} failed logons from {IP_ADDRESS} in the last hour.",
    "The phishing mail came from {EMAIL_ADDRESS} and was sent to {EMAIL_ADDRESS}; the link pointed to {URL}.",
    "Please contact {PERSON} ({EMAIL_ADDRESS}) about the {SEV} alert on {HOST_NAME}.",
    "I recommend isolating {HOST_NAME} and resetting the password of {USER_NAME}. {PERSON} should review "
    "the runbook at {URL} before re-enabling the account.",
    "Summary: {NUM} alerts for {RULE}. Most activity is from {IP_ADDRESS} targeting {HOST_NAME}; the dropped "
    "file was {FILE_PATH}.",
    "Is {IP_ADDRESS} a known scanner? It touched {HOST_NAME} and {HOST_NAME} overnight.",
    "{PERSON} reported that {EMAIL_ADDRESS} received a fake invoice linking to {URL}.",
    "The process {PROC} wrote {FILE_PATH} on {HOST_NAME} shortly after {USER_NAME} opened a mail from {EMAIL_ADDRESS}.",
    "Based on the logs, {USER_NAME} authenticated to {HOST_NAME} from {IP_ADDRESS}, then browsed to {URL}.",
    "Escalate to {PERSON} and {PERSON}; cc {EMAIL_ADDRESS}.",
    "What does {RULE} mean for {HOST_NAME}? {PERSON} says it is a false positive.",
    "Outbound traffic from {IP_ADDRESS} to {IP_ADDRESS} on port 443 matched {RULE}.",
    "Block {URL} at the proxy and add {IP_ADDRESS} to the deny list.",
    "The SSH key at {FILE_PATH} was modified by {USER_NAME} on {HOST_NAME}.",
    "Hi team, {PERSON} here. I can't reach {URL} from {HOST_NAME}, is it down?",
    "Timeline: 09:14 {USER_NAME} logs on to {HOST_NAME}; 09:16 {PROC} runs; 09:17 connection to {IP_ADDRESS}.",
    'Mail from {EMAIL_ADDRESS}: "please verify your account at {URL}". Reported by {PERSON}.',
    "New device {HOST_NAME} joined the network with address {IP_ADDRESS}; owner {EMAIL_ADDRESS}.",
    "Investigate {RULE}: parent {PROC}, child {PROC}, user {USER_NAME}, host {HOST_NAME}.",
    "{PERSON} approved the change; documentation is at {URL}.",
    "I found {NUM} sign-ins for {EMAIL_ADDRESS} from {IP_ADDRESS}, which geolocates outside the usual range.",
    "Event 4625 fired {NUM} times at 2024-06-11T09:14:22Z on {HOST_NAME}; agent 8.14.3 ran setup.py and "
    "report.docx was opened by {USER_NAME}.",
    "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 seen in {FILE_PATH} "
    "(rule {RULE}, risk score 73, PID 4412).",
    "Answer: the {SEV} alert is expected. {PERSON} scheduled the scan of {CIDR} from {HOST_NAME}; "
    "see {URL} for the ticket.",
]

SLOT = re.compile(r"\{([A-Z_]+)\}")


def build(rng: random.Random) -> dict[str, object]:
    """Fill one random template, recording the gold span of each labelled slot."""
    template = rng.choice(TEMPLATES)
    parts: list[str] = []
    entities: list[dict[str, object]] = []
    pos = 0
    length = 0
    for m in SLOT.finditer(template):
        literal = template[pos : m.start()]
        parts.append(literal)
        length += len(literal)
        slot = m.group(1)
        value = rng.choice(VALUES[slot] if slot in VALUES else FILLER[slot])
        if slot in VALUES:
            cls = CLASS_OF.get(slot, slot)
            entities.append({"start": length, "end": length + len(value), "entity_class": cls})
        parts.append(value)
        length += len(value)
        pos = m.end()
    parts.append(template[pos:])
    return {"text": "".join(parts), "entities": entities}


def main() -> None:
    """Write the corpus next to this script."""
    rng = random.Random(SEED)
    rows = [build(rng) for _ in range(COUNT)]
    out = Path(__file__).with_name("detect_corpus.jsonl")
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main()
