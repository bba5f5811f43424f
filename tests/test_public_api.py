"""The public face of the package: a curated, sorted __all__ with a docstring on every name."""

from __future__ import annotations

import importlib
import inspect

import pytest

import anonymizer

MODULES = [
    "anonymizer",
    "anonymizer.errors",
    "anonymizer.findings",
    "anonymizer.policy",
    "anonymizer.tokens",
    "anonymizer.restore",
    "anonymizer.engine",
    "anonymizer.kibana",
    "anonymizer.payloads",
    "anonymizer.stream",
    "anonymizer.detect",
    "anonymizer.testing",
    "anonymizer.proxy",
]


def test_top_level_all_is_pinned() -> None:
    """The names anonymizer exports are exactly these."""
    assert anonymizer.__all__ == [
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


@pytest.mark.parametrize("name", MODULES)
def test_every_public_name_exists_and_is_documented(name: str) -> None:
    """Each module has an __all__ without duplicates, every name exists, every class/function is documented."""
    module = importlib.import_module(name)
    assert module.__doc__
    public = list(module.__all__)
    assert len(public) == len(set(public)), name
    for attr in public:
        obj = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{attr} has no docstring"


def test_error_hierarchy() -> None:
    """Every error is an AnonymizerError; the input errors are ValueErrors, argument types TypeErrors."""
    for error in (
        anonymizer.ConfigError,
        anonymizer.PolicyError,
        anonymizer.PayloadError,
        anonymizer.ReplacementsError,
        anonymizer.StreamError,
        anonymizer.TokenError,
    ):
        assert issubclass(error, anonymizer.AnonymizerError)
        assert issubclass(error, ValueError)
    assert issubclass(anonymizer.DetectorError, anonymizer.AnonymizerError)
    assert issubclass(anonymizer.ArgumentTypeError, anonymizer.AnonymizerError)
    assert issubclass(anonymizer.ArgumentTypeError, TypeError)
    assert issubclass(anonymizer.StoreError, anonymizer.AnonymizerError)
    assert issubclass(anonymizer.StoreError, RuntimeError)


def test_every_error_class_is_drawn_in_the_errors_docstring_and_the_readme() -> None:
    """The hierarchy drawn in anonymizer.errors and in the README names every AnonymizerError subclass."""
    from pathlib import Path

    from anonymizer import errors

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Errors", 1)[1].split("\n## ", 1)[0]
    for name in errors.__all__:
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, errors.AnonymizerError):
            assert f"── {name}" in (errors.__doc__ or "") or name == "AnonymizerError", name
            assert name in section, name


def test_top_level_namespace_holds_only_the_public_names() -> None:
    """Every public-looking name in ``vars(anonymizer)`` is in ``__all__`` (submodules aside): nothing slips in."""
    import types

    exposed = sorted(
        name
        for name, value in vars(anonymizer).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    assert exposed == sorted(name for name in anonymizer.__all__ if not name.startswith("_"))
