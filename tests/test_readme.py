"""The README's Python examples run as written, each on its own, as a newcomer would paste them.

A block preceded by a line ``<!-- readme: not run (reason) -->`` is illustration only (it needs a server or an
upstream the reader has); every other ``python`` block must run in a fresh namespace without error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"(?P<before>[^\n]*)\n```python\n(?P<code>.*?)\n```", re.DOTALL)
_NOT_RUN = re.compile(r"<!-- readme: not run \(.+\) -->")


def _blocks() -> list[tuple[int, str, bool]]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        blocks.append((line, match.group("code"), bool(_NOT_RUN.search(match.group("before")))))
    return blocks


BLOCKS = _blocks()


def test_the_readme_has_python_examples() -> None:
    """The collection below is not empty (a changed fence style would otherwise test nothing)."""
    assert sum(1 for _, _, skipped in BLOCKS if not skipped) >= 5


@pytest.mark.parametrize(("line", "code"), [(line, code) for line, code, skipped in BLOCKS if not skipped])
def test_readme_example_runs(line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The example at this README line runs on its own: every name it uses is defined or imported in it."""
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "readme_example"})
