"""anonymizer.kibana.chat_complete_messages: the exact model-bound messages of Kibana's security route."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from anonymizer import Anonymizer, FieldPolicy, TokenContext
from anonymizer.kibana import chat_complete_messages, default_anonymization_fields


class Sequence:
    """Kibana's test convention: uuid.v4 replaced by a counter (00000000-0000-4000-8000-00000000000N)."""

    name = "sequence"
    alphabet = frozenset("0123456789abcdef-")

    def __init__(self) -> None:
        self.n = 0

    def mint(self, original: str, context: TokenContext) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012d}"


MOCK_DATA = {
    "event.category": "process",
    "event.module": "system",
    "host.name": "Yuliias-MBP",
    "host.os.name": "macOS",
    "host.os.version": 14.5,
    "process.args": "/usr/libexec/biomesyncd",
    "process.executable": "/usr/libexec/biomesyncd",
    "process.name": "biomesyncd",
    "process.pid": 69516,
    "process.working_directory": "/",
    "user.name": "yuliianaumenko",
}
U1 = "00000000-0000-4000-8000-000000000001"
U2 = "00000000-0000-4000-8000-000000000002"


def test_worked_example_from_kibanas_route_test() -> None:
    """The route's jest mockRequest data with the latest default list gives Kibana's CONTEXT block."""
    session = Anonymizer(tokens=Sequence()).session()
    request = {"messages": [{"role": "user", "content": "What is this?", "data": MOCK_DATA}]}
    out = chat_complete_messages(request, anonymization_fields=default_anonymization_fields(), session=session)
    assert out == [
        {
            "role": "user",
            "content": (
                'CONTEXT:\n"""\nevent.category,process\nevent.module,system\n'
                f"host.name,{U1}\nhost.os.name,macOS\nhost.os.version,14.5\n"
                "process.args,/usr/libexec/biomesyncd\nprocess.executable,/usr/libexec/biomesyncd\n"
                "process.name,biomesyncd\nprocess.pid,69516\nprocess.working_directory,/\n"
                f'user.name,{U2}\n"""\n\nWhat is this?'
            ),
        }
    ]
    assert session.replacements == {U1: "Yuliias-MBP", U2: "yuliianaumenko"}


def test_tokens_are_reused_across_messages_and_turns() -> None:
    """A value seen in an earlier message (or an earlier request of the session) reuses its token."""
    session = Anonymizer(tokens=Sequence()).session()
    request = {
        "messages": [
            {"role": "user", "content": "a", "data": {"user.name": "jdoe"}},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c", "data": {"user.name": "jdoe", "host.name": "jdoe"}},
        ]
    }
    out = chat_complete_messages(request, anonymization_fields=None, session=session)
    assert out[0]["content"] == f'CONTEXT:\n"""\nuser.name,{U1}\n"""\n\na'
    assert out[1] == {"role": "assistant", "content": "b"}
    assert out[2]["content"] == f'CONTEXT:\n"""\nhost.name,{U1}\nuser.name,{U1}\n"""\n\nc'
    again = chat_complete_messages(request, anonymization_fields=None, session=session)
    assert again == out


def test_fields_to_anonymize_persist_and_add_unlisted_fields() -> None:
    """fields_to_anonymize flips a field for this and later messages; an unlisted field is added (dev. 5)."""
    session = Anonymizer(tokens=Sequence()).session()
    fields = [{"field": "source.ip", "allowed": True, "anonymized": False}]
    request = {
        "messages": [
            {"role": "user", "content": "", "data": {"source.ip": "10.1.2.3"}},
            {
                "role": "user",
                "content": "x",
                "data": {"source.ip": "10.1.2.3", "user_id": "u789"},
                "fields_to_anonymize": ["source.ip", "user_id"],
            },
            {"role": "user", "content": "y", "data": {"source.ip": "10.9.9.9"}},
        ]
    }
    out = chat_complete_messages(request, anonymization_fields=fields, session=session)
    assert out[0]["content"] == 'CONTEXT:\n"""\nsource.ip,10.1.2.3\n"""\n\n'
    assert out[1]["content"] == f'CONTEXT:\n"""\nsource.ip,{U1}\nuser_id,{U2}\n"""\n\nx'
    assert out[2]["content"].startswith('CONTEXT:\n"""\nsource.ip,00000000-0000-4000-8000-000000000003\n')


def test_no_undefined_text_for_data_without_content() -> None:
    """Deviation 3: a message with data and no content does not get the text 'undefined'."""
    session = Anonymizer(tokens=Sequence()).session()
    request = {"messages": [{"role": "user", "data": {"host.os.name": "macOS"}}, {"role": "user"}]}
    out = chat_complete_messages(request, anonymization_fields=None, session=session)
    assert out == [
        {"role": "user", "content": 'CONTEXT:\n"""\nhost.os.name,macOS\n"""\n\n'},
        {"role": "user", "content": ""},
    ]


def test_list_values_are_one_token_as_in_kibana() -> None:
    """A list value is wrapped as one element and stringified the JavaScript way: one token for 'a,b'."""
    session = Anonymizer(tokens=Sequence()).session()
    request = {"messages": [{"role": "user", "content": "", "data": {"user.name": ["a", "b"]}}]}
    out = chat_complete_messages(request, anonymization_fields=None, session=session)
    assert out[0]["content"] == f'CONTEXT:\n"""\nuser.name,{U1}\n"""\n\n'
    assert session.replacements == {U1: "a,b"}


def test_content_can_be_anonymized_on_request() -> None:
    """anonymize_content=True hides the session's known originals in the free text too."""
    session = Anonymizer(tokens="placeholder").session()
    request = {"messages": [{"role": "user", "content": "is jdoe ok?", "data": {"user.name": "jdoe"}}]}
    plain = chat_complete_messages(request, anonymization_fields=None, session=session)
    hidden = chat_complete_messages(request, anonymization_fields=None, session=session, anonymize_content=True)
    assert plain[0]["content"].endswith("is jdoe ok?")
    assert hidden[0]["content"].endswith(f"is {session.token_for('jdoe')} ok?")


@given(
    names=st.lists(st.text(alphabet="ghijklmnopqrstuvwxyz", min_size=4, max_size=8), min_size=1, max_size=6),
)
@settings(max_examples=50)
def test_no_anonymized_value_reaches_the_context(names: list[str]) -> None:
    """Every user.name value is absent from the CONTEXT block and restorable from the session map."""
    session = Anonymizer(policy=FieldPolicy.kibana_default()).session()
    request = {"messages": [{"role": "user", "content": "", "data": {"user.name": n}} for n in names]}
    out = chat_complete_messages(request, anonymization_fields=None, session=session)
    for message, name in zip(out, names, strict=True):
        assert name not in message["content"]
        assert session.deanonymize(message["content"]) == f'CONTEXT:\n"""\nuser.name,{name}\n"""\n\n'
