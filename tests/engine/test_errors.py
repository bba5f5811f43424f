"""Deliberate errors: one AnonymizerError tree, locations as attributes, never the offending value."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

import anonymizer
from anonymizer import (
    Anonymizer,
    AnonymizerError,
    ArgumentTypeError,
    ConfigError,
    DetectorError,
    FieldPolicy,
    PayloadError,
    PolicyError,
    Restorer,
    entity_mask,
)
from anonymizer import kibana as kb
from anonymizer.payloads import anonymize_payload

SECRET = "s3cr3t-jdoe"


def _raises(kind: type[AnonymizerError], call: Callable[[], Any]) -> AnonymizerError:
    with pytest.raises(kind) as caught:
        call()
    assert SECRET not in str(caught.value)
    return caught.value


def test_int_over_python_digit_limit_in_a_tokenized_field_is_a_payload_error() -> None:
    """An int too long for str() (over 4,300 digits) gives a PayloadError naming the field, not a bare ValueError."""
    session = Anonymizer(tokens="placeholder").session()
    err = _raises(PayloadError, lambda: session.anonymize_data({"user.name": 10**5000}))
    assert err.path == "$['user.name']"
    assert "0000" not in str(err)


def test_int_over_python_digit_limit_in_kibana_stringify_is_a_payload_error() -> None:
    """kibana.js_string of a 5,000-digit int raises PayloadError, not the interpreter's ValueError."""
    _raises(PayloadError, lambda: kb.get_csv_from_data({"a": [10**5000]}))


@pytest.mark.parametrize("fmt", ["text", "security.ndjson", "observability.ndjson", "openai.sse"])
def test_stream_fed_a_str_is_an_argument_type_error(fmt: str) -> None:
    """feed("text") says bytes are expected (a TypeError too), never that a str "must be str, not bytes"."""
    stream = Anonymizer().session().stream(fmt)
    err = _raises(ArgumentTypeError, lambda: stream.feed(SECRET))  # type: ignore[arg-type]
    assert isinstance(err, TypeError)
    assert "bytes" in str(err)


def test_stream_accepts_bytearray_and_memoryview() -> None:
    """Bytes-like chunks are taken as bytes."""
    session = Anonymizer(tokens="placeholder").session()
    session.anonymize_data({"user.name": "jdoe"})
    stream = session.stream("text")
    token = session.token_for("jdoe").encode()
    out = stream.feed(bytearray(b"hi " + token)) + stream.feed(memoryview(b" bye")) + stream.close()
    assert out == b"hi jdoe bye"


@pytest.mark.parametrize("value", [5, None, b"<USER_NAME_1>", ["x"]])
def test_deanonymize_of_a_non_string_is_an_argument_type_error(value: object) -> None:
    """deanonymize(5) raises instead of silently returning 5; so do Session.restore and Restorer.restore."""
    session = Anonymizer(tokens="placeholder").session()
    _raises(ArgumentTypeError, lambda: session.deanonymize(value))  # type: ignore[arg-type]
    _raises(ArgumentTypeError, lambda: session.restore(value))  # type: ignore[arg-type]
    _raises(ArgumentTypeError, lambda: Restorer({"<A_1>": "x"}).restore(value))  # type: ignore[arg-type]


WRONG_TYPES: list[tuple[str, Callable[[], Any]]] = [
    ("tokens=5", lambda: Anonymizer(tokens=5)),  # type: ignore[arg-type]
    ("min_length='3'", lambda: Anonymizer(min_length="3")),  # type: ignore[arg-type]
    ("detectors=5", lambda: Anonymizer(detectors=5)),  # type: ignore[arg-type]
    ("policy=5", lambda: Anonymizer(policy=5)),  # type: ignore[arg-type]
    ("fields_to_anonymize=5", lambda: Anonymizer().session().anonymize_data({}, 5)),  # type: ignore[arg-type]
    ("anonymize_text(5)", lambda: Anonymizer().session().anonymize_text(5)),  # type: ignore[arg-type]
    ("anonymize_texts(str)", lambda: Anonymizer().session().anonymize_texts(SECRET)),
    ("token_for(5)", lambda: Anonymizer().session().token_for(5)),  # type: ignore[arg-type]
    ("Restorer(5)", lambda: Restorer(5)),  # type: ignore[arg-type]
    ("entity_mask(5)", lambda: entity_mask(5, "HOST_NAME")),  # type: ignore[arg-type]
    ("kibana replace(5)", lambda: kb.replace_anonymized_values_with_original_values(5, {})),  # type: ignore[arg-type]
    ("kibana reanonymize(5)", lambda: kb.replace_original_values_with_uuid_values(5, {"a": "b"})),  # type: ignore[arg-type]
    ("js_string(bytes)", lambda: kb.js_string(SECRET.encode())),
]


