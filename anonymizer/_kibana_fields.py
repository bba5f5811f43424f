"""Kibana's default anonymization fields, as data: the latest list and the 8.14 one.

Both :mod:`anonymizer.policy` (``FieldPolicy.kibana_default()``) and :mod:`anonymizer.kibana` (which re-exports
the two functions) read them from here, so neither module needs the other.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["default_anonymization_fields", "legacy_anonymization_fields"]

_T = "kibana.alert.rule.threat."
_P = "process."

# Kibana's latest DEFAULT_ALLOW, in its order
# (x-pack/solutions/security/plugins/elastic_assistant/common/anonymization/index.ts).
_DEFAULT_FIELDS: tuple[str, ...] = (
    "_id",
    "@timestamp",
    "actions.name",
    "actions.message",
    "actions.status",
    "actions.context",
    "agent.id",
    "cloud.account.name",
    "cloud.availability_zone",
    "cloud.provider",
    "cloud.region",
    "cloud.service.name",
    "destination.ip",
    "dns.question.name",
    "dns.question.type",
    "entity.id",
    "entity.name",
    "entity.sub_type",
    "entity.type",
    "event.category",
    "event.dataset",
    "event.module",
    "event.outcome",
    "file.Ext.original.path",
    "file.hash.sha256",
    "file.name",
    "file.path",
    "group.id",
    "group.name",
    "host.architecture",
    "host.asset.criticality",
    "host.name",
    "host.os.name",
    "host.os.version",
    "host.risk.calculated_level",
    "host.risk.calculated_score_norm",
    "host.type",
    "kibana.alert.original_time",
    "kibana.alert.risk_score",
    "kibana.alert.rule.description",
    "kibana.alert.rule.name",
    "kibana.alert.rule.references",
    _T + "framework",
    _T + "tactic.id",
    _T + "tactic.name",
    _T + "tactic.reference",
    _T + "technique.id",
    _T + "technique.name",
    _T + "technique.reference",
    _T + "technique.subtechnique.id",
    _T + "technique.subtechnique.name",
    _T + "technique.subtechnique.reference",
    "kibana.alert.severity",
    "kibana.alert.workflow_status",
    "message",
    "network.protocol",
    _P + "args",
    _P + "code_signature.exists",
    _P + "code_signature.signing_id",
    _P + "code_signature.status",
    _P + "code_signature.subject_name",
    _P + "code_signature.trusted",
    _P + "command_line",
    _P + "executable",
    _P + "exit_code",
    _P + "Ext.memory_region.bytes_compressed_present",
    _P + "Ext.memory_region.malware_signature.all_names",
    _P + "Ext.memory_region.malware_signature.primary.matches",
    _P + "Ext.memory_region.malware_signature.primary.signature.name",
    _P + "Ext.token.integrity_level_name",
    _P + "hash.md5",
    _P + "hash.sha1",
    _P + "hash.sha256",
    _P + "name",
    _P + "parent.args",
    _P + "parent.args_count",
    _P + "parent.code_signature.exists",
    _P + "parent.code_signature.status",
    _P + "parent.code_signature.subject_name",
    _P + "parent.code_signature.trusted",
    _P + "parent.command_line",
    _P + "parent.executable",
    _P + "parent.name",
    _P + "pe.original_file_name",
    _P + "pid",
    _P + "working_directory",
    "Ransomware.feature",
    "Ransomware.files.data",
    "Ransomware.files.entropy",
    "Ransomware.files.extension",
    "Ransomware.files.metrics",
    "Ransomware.files.operation",
    "Ransomware.files.path",
    "Ransomware.files.score",
    "Ransomware.version",
    "rule.name",
    "rule.reference",
    "source.ip",
    "threat.framework",
    "threat.tactic.id",
    "threat.tactic.name",
    "threat.tactic.reference",
    "threat.technique.id",
    "threat.technique.name",
    "threat.technique.reference",
    "threat.technique.subtechnique.id",
    "threat.technique.subtechnique.name",
    "threat.technique.subtechnique.reference",
    "user.asset.criticality",
    "user.domain",
    "user.name",
    "user.risk.calculated_level",
    "user.risk.calculated_score_norm",
    "user.target.name",
)
# host.ip is in Kibana's DEFAULT_ALLOW_REPLACEMENT too, but not in DEFAULT_ALLOW, so no entry is made for it.
_DEFAULT_ANONYMIZED = frozenset({"cloud.account.name", "entity.name", "host.name", "user.name", "user.target.name"})

# The 8.14 list (x-pack/plugins/elastic_assistant/common/anonymization/index.ts), in its order.
_LEGACY_FIELDS: tuple[str, ...] = (
    "_id",
    "@timestamp",
    "cloud.availability_zone",
    "cloud.provider",
    "cloud.region",
    "destination.ip",
    "dns.question.name",
    "dns.question.type",
    "event.action",
    "event.category",
    "event.dataset",
    "event.module",
    "event.outcome",
    "event.type",
    "file.Ext.original.path",
    "file.hash.sha256",
    "file.name",
    "file.path",
    "host.name",
    "host.risk.calculated_level",
    "host.risk.calculated_score_norm",
    "kibana.alert.original_time",
    "kibana.alert.last_detected",
    "kibana.alert.risk_score",
    "kibana.alert.rule.description",
    "kibana.alert.rule.name",
    "kibana.alert.rule.references",
    _T + "framework",
    _T + "tactic.id",
    _T + "tactic.name",
    _T + "tactic.reference",
    _T + "technique.id",
    _T + "technique.name",
    _T + "technique.reference",
    _T + "technique.subtechnique.id",
    _T + "technique.subtechnique.name",
    _T + "technique.subtechnique.reference",
    "kibana.alert.severity",
    "kibana.alert.workflow_status",
    _P + "args",
    _P + "command_line",
    _P + "executable",
    _P + "Ext.token.integrity_level_name",
    _P + "entity_id",
    _P + "exit_code",
    _P + "hash.md5",
    _P + "hash.sha1",
    _P + "name",
    _P + "hash.sha256",
    _P + "parent.args",
    _P + "parent.args_count",
    _P + "parent.code_signature.exists",
    _P + "parent.code_signature.status",
    _P + "parent.code_signature.subject_name",
    _P + "parent.code_signature.trusted",
    _P + "parent.command_line",
    _P + "parent.entity_id",
    _P + "parent.executable",
    _P + "pid",
    _P + "working_directory",
    "network.protocol",
    "source.ip",
    "user.domain",
    "user.name",
    "user.risk.calculated_level",
    "user.risk.calculated_score_norm",
)
_LEGACY_ANONYMIZED = frozenset(
    {
        "_id",
        "cloud.availability_zone",
        "cloud.provider",
        "cloud.region",
        "destination.ip",
        "file.Ext.original.path",
        "file.name",
        "file.path",
        "host.name",
        "source.ip",
        "user.domain",
        "user.name",
    }
)


def _entries(fields: Sequence[str], anonymized: frozenset[str]) -> list[dict[str, object]]:
    return [{"field": f, "allowed": True, "anonymized": f in anonymized} for f in fields]


def default_anonymization_fields() -> list[dict[str, object]]:
    """Kibana's latest default anonymization fields: 114 entries, all allowed, in Kibana's order.

    Anonymized: ``cloud.account.name``, ``entity.name``, ``host.name``, ``user.name``, ``user.target.name``.
    Each call returns a new list of new dicts ``{"field", "allowed", "anonymized"}``.
    """
    return _entries(_DEFAULT_FIELDS, _DEFAULT_ANONYMIZED)


def legacy_anonymization_fields() -> list[dict[str, object]]:
    """Kibana's 8.14 default anonymization fields: 66 entries, all allowed, 12 anonymized, in Kibana's order.

    Anonymized: ``_id``, ``cloud.availability_zone``, ``cloud.provider``, ``cloud.region``,
    ``destination.ip``, ``file.Ext.original.path``, ``file.name``, ``file.path``, ``host.name``,
    ``source.ip``, ``user.domain``, ``user.name``. Each call returns a new list of new dicts.
    """
    return _entries(_LEGACY_FIELDS, _LEGACY_ANONYMIZED)
