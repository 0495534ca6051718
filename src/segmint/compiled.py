"""segmint's compiled core: which modules Cython builds, whether they were, and the pure-Python switch.

The real-time evaluator's hot modules (and the identity and value rules
they call per message) are plain Python. Beside each, a
``.pxd`` file gives Cython the static types (classes with C fields, typed
methods and locals); the ``.py`` file stays the one source of behaviour.
``pip install`` compiles them when Cython and a C compiler are there
(``setup.py``); without a compiler they run as the Python they are, with
the same results, slower (see benchmarks/README.md, "Segments (real time)").

``SEGMINT_PURE_PYTHON=1`` runs the Python source even where the compiled
modules are installed: to debug or profile them line by line, and for the
tests that check both builds give the same changes.

The compiled modules are used only while their sources are the ones they
were compiled from: the build records a digest of each ``.py`` and
``.pxd`` (``RECORD``), and if one changed since (say, edited in an editable
install) the whole core runs from its source, with a warning to reinstall.
An edit never silently runs old code. All or nothing, because the compiled
modules use each other's C types: one of them from source breaks the rest.

This module imports nothing of segmint: ``setup.py`` reads it before the
package is installed.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from functools import cache
from hashlib import sha256
from pathlib import Path
from types import ModuleType

PURE_ENV = "SEGMINT_PURE_PYTHON"
RECORD = Path(__file__).with_name("_compiled_sources.json")  # module -> digest of the source compiled

# Dependency order (a module's cimports come before it).
MODULES = (
    "segmint.segments.values",
    "segmint.segments.realtime.compare",
    "segmint.identity.graph",
    "segmint.identity.extract",
    "segmint.segments.realtime.timers",
    "segmint.segments.realtime.instants",
    "segmint.segments.realtime.state",
    "segmint.segments.realtime.leaves",
    "segmint.traits.realtime",
    "segmint.segments.realtime.plan",
    "segmint.segments.realtime.evaluator",
)


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def source_digest(source: Path) -> str:
    """What a compiled module was built from: its ``.py`` and the ``.pxd`` beside it, if any."""
    digest = sha256(source.read_bytes())
    types = source.with_suffix(".pxd")
    if types.is_file():
        digest.update(types.read_bytes())
    return digest.hexdigest()


def write_record(root: Path, record: Path) -> None:
    """Write the digests of the sources under ``root`` (the ``src`` folder) to ``record``.

    Called by setup.py once every module has compiled, into each place the package is built.
    """
    digests = {name: source_digest(root.joinpath(*name.split(".")).with_suffix(".py")) for name in MODULES}
    record.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")


def _source(name: str) -> Path:
    return Path(__file__).parent.parent.joinpath(*name.split(".")).with_suffix(".py")


def _built(name: str) -> bool:
    source = _source(name)
    return any(source.with_suffix(suffix).is_file() for suffix in importlib.machinery.EXTENSION_SUFFIXES)


@cache
def why_pure() -> str | None:
    """Why the compiled core runs from its Python source (None: it runs compiled).

    All or nothing: the compiled modules use each other's C types, so one
    module from source makes every one of them run from source.
    """
    if pure_requested():
        return f"{PURE_ENV} is set"
    missing = [name for name in MODULES if not _built(name)]
    if missing:
        return "not compiled" if len(missing) == len(MODULES) else f"not compiled: {', '.join(missing)}"
    try:
        recorded = json.loads(RECORD.read_text())
    except (OSError, ValueError):
        recorded = {}
    # A module without its source (stripped from an install) can only run compiled: trusted.
    changed = [name for name in MODULES
               if _source(name).is_file() and recorded.get(name) != source_digest(_source(name))]
    if changed:
        what = "changed since compiled" if recorded else "no record of a complete build"
        warnings.warn(f"segmint: {', '.join(changed)}: {what}; the real-time core runs as Python (slower) until "
                      "segmint is reinstalled (in a checkout: pip install -e .)", RuntimeWarning, stacklevel=3)
        return f"{what}: {', '.join(changed)}"
    return None


class _SourceFinder:
    """Imports the compiled-core modules from their ``.py`` when :func:`why_pure` says so.

    A meta path finder by protocol (``find_spec``): subclassing ``importlib.abc.MetaPathFinder``
    would import ``importlib.abc``, and with it ``importlib.resources``, at every start.
    """

    def find_spec(self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None,
                  ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES or why_pure() is None:
            return None
        return importlib.util.spec_from_file_location(fullname, _source(fullname))


def install_finder() -> None:
    """From now on, import the compiled core compiled, or from source as :func:`why_pure` decides (idempotent)."""
    if not any(isinstance(finder, _SourceFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())


def status() -> dict[str, bool]:
    """Each compiled-core module, and whether the imported one is compiled."""
    found = {}
    for name in MODULES:
        module = importlib.import_module(name)
        found[name] = not (module.__file__ or "").endswith(".py")
    return found


def summary() -> str:
    """One line for ``segmint --version``."""
    # The finder (installed by segmint/__init__.py) imports the extensions exactly when there is
    # no reason to run the source; status() checks what was imported, for the tests.
    reason = why_pure()
    if reason is None:
        return f"compiled core: yes ({len(MODULES)} modules, Cython)"
    hint = " (install a C compiler and reinstall to build it)" if reason == "not compiled" else ""
    return f"compiled core: no, pure Python: {reason}{hint}"
