"""anonymizer: send Elastic AI Assistant chat traffic to a model without its secrets, and restore the answer.

>>> from anonymizer import Anonymizer
>>> session = Anonymizer(tokens="placeholder").session()
>>> safe = session.anonymize_data({"user.name": "jdoe", "source.ip": "10.1.2.3"}, fields_to_anonymize=["source.ip"])
>>> safe  # the last part of a placeholder is the conversation's random tag  # doctest: +ELLIPSIS
{'user.name': '<USER_NAME_1_...>', 'source.ip': '<SOURCE_IP_1_...>'}
>>> session.deanonymize(f"{safe['user.name']} logged in from {safe['source.ip']}")
'jdoe logged in from 10.1.2.3'

The public names are listed in ``__all__``; everything in a module whose name starts with ``_`` is private.
"""

# No `from __future__ import annotations` here: the import would bind a public name `annotations` in the package
# namespace (pinned by tests/test_public_api.py).

from .engine import Anonymizer, Session, connect_payload_adapter
from .engine import PayloadAdapter as _PayloadAdapter
from .errors import (
    AnonymizerError,
    ArgumentTypeError,
    ConfigError,
    DetectorError,
    Issue,
    PayloadError,
    PolicyError,
    ReplacementsError,
    StoreError,
    StreamError,
    TokenError,
)
from .findings import Detector, Finding
from .policy import Action, FieldPolicy, FieldRule
from .restore import Restored, Restorer, RestoreReport, TokenEvent
from .tokens import TokenContext, TokenStrategy, entity_mask

__version__ = "0.1.0"


def _payload_adapter() -> _PayloadAdapter:
    # The package wires its payload adapter into the sessions' payload methods, imported on first use: the
    # engine imports nothing above itself, and `import anonymizer` does not load pydantic.
    from . import payloads

    return payloads


connect_payload_adapter(_payload_adapter)
del connect_payload_adapter

__all__ = [
    "Action",
    "Anonymizer",
    "AnonymizerError",
    "ArgumentTypeError",
    "ConfigError",
    "Detector",
    "DetectorError",
    "FieldPolicy",
    "FieldRule",
    "Finding",
    "Issue",
    "PayloadError",
    "PolicyError",
    "ReplacementsError",
    "RestoreReport",
    "Restored",
    "Restorer",
    "Session",
    "StoreError",
    "StreamError",
    "TokenContext",
    "TokenError",
    "TokenEvent",
    "TokenStrategy",
    "__version__",
    "entity_mask",
]
