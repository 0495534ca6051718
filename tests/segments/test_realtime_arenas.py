"""Python's object arenas on huge pages (segments/realtime/arenas.py, _arenas.c).

The allocator is process-wide and stays for the rest of the process, so
each check runs in a process of its own: that objects made after
``use_huge_pages()`` live in the advised regions, that arenas freed are
handed out again and arenas made before it are freed by the allocator that
made them, and that a replay answers exactly as it does on ordinary pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from segmint.demo import config_path, generate_shop
from segmint.segments.realtime import arenas

try:
    from segmint.segments.realtime import _arenas  # noqa: F401
    BUILT = True
except ImportError:
    BUILT = False

needs_build = pytest.mark.skipif(not BUILT, reason="the _arenas extension is built on Linux with a C compiler only")


def _run(script: str, **env: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_build
def test_objects_made_after_the_switch_live_in_advised_regions() -> None:
    observed = _run("""
import json, re
from segmint.segments.realtime import _arenas, arenas
reason = arenas.use_huge_pages()
objects = [[i] for i in range(300_000)]
size = _arenas.stats()["region_size"]
starts = _arenas.region_starts()
sample = objects[150_000::499]  # the first ones may fill arenas made before the switch
inside = sum(any(s <= id(o) < s + size for s in starts) for o in sample)
flags = []
for block in re.split(r"\\n(?=[0-9a-f]+-[0-9a-f]+ )", open("/proc/self/smaps").read()):
    if int(block.split("-")[0], 16) in starts:
        flags.append(next(line.split()[1:] for line in block.splitlines() if line.startswith("VmFlags")))
print(json.dumps({"reason": reason, "inside": inside, "sampled": len(sample), "regions": len(starts),
                  "flags": flags, "stats": _arenas.stats()}))
""", SEGMINT_HUGE_PAGES="1")
    assert observed["reason"] == arenas.why_not()
    if observed["reason"] is not None:  # THP off on this system: nothing may change
        assert observed["regions"] == 0 and not observed["stats"]["installed"]
        return
    assert observed["stats"]["installed"] and observed["regions"] >= 1
    assert observed["inside"] == observed["sampled"], observed  # every one, once older arenas are full
    # Each region is one mapping advised for huge pages ("hg"): the kernel's part is to back it.
    assert len(observed["flags"]) == observed["regions"] and all("hg" in f for f in observed["flags"]), observed


@needs_build
def test_freed_arenas_are_reused_and_older_ones_freed_by_their_maker() -> None:
    observed = _run("""
import gc, json
from segmint.segments.realtime import _arenas
before = [[i] for i in range(200_000)]  # arenas from CPython's own allocator
_arenas.install()
mine = [[i] for i in range(200_000)]
first = _arenas.stats()
del before, mine
gc.collect()
freed = _arenas.stats()
again = [[i] for i in range(200_000)]
print(json.dumps({"first": first, "freed": freed, "again": _arenas.stats(), "sum": sum(x[0] for x in again)}))
""")
    first, freed, again = observed["first"], observed["freed"], observed["again"]
    assert first["handed_out"] > 0 and first["reused"] == 0
    assert freed["free"] > 0  # pymalloc gave arenas back: kept, not unmapped
    assert freed["handed_back"] > first["handed_back"]  # those from before went back to their maker
    # The same need again is met from the arenas kept: no new region, at most one new arena.
    assert again["reused"] > 0 and again["regions"] == first["regions"]
    assert again["handed_out"] <= first["handed_out"] + 1
    assert observed["sum"] == sum(range(200_000))


def test_the_switch_names_why_it_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(arenas.HUGE_ENV, "0")
    assert arenas.why_not() == f"{arenas.HUGE_ENV} is off"
    assert arenas.use_huge_pages() == f"{arenas.HUGE_ENV} is off"
    assert arenas.summary() == f"huge pages for the real-time state: no ({arenas.HUGE_ENV} is off)"
    monkeypatch.delenv(arenas.HUGE_ENV)
    if not BUILT:
        assert "not built" in (arenas.why_not() or "")
        return
    setting = tmp_path / "enabled"
    monkeypatch.setattr(arenas, "THP_SETTING", setting)
    assert "unreadable" in (arenas.why_not() or "")
    setting.write_text("always madvise [never]\n")
    assert "off on this system" in (arenas.why_not() or "")
    for mode in ("always [madvise] never\n", "[always] madvise never\n"):
        setting.write_text(mode)
        assert arenas.why_not() is None
        assert arenas.summary() == "huge pages for the real-time state: yes"


def test_a_replay_on_huge_pages_answers_as_on_ordinary_pages(tmp_path: Path) -> None:
    shop = generate_shop(tmp_path / "shop", customers=120, seed=3)
    command = [sys.executable, "-m", "segmint.cli.main", "replay", str(shop.events_path), "--as-of",
               "2026-01-01T00:00:00Z", "--config", str(config_path()), "--db", str(tmp_path / "none.duckdb"),
               "--format", "json"]
    answers = {}
    for switch in ("1", "0"):
        done = subprocess.run(command, env={**os.environ, arenas.HUGE_ENV: switch}, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr
        answers[switch] = json.loads(done.stdout)
    assert answers["1"] == answers["0"]
    assert sum(map(len, answers["1"].values())) > 20, answers["1"]  # a replay with members, not an empty one
