"""``Session.anonymize_payload``/``deanonymize_payload``: the payload adapter through the session, loaded on use."""

from __future__ import annotations

import subprocess
import sys

import pytest

from anonymizer import Anonymizer, PayloadError
from anonymizer.payloads import anonymize_payload, deanonymize_payload

REQUEST = {
    "connectorId": "c1",
    "persist": False,
    "isStream": False,
    "messages": [{"role": "user", "content": "Why is jdoe locked out?", "data": {"user.name": "jdoe"}}],
}


def test_session_methods_equal_the_adapter_functions() -> None:
    """The session's payload methods give what the adapter's functions give with that session, both ways."""
    engine = Anonymizer(tokens="keyed", key=b"k" * 32)
    via_session, via_adapter = engine.session(), engine.session()
    safe = via_session.anonymize_payload(REQUEST, kind="security.chat_complete")
    assert safe == anonymize_payload(via_adapter, REQUEST, "security.chat_complete")
    assert "jdoe" not in str(safe)
    token = safe["messages"][0]["data"]["user.name"]
    answer = {"connector_id": "c1", "data": f"{token} is locked", "status": "ok", "replacements": {}}
    restored = via_session.deanonymize_payload(answer, kind="security.chat_complete.response")
    assert restored == deanonymize_payload(via_adapter, answer, "security.chat_complete.response")
    assert restored["data"] == "jdoe is locked"


def test_session_methods_validate_like_the_adapter() -> None:
    """A payload the adapter refuses is refused through the session too, with the same PayloadError."""
    with pytest.raises(PayloadError):
        Anonymizer().session().anonymize_payload({"messages": "not a list"}, kind="security.chat_complete")


def test_importing_the_package_does_not_load_the_adapter() -> None:
    """`import anonymizer` and a session's data/text work load neither the payload adapter nor pydantic."""
    code = (
        "import sys, anonymizer\n"
        "s = anonymizer.Anonymizer().session()\n"
        "s.anonymize_data({'user.name': 'jdoe'}); s.deanonymize('x')\n"
        "print('anonymizer.payloads' in sys.modules, 'pydantic' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split() == ["False", "False"]
