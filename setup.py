"""Builds segmint's compiled core when it can; everything else is in pyproject.toml.

The modules of ``segmint.compiled.MODULES`` are compiled by Cython, typed by
the ``.pxd`` beside each. Without a C compiler (or if a build fails) the
install goes on and those modules run as the Python they are: same results,
slower. ``segmint --version`` says which one is installed.
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

    Modules compile in parallel, one per core (a minute on one core, for the install's critical path).
    """

    def finalize_options(self) -> None:
        super().finalize_options()
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - no compiler at all: the pure modules remain
            _warn(f"compiled core not built ({error})")

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as error:  # noqa: BLE001 - one module failed: it stays pure
            _warn(f"{ext.name} not compiled ({error})")


def extensions() -> list[Extension]:
    try:
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []
    modules = [Extension(name, [str(Path("src", *name.split(".")).with_suffix(".py"))]) for name in MODULES]
    COMPILED["record_sources"](ROOT / "src")  # what is compiled; a later edit makes segmint run the source
    try:
        return cythonize(modules, compiler_directives=DIRECTIVES, quiet=True)
    except Exception as error:  # noqa: BLE001 - a translation error: install the pure modules
        _warn(f"Cython could not translate the core ({error})")
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