@pytest.mark.parametrize(("name", "call"), WRONG_TYPES, ids=[n for n, _ in WRONG_TYPES])
def test_wrong_argument_types_are_argument_type_errors(name: str, call: Callable[[], Any]) -> None:
    """A wrong argument type raises ArgumentTypeError (a TypeError), not a stray AttributeError/TypeError."""
    err = _raises(ArgumentTypeError, call)
    assert isinstance(err, TypeError)


BAD_CONFIG: list[tuple[str, Callable[[], Any], str]] = [
    ("unknown strategy", lambda: Anonymizer(tokens=SECRET), "tokens"),
    ("keyed without key", lambda: Anonymizer(tokens="keyed"), "key"),
    ("empty key", lambda: Anonymizer(tokens="keyed", key=b""), "key"),
    ("min_length=0", lambda: Anonymizer(min_length=0), "min_length"),
    ("unknown payload kind", lambda: anonymize_payload(Anonymizer().session(), {}, SECRET), "kind"),
]


@pytest.mark.parametrize(("name", "call", "path"), BAD_CONFIG, ids=[n for n, _, _ in BAD_CONFIG])
def test_bad_options_are_config_errors_naming_the_option(name: str, call: Callable[[], Any], path: str) -> None:
    """A bad option raises ConfigError (a ValueError) whose .path names the option, without echoing it."""
    err = _raises(ConfigError, call)
    assert isinstance(err, ValueError)
    assert err.path == path


def test_store_errors_are_anonymizer_errors() -> None:
    """The proxy's StoreError is the one in anonymizer.errors, under the base; a bad store URL is a ConfigError."""
    pytest.importorskip("starlette")
    from anonymizer.proxy import StoreError, store_from_url

    assert StoreError is anonymizer.StoreError
    err = _raises(ConfigError, lambda: store_from_url(f"postgres://{SECRET}"))
    assert err.path == "store"


def test_policy_error_carries_its_json_path() -> None:
    """PolicyError.path is the JSON path of the bad entry, so callers need not parse str(exc)."""
    err = _raises(PolicyError, lambda: FieldPolicy.from_fields([{"field": "a"}, {"field": "b", "allowed": SECRET}]))
    assert err.path == "$[1].allowed"
    err = _raises(PolicyError, lambda: FieldPolicy.from_fields(5))  # type: ignore[arg-type]
    assert err.path == "$"


def test_payload_error_path_is_its_first_issue() -> None:
    """PayloadError.path is the JSON path of its first issue."""
    session = Anonymizer().session()
    err = _raises(PayloadError, lambda: anonymize_payload(session, {"persist": True}, "security.chat_complete"))
    assert isinstance(err, PayloadError)
    assert err.path == err.issues[0].json_path


def test_detector_rule_errors_carry_the_rule_index() -> None:
    """A bad Kibana rule raises DetectorError whose .rule is its index and .path its setting."""
    pytest.importorskip("presidio_analyzer")
    from anonymizer.detect import from_kibana_rules

    rules = [
        {"type": "RegExp", "pattern": "x", "entityClass": "X", "enabled": True},
        {"type": "RegExp", "pattern": "(" + SECRET, "entityClass": "X", "enabled": True},
    ]
    err = _raises(DetectorError, lambda: from_kibana_rules(rules))
    assert err.rule == 1
    assert err.path == "rules[1].pattern"


def test_unreadable_input_error_carries_its_line() -> None:
    """The CLI's reader says where a broken array stops as PayloadError.line (no message parsing)."""
    from anonymizer._export.formats import read_records

    data = b'[\n{"a": 1},\n{"a": ' + SECRET.encode() + b"}\n]"
    with pytest.raises(PayloadError) as caught:
        list(read_records(io.BytesIO(data), "array"))
    assert caught.value.line == 3
    assert SECRET not in str(caught.value)


def test_location_attributes_default_to_none() -> None:
    """Every AnonymizerError has .path, .line and .rule, None when they do not apply."""
    err = AnonymizerError("x")
    assert (err.path, err.line, err.rule) == (None, None, None)
