"""How this project is installed, so that hints about a missing extra install from *this* project.

The import package is ``anonymizer``; the distribution is :data:`DISTRIBUTION`, because the name
``anonymizer`` on the package index belongs to an unrelated project. A hint never names the bare
``anonymizer`` distribution: it names ours, and when the package was installed from a local checkout
(``pip install -e .``) it names that checkout, which is where the extra really comes from.
"""

from __future__ import annotations

import json
from importlib import metadata
from urllib.parse import unquote, urlparse

__all__ = ["DISTRIBUTION", "install_hint"]

#: The distribution name of this project on the package index and in ``pyproject.toml``.
DISTRIBUTION = "elastic-ai-anonymizer"


def install_hint(extra: str) -> str:
    """The pip command that adds ``extra`` to the current installation of this project.

    >>> install_hint("proxy").startswith("pip install ")
    True
    """
    source = _local_source()
    if source is None:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    path, editable = source
    return f"pip install {'-e ' if editable else ''}'{path}[{extra}]'"


def _local_source() -> tuple[str, bool] | None:
    """The local directory this project was installed from and whether it is editable, if it was."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    try:
        info = json.loads(text)
        url = urlparse(info["url"])
    except (ValueError, KeyError, TypeError):
        return None
    if url.scheme != "file":
        return None
    editable = bool(info.get("dir_info", {}).get("editable", False))
    return unquote(url.path), editable
