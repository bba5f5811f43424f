"""A presidio-anonymizer operator that replaces entities with session tokens."""

from __future__ import annotations

from typing import Any

from presidio_anonymizer.entities import InvalidParamError
from presidio_anonymizer.operators import Operator, OperatorType

__all__ = ["SessionTokenOperator"]


class SessionTokenOperator(Operator):
    """A presidio-anonymizer operator (``"session_token"``) that replaces each entity with a session token.

    Its params carry the :class:`~anonymizer.Session`; the token is ``session.token_for(text,
    entity_class=entity_type)``, so Presidio's conflict resolution decides the spans and the session keeps
    one token per original, restorable with ``session.deanonymize``::

        from presidio_anonymizer import AnonymizerEngine
        from presidio_anonymizer.entities import OperatorConfig

        presidio_engine = AnonymizerEngine()
        presidio_engine.add_anonymizer(SessionTokenOperator)
        results = detector.analyze(text)                  # detector = anonymizer.detect.presidio()
        config = {"DEFAULT": OperatorConfig("session_token", {"session": session})}
        masked = presidio_engine.anonymize(text, results, operators=config).text
        assert session.deanonymize(masked) == text
    """

    NAME = "session_token"

    def operate(self, text: str, params: dict[str, Any] | None = None) -> str:
        """The session's token for ``text`` under the entity class Presidio passes as ``entity_type``."""
        self.validate(params)
        assert params is not None
        token: str = params["session"].token_for(text, entity_class=params.get("entity_type"))
        return token

    def validate(self, params: dict[str, Any] | None = None) -> None:
        """Require a ``session`` param that has a ``token_for`` method."""
        session = (params or {}).get("session")
        if not callable(getattr(session, "token_for", None)):
            raise InvalidParamError("session_token: params must include 'session' (an anonymizer Session)")

    def operator_name(self) -> str:
        """``"session_token"``."""
        return self.NAME

    def operator_type(self) -> OperatorType:
        """An anonymize operator."""
        return OperatorType.Anonymize
