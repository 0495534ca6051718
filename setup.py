"""Builds segmint's compiled core when it can; everything else is in pyproject.toml.

The modules of ``segmint.compiled.MODULES`` are compiled by Cython, typed by
the ``.pxd`` beside each. Without a C compiler (or if a build fails) the
install goes on and those modules run as the Python they are: same results,
slower. ``segmint --version`` says which one is installed.

Beside the core, on Linux, one plain C extension: ``_arenas``, which puts
Python's object arenas on huge pages (``segments/realtime/arenas.py``). It
builds or fails on its own; without it nothing but speed changes.
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent
COMPILED = runpy.run_path(str(ROOT / "src" / "segmint" / "compiled.py"))
MODULES = COMPILED["MODULES"]
ARENAS = "segmint.segments.realtime._arenas"  # a C extension beside the core, not part of it
DIRECTIVES = {
    "language_level": 3,
    # Only the .pxd files type anything: annotations in the .py files keep their Python meaning
    # (Cython would otherwise read ``x: float`` as a C double and ``x: int`` as an exact int).
    "annotation_typing": False,
    "binding": False,
}


def _warn(message: str) -> None:
    print(f"segmint: {message}; the real-time evaluator runs as pure Python (slower, same results)",
          file=sys.stderr)


class OptionalBuildExt(build_ext):
    """A failed build leaves the pure-Python module in place instead of failing the install.

    Modules compile in parallel, one per core (a minute on one core, for the install's critical
    path). The record of the sources compiled (``segmint/_compiled_sources.json``) is removed
    first and written only once every module has built: a failed rebuild must not vouch for
    extensions left over from an earlier one (segmint then runs the whole core as Python).
    """

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def _records(self) -> list[Path]:
        """Where the record goes: the build's copy of the package, and the sources when built in place."""
        record = Path(*COMPILED["RECORD"].parts[-2:])  # segmint/_compiled_sources.json
        places = [Path(self.build_lib) / record]
        if self.inplace or getattr(self, "editable_mode", False):
            places.append(ROOT / "src" / record)
        return places

    def run(self) -> None:
        for record in self._records():
            record.unlink(missing_ok=True)
        self._failed = not any(ext.name in MODULES for ext in self.extensions)
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - no compiler at all: the pure modules remain
            self._failed = True
            _warn(f"compiled core not built ({error})")
        if not self._failed:
            for record in self._records():
                record.parent.mkdir(parents=True, exist_ok=True)
                COMPILED["write_record"](ROOT / "src", record)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001 - one module failed: the whole core stays pure
            if ext.name == ARENAS:  # on its own: without it, arenas stay on ordinary pages
                print(f"segmint: {ARENAS} not built ({error}); Python's arenas stay on 4 KiB pages",
                      file=sys.stderr)
                return
            self._failed = True
            _warn(f"{ext.name} not compiled ({error})")


def extensions() -> list[Extension]:
    # Huge pages for Python's arenas (segments/realtime/arenas.py): plain C, Linux only.
    huge = [Extension(ARENAS, [str(Path("src", *ARENAS.split("."))) + ".c"])] if sys.platform == "linux" else []
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return huge
    modules = [Extension(name, [str(Path("src", *name.split(".")).with_suffix(".py"))]) for name in MODULES]
    try:
        core = cythonize(modules, compiler_directives=DIRECTIVES, quiet=True)
    except Exception as error:  # noqa: BLE001 - a translation error: install the pure modules
        _warn(f"Cython could not translate the core ({error})")
        return huge
    return core + huge


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
