"""The package's layering, read from its source with ``ast``: no import cycle, no reach into another module's
private names, and an engine that imports none of the layers built on it."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import anonymizer

PACKAGE_DIR = Path(anonymizer.__file__).resolve().parent

# The engine layer: sans-IO, no pydantic, no HTTP, no CLI, no cluster, no detector. Everything else is built on it.
# (The package root is not in it: it is the facade, which connects the payload adapter to the sessions' payload
# methods, imported on first use; see anonymizer/__init__.py and engine.connect_payload_adapter.)
CORE = frozenset(
    {
        "anonymizer._freetext",
        "anonymizer._install",
        "anonymizer._kibana_fields",
        "anonymizer._literal",
        "anonymizer._mint",
        "anonymizer._text",
        "anonymizer.engine",
        "anonymizer.errors",
        "anonymizer.findings",
        "anonymizer.kibana",
        "anonymizer.policy",
        "anonymizer.restore",
        "anonymizer.stream",
        "anonymizer.tokens",
    }
)
# What the engine layer must not import, not even at call time or for type checking only.
ABOVE_CORE = (
    # our adapters and front ends
    "anonymizer._cli",
    "anonymizer._export",
    "anonymizer.batch",
    "anonymizer.cli",
    "anonymizer.dask",
    "anonymizer.detect",
    "anonymizer.payloads",
    "anonymizer.proxy",
    "anonymizer.spark",
    "anonymizer.testing",
    # the libraries behind them
    "cryptography",
    "dask",
    "distributed",
    "httpx",
    "hypothesis",
    "pandas",
    "phonenumbers",
    "presidio_analyzer",
    "presidio_anonymizer",
    "prometheus_client",
    "pyarrow",
    "pydantic",
    "pydantic_core",
    "pyspark",
    "redis",
    "spacy",
    "starlette",
    "uvicorn",
)
# (importer, owner of the private names) pairs that may reach in, each with its reason.
PRIVATE_ALLOWED = {
    # Third party: the exact phone speed-up re-uses phonenumbers' own candidate patterns; tests/test_detect_batch.py
    # and test_detect_security.py pin its findings equal to the plain path, so a phonenumbers change that breaks
    # this fails there.
    ("anonymizer.detect.speedups", "phonenumbers.phonenumbermatcher"),
}


@dataclass(frozen=True)
class Import:
    """One import statement's target, or one attribute read on an imported module of the package."""

    importer: str  # the module that imports
    target: str  # dotted name imported: a module, or a module's attribute
    module: str  # the module the target lives in (the target itself when it is a module)
    line: int
    runtime: bool  # False under ``if TYPE_CHECKING:``
    call_time: bool  # inside a function or method

    def __str__(self) -> str:
        when = "type checking" if not self.runtime else "call time" if self.call_time else "import time"
        return f"{self.importer} (line {self.line}, {when}) -> {self.target}"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package under ``root``, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _absolute(importer: str, is_package: bool, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Reader(ast.NodeVisitor):
    def __init__(self, importer: str, is_package: bool, known: dict[str, Path]) -> None:
        self.importer, self.is_package, self.known = importer, is_package, known
        self.found: list[Import] = []
        self.aliases: dict[str, str] = {}  # local name -> module of the package it is bound to
        self.runtime, self.call_time = True, False

    def _add(self, target: str, module: str, line: int) -> None:
        self.found.append(Import(self.importer, target, module, line, self.runtime, self.call_time))

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            outer, self.runtime = self.runtime, False
            for child in node.body:
                self.visit(child)
            self.runtime = outer
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        outer, self.call_time = self.call_time, True
        self.generic_visit(node)
        self.call_time = outer

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, alias.name, node.lineno)
            if alias.asname and alias.name in self.known:
                self.aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = _absolute(self.importer, self.is_package, node.level, node.module)
        if source == "__future__":
            return
        for alias in node.names:
            target = f"{source}.{alias.name}"
            if target in self.known:  # a submodule
                self._add(target, target, node.lineno)
                self.aliases[alias.asname or alias.name] = target
            else:
                self._add(target, source, node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
            module = self.aliases[node.value.id]
            self._add(f"{module}.{node.attr}", module, node.lineno)
        self.generic_visit(node)


def imports(root: Path = PACKAGE_DIR, package: str = "anonymizer") -> list[Import]:
    """Every import in every module of the package, function-level ones and ``TYPE_CHECKING`` ones included."""
    known = modules(root, package)
    found: list[Import] = []
    for name, path in known.items():
        reader = _Reader(name, path.name == "__init__.py", known)
        reader.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        found += reader.found
    return found


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def cycles(root: Path = PACKAGE_DIR, package: str = "anonymizer") -> list[list[str]]:
    """The import cycles between modules of the package (each a strongly connected group of two or more), counting
    every import that runs: at import time or at call time. Imports for type checking only run neither."""
    known = modules(root, package)
    edges: dict[str, set[str]] = {name: set() for name in known}
    for imp in imports(root, package):
        if imp.runtime and imp.module in known and imp.module != imp.importer:
            edges[imp.importer].add(imp.module)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(groups)


def private_reach_ins(root: Path = PACKAGE_DIR, package: str = "anonymizer") -> list[Import]:
    """Imports of a name that is private to another module or package: ``_x`` in ``a.b`` is private to ``a.b``,
    so ``a.b`` and what lies inside it may import ``a.b._x``, nothing else may."""
    bad = []
    for imp in imports(root, package):
        parts = imp.target.split(".")
        for i in range(1, len(parts)):
            owner = ".".join(parts[:i])
            private = parts[i].startswith("_") and not parts[i].startswith("__")
            if private and not _within(imp.importer, owner) and (imp.importer, owner) not in PRIVATE_ALLOWED:
                bad.append(imp)
                break
    return bad


def core_reaching_up(root: Path = PACKAGE_DIR, package: str = "anonymizer") -> list[Import]:
    """Imports by the engine layer of anything built on it (at any time, type checking included)."""
    return [
        imp
        for imp in imports(root, package)
        if imp.importer in CORE and any(_within(imp.target, above) for above in ABOVE_CORE)
    ]


def imports_of_tests(repo: Path) -> list[str]:
    """Imports of anything in ``tests/`` by the package, the benchmarks or the examples of the checkout ``repo``."""
    tests = {"tests"} | {path.stem for path in (repo / "tests").rglob("*.py")}
    found = []
    for folder in ("anonymizer", "benchmarks", "examples"):
        for path in sorted((repo / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    names = [node.module or ""]
                else:
                    continue
                found += [
                    f"{path.relative_to(repo)}:{node.lineno} {name}" for name in names if name.split(".")[0] in tests
                ]
    return found


def test_no_import_cycle() -> None:
    """No two modules of anonymizer/ import each other, directly or around a loop, at import or call time."""
    found = cycles()
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(group) for group in found)


def test_no_module_imports_another_modules_private_names() -> None:
    """A private name (``_x``) is imported only from within the module or package that owns it."""
    found = [str(imp) for imp in private_reach_ins()]
    assert not found, "private names imported from outside their owner:\n" + "\n".join(found)


def test_the_engine_layer_imports_nothing_built_on_it() -> None:
    """engine, restore, stream, tokens, policy and the other core modules import no adapter, front end or the
    libraries behind them (pydantic, HTTP, clusters, detectors)."""
    found = [str(imp) for imp in core_reaching_up()]
    assert not found, "the engine layer imports what is built on it:\n" + "\n".join(found)


def test_nothing_outside_tests_imports_from_tests() -> None:
    """The package, the benchmarks and the examples import nothing from tests/ (tests may import the measurement
    code of benchmarks/, not the other way round)."""
    found = imports_of_tests(Path(__file__).resolve().parent.parent)
    assert not found, "imports from tests/:\n" + "\n".join(found)


def test_every_core_module_exists() -> None:
    """The engine-layer list names modules that exist (a renamed module would otherwise escape the check)."""
    assert set(modules(PACKAGE_DIR, "anonymizer")) >= CORE


def _plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_the_checks_catch_planted_violations(tmp_path: Path) -> None:
    """A call-time cycle, a private reach-in, an engine importing payloads and a benchmark importing tests/ in planted
    trees are each found; imports for type checking and a package's own private modules are not faults."""
    root = _plant(
        tmp_path / "anonymizer",
        {
            "__init__.py": "from .engine import Session\n",
            "engine.py": (
                "from typing import TYPE_CHECKING\n"
                "from .restore import _SHAPES\n"
                "if TYPE_CHECKING:\n    from .stream import StreamRestorer\n"
                "class Session:\n    def payload(self):\n        from .payloads import anonymize_payload\n"
            ),
            "restore.py": "_SHAPES = 1\n",
            "stream.py": "from .engine import Session\n",
            "payloads/__init__.py": "from anonymizer.payloads._adapter import anonymize_payload\n",
            "payloads/_adapter.py": "import anonymizer.engine as engine\nanonymize_payload = engine.Session\n",
            "proxy/__init__.py": "from anonymizer.proxy import _app\n",
            "proxy/_app.py": "from anonymizer.payloads import _adapter as adapter\nx = adapter._helper\n",
        },
    )
    assert cycles(root) == [["anonymizer.engine", "anonymizer.payloads", "anonymizer.payloads._adapter"]]
    assert sorted(str(imp) for imp in private_reach_ins(root)) == [
        "anonymizer.engine (line 2, import time) -> anonymizer.restore._SHAPES",
        "anonymizer.proxy._app (line 1, import time) -> anonymizer.payloads._adapter",
        "anonymizer.proxy._app (line 2, import time) -> anonymizer.payloads._adapter._helper",
    ]
    assert [str(imp) for imp in core_reaching_up(root)] == [
        "anonymizer.engine (line 7, call time) -> anonymizer.payloads.anonymize_payload",
    ]
    repo = _plant(
        tmp_path / "repo",
        {
            "tests/tagless.py": "",
            "tests/cli/test_cli.py": "",
            "benchmarks/bench_a.py": "import sys\nfrom tagless import untag\nimport tests.cli.test_cli\n",
            "examples/ok.py": "from anonymizer import Anonymizer\n",
            "anonymizer/__init__.py": "",
        },
    )
    assert imports_of_tests(repo) == ["benchmarks/bench_a.py:2 tagless", "benchmarks/bench_a.py:3 tests.cli.test_cli"]
