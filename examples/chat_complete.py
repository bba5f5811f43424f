"""Anonymize Kibana's security chat/complete example, show what the model gets, restore the model's answer.

python examples/chat_complete.py
"""

from __future__ import annotations

import json

from anonymizer import Anonymizer, FieldPolicy
from anonymizer.payloads import anonymize_payload

# The request example of POST /api/security_ai_assistant/chat/complete, with alert data attached.
REQUEST = {
    "connectorId": "conn-001",
    "conversationId": "abc123",
    "isStream": True,
    "messages": [
        {
            "role": "user",
            "content": "Why did jdoe log in to srv-web-01 from 10.1.2.3 at night?",
            "data": {
                "user.name": "jdoe",
                "host": {"name": "srv-web-01", "os": {"name": "Ubuntu"}},
                "source.ip": "10.1.2.3",
                "event.category": "authentication",
                "user_id": "user_789",
            },
            "fields_to_anonymize": ["user.name", "source.ip", "user_id"],
        }
    ],
    "model": "gpt-4",
    "persist": True,
}


def main() -> None:
    engine = Anonymizer(policy=FieldPolicy.kibana_default(), tokens="placeholder")
    session = engine.session()  # one per conversation

    outgoing = anonymize_payload(session, REQUEST, "security.chat_complete")
    print("What the model sees:")
    print(json.dumps(outgoing["messages"], indent=2))

    print("\nReplacements map (token -> original), kept on our side:")
    print(json.dumps(session.replacements, indent=2))

    # A model's answer, written with the tokens it was sent (<USER_NAME_1_K7Q2X5>: K7Q2X5 is this conversation's
    # random tag), once as sent, once with brackets swapped, once in lower case without brackets.
    user, host, ip = (session.token_for(value) for value in ("jdoe", "srv-web-01", "10.1.2.3"))
    answer = (
        f"{user} logged in to {host} from {ip}. "
        f"If [{user[1:-1]}] does not usually work at night, reset the account of {user[1:-1].lower()}."
    )
    print("\nThe model's answer:\n" + answer)
    restored = session.restore(answer)
    print("\nRestored for the analyst:\n" + restored.text)
    print("\nRestore report:", json.dumps(restored.report.as_dict()))


if __name__ == "__main__":
    main()
