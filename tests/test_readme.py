"""The Python examples of the README and docs/ run as written, each on its own, as a newcomer would paste them.

A block preceded by a line ``<!-- readme: not run (reason) -->`` is illustration only (it needs a server or an
upstream the reader has); every other ``python`` block must run in a fresh namespace without error, and the
``test_*`` functions it defines (the testing guide's examples) are called and must pass.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
_NOT_RUN = re.compile(r"<!-- readme: not run \(.+\) -->")


def _blocks() -> list[tuple[str, str, bool]]:
    blocks = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            where = f"{document.relative_to(ROOT)}:{text.count(chr(10), 0, match.start('code')) + 1}"
            blocks.append((where, match.group("code"), bool(_NOT_RUN.search(match.group("before")))))
    return blocks


BLOCKS = _blocks()


def test_the_readme_has_python_examples() -> None:
    """The collection below is not empty (a changed fence style would otherwise test nothing)."""
    assert sum(1 for _, _, skipped in BLOCKS if not skipped) >= 5


@pytest.mark.parametrize(("where", "code"), [(where, code) for where, code, skipped in BLOCKS if not skipped])
def test_documented_example_runs(where: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example at this document line runs on its own, and the tests it defines (``test_*``) pass."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "documented_example"}
    exec(compile(code, where, "exec"), namespace)
    for name, value in namespace.items():
        if name.startswith("test_") and callable(value):
            value()
