"""Build hook: compile the optional ``anonymizer._speedups`` extension (the text stream's per-chunk fast path).

The package is complete without it: when there is no C compiler or no Python headers, or
``ANONYMIZER_PURE_PYTHON`` is set, the build goes on as pure Python with a warning, and ``anonymizer.stream``
runs its Python fast path (``anonymizer.stream.SPEEDUPS`` says which one runs).

An editable install compiles the module next to its source (``anonymizer/_speedups<EXT_SUFFIX>``, one file per
interpreter, so several virtualenvs can share a checkout); a wheel gets it and a platform tag.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = "anonymizer/_speedups.c"


class SpeedupsBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ""
        # an editable install imports the module from the source tree (where a module built before must not
        # outlive a build that does not make it); a wheel takes it from a directory of its own
        in_tree = root / "anonymizer" / f"_speedups{suffix}"
        if os.environ.get("ANONYMIZER_PURE_PYTHON", "") not in ("", "0"):
            self.app.display_info("anonymizer: ANONYMIZER_PURE_PYTHON is set, the speedups are not compiled")
            if version == "editable":
                in_tree.unlink(missing_ok=True)
            return
        if version == "editable":
            target = in_tree
        else:
            self._built = Path(tempfile.mkdtemp(prefix="anonymizer-build-"))
            target = self._built / in_tree.name
        try:
            _compile(root / SOURCE, target)
        except (OSError, subprocess.SubprocessError, ValueError) as exc:
            self.app.display_warning(f"anonymizer: the speedups were not compiled ({exc}); it runs as pure Python")
            if version == "editable":
                in_tree.unlink(missing_ok=True)
            return
        if version != "editable":
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
            build_data["force_include"][str(target)] = f"anonymizer/{target.name}"

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        built = getattr(self, "_built", None)
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)


def _compile(source: Path, target: Path) -> None:
    """Compile and link ``source`` into the extension module ``target`` with the interpreter's own compiler and
    flags (written to a temporary file first: the module is replaced whole or not at all)."""
    ldshared = sysconfig.get_config_var("LDSHARED")
    include = sysconfig.get_paths()["include"]
    if not ldshared or target.suffix not in (".so", ".pyd"):
        raise ValueError("this interpreter does not say how to build an extension module")
    if not (Path(include) / "Python.h").is_file():
        raise ValueError(f"no Python.h in {include} (install the Python development headers)")
    fd, tmp = tempfile.mkstemp(suffix=target.suffix, prefix="._speedups", dir=target.parent)
    os.close(fd)
    try:
        command = [
            *shlex.split(ldshared),
            *shlex.split(sysconfig.get_config_var("CCSHARED") or ""),
            "-O2",
            f"-I{include}",
            str(source),
            "-o",
            tmp,
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise ValueError(f"{command[0]} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
