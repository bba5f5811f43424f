"""Kibana's jest cases for its anonymization helpers, and derived cases, run against :mod:`anonymizer.kibana`.

Each case in ``data/kibana_cases.json`` is ``{function, input, expected, source, note?, deviation?}``:

- ``input`` holds the keyword arguments, plus ``generator`` for functions that take a token generator
  (``reverse``: Kibana's mock, which reverses the value; ``uuid_sequence``: the real generator with uuid4
  yielding ``00000000-0000-4000-8000-000000000001``, ``...0002``, ...; ``unused``: fails if called) and
  ``uuid_v4`` for ``get_anonymized_value`` (what uuid4 returns). ``{"$float": "nan"}`` stands for a float
  that JSON cannot hold.
- ``expected`` is the return value, or for tuple-returning functions a dict with some of ``values`` /
  ``data`` / ``replacements``, for ``transform_raw_data`` some of ``result`` / ``on_new_replacements_calls``,
  or ``{"raises", "message"}``.
- ``deviation: N`` marks a case where the README's deliberate deviation N from Kibana applies: the expectation
  is ours, the note says what Kibana gives.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from anonymizer import errors, kibana

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parents[1] / "data" / "kibana_cases.json").read_text(encoding="utf-8")
)


def _case_id(index: int, case: dict[str, Any]) -> str:
    kind = "kibana" if case["source"].startswith("elastic/kibana ") else "derived"
    return f"{index:03d}-{case['function']}-{kind}"


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$float"}:
            return float(value["$float"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _reverse(*, current_replacements: Mapping[str, str] | None, raw_value: str) -> str:
    return raw_value[::-1]


def _unused(*, current_replacements: Mapping[str, str] | None, raw_value: str) -> str:
    raise AssertionError("the token generator must not be called in this case")


def _uuid_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = iter(range(1, 1_000_000))
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(f"00000000-0000-4000-8000-{next(counter):012d}"))


def _call(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    kwargs = _decode(case["input"])
    function = case["function"]
    generator = kwargs.pop("generator", None)
    if generator == "reverse":
        kwargs["get_anonymized_value"] = _reverse
    elif generator == "unused":
        kwargs["get_anonymized_value"] = _unused
    elif generator == "uuid_sequence":
        _uuid_sequence(monkeypatch)
    if "uuid_v4" in kwargs:
        fixed = kwargs.pop("uuid_v4")
        monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    if function == "transform_raw_data":
        calls: list[dict[str, str]] = []
        result = kibana.transform_raw_data(**kwargs, on_new_replacements=calls.append)
        return {"result": result, "on_new_replacements_calls": calls}
    if function in ("is_allowed", "is_denied", "is_anonymized"):
        return getattr(kibana, function)(kwargs["field"], kwargs["anonymization_fields"])
    if function in ("js_string", "get_is_data_anonymizable", "get_csv_from_data"):
        (argument,) = kwargs.values()
        return getattr(kibana, function)(argument)
    if function == "get_anonymized_values":
        values, replacements = kibana.get_anonymized_values(**kwargs)
        return {"values": values, "replacements": replacements}
    if function == "get_anonymized_data":
        data, replacements = kibana.get_anonymized_data(**kwargs)
        return {"data": data, "replacements": replacements}
    return getattr(kibana, function)(**kwargs)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(i, c) for i, c in enumerate(CASES)])
def test_case(case: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each Kibana (or derived) case gives the expected output of its function."""
    expected = case["expected"]
    if isinstance(expected, dict) and "raises" in expected:
        error = getattr(errors, expected["raises"])
        with pytest.raises(error) as caught:
            _call(case, monkeypatch)
        assert str(caught.value) == expected["message"]
        return
    actual = _call(case, monkeypatch)
    if case["function"] in ("get_anonymized_values", "get_anonymized_data", "transform_raw_data"):
        actual = {key: actual[key] for key in expected}
    assert actual == expected
    assert type(actual) is type(expected)


def test_cases_are_well_formed() -> None:
    """Every case names a public function and a source; deviation cases say what Kibana gives instead."""
    assert len(CASES) >= 100
    for case in CASES:
        assert case["function"] in kibana.__all__
        assert set(case) <= {"function", "input", "expected", "source", "note", "deviation"}
        assert case["source"].startswith(("elastic/kibana ", "derived (not a Kibana test)"))
        if "deviation" in case:
            assert case["deviation"] in (1, 2, 3, 4, 5)
            assert "Kibana" in case["note"]


def test_ported_cases_cover_every_kibana_test_file() -> None:
    """The ported cases come from each of Kibana's six helper test files."""
    sources = {c["source"].split(" ")[1].rsplit("/", 2)[-2] for c in CASES if c["source"].startswith("elastic/")}
    assert sources == {
        "helpers",
        "get_anonymized_value",
        "get_anonymized_values",
        "get_anonymized_data",
        "get_csv_from_data",
        "transform_raw_data",
    }
