"""Python's object arenas on huge pages, in processes that keep an evaluator (``replay``, ``serve``).

The evaluator's state is millions of small Python objects (profiles,
their logs, lists and dicts), and each message or wake-up visits one
profile's objects, which nothing has touched for a while: the replay waits
on memory more than it computes (benchmarks/README.md). On the default
4 KiB pages, nearly every such visit also misses the TLB, and the page
walk that follows misses the cache again.

:func:`use_huge_pages` has CPython's small-object allocator (pymalloc)
take its arenas from 2 MiB-aligned regions that the kernel backs with
2 MiB transparent huge pages (``_arenas.c``, a C extension built with the
compiled core): a 1.5 GB state is 750 pages to translate instead of
375,000. Process-wide, from the call on, for the rest of the process;
results are the same either way, only where the objects live changes.

Nothing changes where it cannot help or is not wanted, and
:func:`use_huge_pages` says why:

- ``SEGMINT_HUGE_PAGES=0`` (to compare, or to rule it out);
- the extension was not built (no C compiler at install; not Linux);
- the system's transparent huge pages are ``never``
  (``/sys/kernel/mm/transparent_hugepage/enabled``; ``madvise``, the
  usual default, is enough: the regions are advised).

Costs: memory is committed 2 MiB at a time as the regions fill (at most
one partly used huge page per arena in use), and an arena pymalloc frees
is kept for its next one rather than returned to the system (returning
part of a huge page would split it), as glibc's malloc keeps its heap.
"""

from __future__ import annotations

import os
from pathlib import Path

HUGE_ENV = "SEGMINT_HUGE_PAGES"
THP_SETTING = Path("/sys/kernel/mm/transparent_hugepage/enabled")


def why_not() -> str | None:
    """Why :func:`use_huge_pages` would change nothing here (None: it would take effect)."""
    if os.environ.get(HUGE_ENV, "").strip().lower() in ("0", "false", "no", "off"):
        return f"{HUGE_ENV} is off"
    try:
        from segmint.segments.realtime import _arenas  # noqa: F401 - built with the compiled core
    except ImportError:
        return "not built (needs Linux and a C compiler at install)"
    try:
        setting = THP_SETTING.read_text()
    except OSError:
        return f"no transparent huge pages on this system ({THP_SETTING} unreadable)"
    if "[never]" in setting:
        return f"transparent huge pages are off on this system ({THP_SETTING}: never)"
    return None


def summary() -> str:
    """One line for ``segmint --version``, the demo and the benchmark."""
    reason = why_not()
    return "huge pages for the real-time state: " + ("yes" if reason is None else f"no ({reason})")


def use_huge_pages() -> str | None:
    """From now on, pymalloc's new arenas come from huge-page regions (idempotent).

    Returns None when they do, else why not (:func:`why_not`).
    """
    reason = why_not()
    if reason is None:
        from segmint.segments.realtime import _arenas

        _arenas.install()
    return reason

