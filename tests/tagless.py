"""Test helper: placeholder tokens without their conversation tag, to compare outputs with literal expectations."""

from __future__ import annotations

import re
from typing import Any

from anonymizer.tokens import TAG_PATTERN

_TAG = re.compile(rf"(<[A-Z][A-Z0-9_]*_[0-9]+)_{TAG_PATTERN}>")


def untag(value: Any) -> Any:
    """``value`` with every ``<LABEL_N_TAG>`` written ``<LABEL_N>`` (strings, keys, lists and dicts)."""
    if isinstance(value, str):
        return _TAG.sub(r"\1>", value)
    if isinstance(value, dict):
        return {untag(k): untag(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(untag(v) for v in value)
    return value
