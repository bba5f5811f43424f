"""How the project installs: its distribution name, its install hints, its light core and its types."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

import anonymizer
from anonymizer._install import DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parents[1]

#: A hint that would install the unrelated ``anonymizer`` distribution from the package index.
_FOREIGN_HINT = re.compile(r"(?<![\w-])anonymizer\[")


def test_distribution_is_installed_under_its_own_name() -> None:
    """The installed distribution is ours, and it provides the import package ``anonymizer``."""
    dist = metadata.distribution(DISTRIBUTION)
    assert dist.metadata["Name"] == DISTRIBUTION
    assert dist.version == anonymizer.__version__


def test_install_hint_names_this_project() -> None:
    """A hint installs the extra from this project: its local checkout, or its own distribution name."""
    hint = install_hint("proxy")
    assert hint.startswith("pip install ")
    assert "[proxy]" in hint
    assert not _FOREIGN_HINT.search(hint.replace(f"{DISTRIBUTION}[", ""))


@pytest.mark.parametrize(
    "path", [*sorted((ROOT / "anonymizer").rglob("*.py")), ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
)
def test_no_hint_installs_the_unrelated_distribution(path: Path) -> None:
    """No source file or document tells users to install ``anonymizer[...]``, which is another project."""
    text = path.read_text(encoding="utf-8")
    assert not _FOREIGN_HINT.search(text.replace(f"{DISTRIBUTION}[", "")), path


_BLOCK_DETECTION = """
import importlib.abc, sys

class _Blocked(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"presidio_analyzer", "presidio_anonymizer", "spacy", "tldextract", "phonenumbers"}:
            raise ImportError(f"{name} is blocked: the core must not need it")
        return None

sys.meta_path.insert(0, _Blocked())
"""


def test_core_works_without_the_detection_extra(tmp_path: Path) -> None:
    """Engine, payloads, streams and CLI redaction import and run with Presidio and spaCy unavailable."""
    script = _BLOCK_DETECTION + textwrap.dedent(
        """
        import anonymizer, anonymizer.payloads, anonymizer.stream, anonymizer.kibana
        from anonymizer.cli import main
        session = anonymizer.Anonymizer(tokens="placeholder").session()
        assert session.anonymize_text("x") == "x"
        code = main(["redact", sys.argv[1], "-o", sys.argv[2], "--replacements-out", sys.argv[3], "--quiet"])
        assert code == 0, code
        print("ok")
        """
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            str(ROOT / "examples" / "export.ndjson"),
            str(tmp_path / "r"),
            str(tmp_path / "m"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"


def test_user_code_is_type_checked_against_the_installed_package(tmp_path: Path) -> None:
    """``mypy --strict`` on a user's module outside the checkout sees the package's types (py.typed)."""
    pytest.importorskip("mypy")
    user = tmp_path / "user_code.py"
    user.write_text(
        "from anonymizer import Anonymizer\n\n"
        "session = Anonymizer().session()\n"
        "count: int = session.deanonymize('x')\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            str(user),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    # The one error is the deliberate one: mypy knew deanonymize returns str, so it found the package and its types.
    assert 'expression has type "str", variable has type "int"' in out.stdout, out.stdout + out.stderr
    assert "import-not-found" not in out.stdout and "import-untyped" not in out.stdout
