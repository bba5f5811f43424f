"""Free-text detectors: Presidio on spaCy, configured in code and offline, with security-domain recognizers,
and Kibana's rule format.

Two builders give objects that follow :class:`anonymizer.findings.Detector`::

    from anonymizer import Anonymizer
    from anonymizer.detect import from_kibana_rules, presidio

    engine = Anonymizer(detectors=[presidio()])                       # patterns + spaCy NER
    engine = Anonymizer(detectors=[presidio(model=None)])             # patterns only, no model
    engine = Anonymizer(detectors=[from_kibana_rules(kibana_settings)])  # ai:anonymizationSettings

What analysts type carries secrets and identities nobody named in a policy, so :func:`presidio` runs
security recognizers by default, one module per family, each a Presidio recognizer you can pick, drop
(``presidio(disable=["HostNameRecognizer"])``) or extend (:class:`ValuePatternRecognizer`):

- :mod:`~anonymizer.detect.secrets`: AWS keys, JWTs, prefixed API tokens (GitHub, GitLab, Slack, Stripe, Google,
  OpenAI, npm, PyPI, Azure keys and SAS), ``Authorization`` headers, ``https://user:pass@host``, private keys,
  passwords in context (``password=``, ``"password": "..."``, ``password is ...``, ``mysql -p...``);
- :mod:`~anonymizer.detect.identities`: domain SIDs, ``DOMAIN\\user``, user names in context, Kerberos
  principals, the user segment of home-directory paths;
- :mod:`~anonymizer.detect.network`: URLs on any host, e-mail on internal domains, IPv4/IPv6 with trailing
  punctuation, defanged indicators;
- :mod:`~anonymizer.detect.hosts`: internal FQDNs, short host names by shape and context.

What the analysis needs stays visible (:mod:`~anonymizer.detect.analytic`): hashes, CVE and ATT&CK ids, event
codes, process names, system paths, well-known SIDs, ports, dates, vendor and product names.

Nothing here touches the network:

- the spaCy pipeline is loaded with ``spacy.load`` after checking that it is installed, and handed to Presidio
  already loaded, so Presidio's ``spacy.cli.download`` fallback can never run; a missing pipeline raises
  :class:`~anonymizer.errors.DetectorError` naming the package to install;
- e-mail validation uses a ``tldextract.TLDExtract`` built on its bundled public-suffix snapshot
  (``suffix_list_urls=()``, no cache directory), never the module-level extractor that fetches the list.

Every detector returns non-overlapping findings: when spans overlap, the earliest start wins, then the longer
span, then the earlier rule (:func:`resolve_overlaps`; pattern recognizers come before NER).

Batches (``detect_many``) run the distinct texts once through spaCy's ``nlp.pipe`` with a real batch size,
then the recognizers per text on the precomputed artifacts; the findings equal those of ``detect`` per text,
and those of Presidio's stock ``AnalyzerEngine.analyze`` per message. The exact shortcuts that make this fast
live in :mod:`~anonymizer.detect.speedups` (``presidio(speedups=False)`` turns them off).

Thread safety: everything is loaded and warmed up at construction (Presidio otherwise loads recognizers
lazily, without a lock); calls into a spaCy pipeline are serialized by a per-detector lock; the recognizers
are then stateless.
"""

from __future__ import annotations

from anonymizer.detect.analytic import AnalyticTerms
from anonymizer.detect.analyzer import DEFAULT_ENTITIES, PresidioDetector, default_recognizers, presidio
from anonymizer.detect.kibana_rules import (
    KIBANA_DEFAULT_NER_MODEL,
    SPACY_TO_KIBANA,
    KibanaRulesDetector,
    from_kibana_rules,
)
from anonymizer.detect.network import INTERNAL_SUFFIXES
from anonymizer.detect.operator import SessionTokenOperator
from anonymizer.detect.patterns import ValuePatternRecognizer
from anonymizer.detect.pipeline import DEFAULT_MODEL, INSTALL_HINT, load_pipeline
from anonymizer.findings import resolve_overlaps

__all__ = [
    "DEFAULT_ENTITIES",
    "DEFAULT_MODEL",
    "INSTALL_HINT",
    "INTERNAL_SUFFIXES",
    "KIBANA_DEFAULT_NER_MODEL",
    "SPACY_TO_KIBANA",
    "AnalyticTerms",
    "KibanaRulesDetector",
    "PresidioDetector",
    "SessionTokenOperator",
    "ValuePatternRecognizer",
    "default_recognizers",
    "from_kibana_rules",
    "load_pipeline",
    "presidio",
    "resolve_overlaps",
]
