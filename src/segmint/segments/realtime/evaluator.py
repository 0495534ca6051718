"""The real-time segment evaluator: messages in any order, a clock that moves forward.

    evaluator = RealtimeEvaluator(load_segments(config.segments), config.identity, start=now)
    changes = evaluator.feed(rows)      # rows of the store's `events` table
    changes += evaluator.advance(later) # what time alone changes, each at its instant

Semantics (shared/spec/segments.md): at the clock's instant only messages
with ``event_time <= now`` exist. A message from the future is held until
the clock reaches it; a late one (older than the clock) counts exactly as
it would have in order, and its identity link is placed where it belongs
in time. Memberships change when a message arrives, and when time alone
moves a ``within`` window past an event or a ``not_followed_by`` deadline
passes; :meth:`advance` emits every such change at its exact instant.

How (see ``state.py``, ``leaves.py``, ``plan.py``, ``timers.py``):

- state is kept per identifier (the primary id of each message), and a
  profile is evaluated over the states of its identifiers, so identity
  merges and re-splits move no state;
- a message re-evaluates only the leaves of the logs it fed (routes are
  indexed by event name; an ``identify`` touches only the trait leaves of
  the keys it sets; a link only the profiles it merges or splits), and a
  segment is recomputed only when one of its leaves or referenced segments
  changed;
- each leaf knows the next instant time alone could flip it; a profile is
  scheduled at the earliest of those.

Changes are computed per instant: everything that happens at one instant
(messages, deadlines) is applied, then each touched profile's memberships
are compared with what they were before that instant. A change caused by a
late message is stamped with the clock's instant, when it became known.
"""

from __future__ import annotations

import heapq
import pickle
from bisect import insort
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson

from segmint.config.model import IdentityConfig
from segmint.errors import NotFoundError, SegmintError
from segmint.identity.extract import message_ids
from segmint.identity.graph import IdentityGraph, IdKey, Link
from segmint.segments.changes import Change, Memberships
from segmint.segments.parse import LoadedSegments
from segmint.segments.realtime.explain import explain_condition
from segmint.segments.realtime.instants import EPOCH, instant, micros
from segmint.segments.realtime.plan import SNAPSHOT_FORMAT, Plan, Route, compile_plan
from segmint.segments.realtime.state import IdState, SequenceSlot, stamp
from segmint.segments.realtime.timers import NEVER, Schedule, Scheduled, due, earliest, new_dues, passed, set_due

try:
    import cython

    BUILD = "compiled" if cython.compiled else "pure Python"  # a constant when Cython compiles this module
except ImportError:  # Cython is only needed to build the compiled core
    BUILD = "pure Python"

BEFORE = -(1 << 62)  # the clock of an evaluator created without `start`: nothing exists yet
# A Change built without its named tuple's Python-level __new__ (a frame per change: ~one per message).
_change = tuple.__new__


class SnapshotError(SegmintError):
    """A snapshot cannot be restored: not one, another format, or other definitions.

    The caller rebuilds the evaluator from the store by feeding all events.
    """


def _latest_first(entry: tuple[int, int, int, dict[str, Any]]) -> tuple[int, int, int]:
    return -entry[0], -entry[1], -entry[2]


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, (str, bytes)) else value


def _json_with(value: Any, quoted: tuple[str, ...]) -> Any:
    """``value`` parsed, or None when its text cannot hold any of the ``quoted`` keys.

    A key is in JSON text either literally in quotes or written with an
    escape, which needs a backslash: without both, it is certainly absent.
    """
    if value.__class__ is str:
        for q in quoted:
            if q in value:
                return orjson.loads(value)
        return orjson.loads(value) if "\\" in value else None
    return _json(value)


def _among(state: IdState, states: list[IdState]) -> bool:
    for other in states:
        if other is state:
            return True
    return False


def _empty(state: IdState) -> bool:
    """Whether an identifier holds nothing a leaf reads: no log filled, no trait."""
    if state.traits:
        return False
    for log in state.logs:
        if log is not None:
            return False
    return True


class Profile(Scheduled):
    """One resolved profile's cached verdicts: leaves, segments, timers."""

    __slots__ = ("changed", "dirty", "dues", "fresh", "id", "keys", "leaves", "segments", "states")

    def __init__(self, profile_id: str, keys: list[IdKey], states: list[IdState], plan: Plan) -> None:
        Scheduled.__init__(self)               # not waiting (due NEVER), alive
        self.id = profile_id
        self.keys = keys                      # its identifiers that have messages of their own
        self.states = states
        self.leaves = list(plan.default_leaves)
        self.segments = plan.default_segments  # replaced on change, never mutated
        self.dues = new_dues(len(self.leaves))  # per leaf, the next instant time alone may flip it
        self.fresh = True                      # created since the last instant was settled
        self.dirty: set[int] = set()           # leaves to re-evaluate
        self.changed: list[int] = []           # leaves already updated in place, segments to follow


class RealtimeEvaluator:
    """Incremental evaluation of every usable segment; see the module docstring."""

    def __init__(self, segments: LoadedSegments, identity: IdentityConfig, start: datetime | None = None) -> None:
        plan = self._plan = compile_plan(segments, identity)
        # The plan's parts the per-message path reads, as fields of their own (typed where
        # compiled: a C field read each, against an attribute lookup on the plan).
        self._routes, self._parsed = plan.routes, plan.parsed
        self._trait_leaves, self._expiring = plan.traits, plan.expiring
        self._names, self._leaves, self._formulas = plan.names, plan.leaves, plan.formulas
        self._segments_of_leaf, self._dependents = plan.segments_of_leaf, plan.dependents
        self._identity = identity
        self._clock = micros(start) if start is not None else BEFORE
        self._graph = IdentityGraph(identity.limits, identity.max_ids)
        self._links: dict[tuple[IdKey, IdKey], int] = {}  # first appearance (stamp) of each link
        self._ids: dict[IdKey, IdState] = {}
        self._profile_of: dict[IdKey, Profile] = {}
        self._by_id: dict[str, Profile] = {}
        self._members: list[set[str]] = [set() for _ in self._plan.names]
        self._index = {name: i for i, name in enumerate(self._plan.names)}
        # Messages from the future, (time, seq, tick, row), sorted latest first: the next one to
        # become visible is popped from the end. Replaying a stream, every message passes through
        # here; one sort per fed batch and O(1) pops: 0.13 us a message, against 0.33 us for a
        # heap push and pop each (500-message batches, 2 % late).
        self._held: list[tuple[int, int, int, dict[str, Any]]] = []
        self._tick = 0
        self._schedule = Schedule()
        self._touched: dict[Profile, None] = {}  # an ordered set
        self._untouched: dict[Profile, None] = {}  # the other one, empty (_settle uses the two in turn)
        self._stamped_at, self._stamped = BEFORE, EPOCH  # the last instant made a datetime, and that datetime
        # The JSON columns configured identifiers read, and the first key each path takes there.
        roots: dict[str, set[str]] = {}
        for identifier in identity.identifiers.values():
            for path in identifier.paths:
                root, _, rest = path.partition(".")
                roots.setdefault(root, set()).add(orjson.dumps(rest.split(".")[0]).decode())
        self._id_roots = tuple((root, tuple(sorted(keys))) for root, keys in sorted(roots.items()))

    def __del__(self) -> None:
        # Identifier states point to their profiles and profiles to their states: cut those
        # links so that reference counting frees the state, as it frees everything else the
        # evaluator drops (replay and serve freeze the heap out of the cyclic collector's walks).
        ids = getattr(self, "_ids", None)
        if ids:
            for state in ids.values():
                state.profile = None

    # ---- time and messages -------------------------------------------------------

    @property
    def clock(self) -> datetime | None:
        return None if self._clock == BEFORE else instant(self._clock)

    @property
    def fingerprint(self) -> str:
        """Identifies the definitions and identity rules a snapshot is valid for."""
        return self._plan.fingerprint

    def feed(self, rows: Iterable[dict[str, Any]]) -> list[Change]:
        """Take in messages; return the changes they cause now (future ones are held)."""
        clock, held = self._clock, self._held
        future = len(held)
        for row in rows:
            at = micros(row["event_time"])
            if at > clock:
                self._tick += 1
                held.append((at, row["seq"], self._tick, row))
            else:
                self._apply(row, at)
        added = len(held) - future
        if added:
            if future and added < 8:  # a few into many (one message a call): O(log n) each, as a heap
                new = held[future:]
                del held[future:]
                for entry in new:
                    insort(held, entry, key=_latest_first)
            else:
                held.sort(reverse=True)  # ticks are unique: rows are never compared
        return self._settle(clock)

    def advance(self, now: datetime) -> list[Change]:
        """Move the clock to ``now`` (an earlier instant is ignored: time never goes back).

        Returns, in time order, every change on the way: held messages
        becoming visible, windows sliding past events, deadlines passing.
        """
        target, held, schedule = micros(now), self._held, self._schedule
        changes: list[Change] = []
        while True:
            at = first_held = held[-1][0] if held else NEVER
            # The earliest scheduled instant, valid or not: an instant whose entries all went
            # stale costs one turn of this loop, which is cheaper than checking the top entry's
            # profile on every turn, one per message (as Schedule.next_at does).
            timer = schedule.first()
            if timer < at:
                at = timer
            if at > target:  # NEVER included: every instant is before it
                break
            self._clock = at
            while first_held == at:  # a C comparison where compiled (at is NEVER when none is held)
                self._apply(held.pop()[3], at)
                first_held = held[-1][0] if held else NEVER
            if timer == at:
                touched, expiring = self._touched, self._expiring
                for profile in schedule.take(at):  # every profile due now (stale entries skipped)
                    if not profile.alive or profile.due != at:
                        continue
                    profile.due = NEVER
                    dues, expired, marked = profile.dues, False, False
                    for leaf in passed(dues, at):
                        if leaf in expiring:
                            # A "performed X within W" whose due passed: its latest event left
                            # the window, so its value is known without evaluating it (three
                            # wake-ups in five in the real-time benchmark).
                            set_due(dues, leaf, NEVER)
                            expired = True
                            values = profile.leaves
                            if values[leaf] != expiring[leaf]:
                                values[leaf] = expiring[leaf]
                                profile.changed.append(leaf)
                        else:
                            # The dirty set only when a leaf needs it: a wake-up that only
                            # expires leaves never reads it (one cache miss less: this loop
                            # waits on memory, a profile's objects are cold by its due).
                            profile.dirty.add(leaf)
                            marked = True
                    if expired or marked:
                        touched[profile] = None
                    else:  # woken early (a due moved later): sleep again, if anything is due
                        later = earliest(dues)
                        if later != NEVER:
                            schedule.want(profile, later)
            if self._touched:
                changes += self._settle(at)
        self._clock = max(self._clock, target)
        return changes

    def _instant(self, now: int) -> datetime:
        if now != self._stamped_at:
            self._stamped_at, self._stamped = now, instant(now)
        return self._stamped

    def next_instant(self) -> datetime | None:
        """The earliest instant at which time alone may change something (None: none pending)."""
        at = self._held[-1][0] if self._held else None
        timer = self._schedule.next_at()
        if timer is not None and (at is None or timer < at):
            at = timer
        return None if at is None else instant(at)

    def _apply(self, row: dict[str, Any], at: int) -> None:
        """One visible message: identity first, then the logs it feeds."""
        user, anonymous = row.get("user_id"), row.get("anonymous_id")
        if user is not None:
            primary: IdKey = ("user_id", user)
        elif anonymous is not None:
            primary = ("anonymous_id", anonymous)
        else:
            return  # nobody to count it for (ingestion refuses such messages)
        seq, kind = row["seq"], row.get("type")
        properties = traits = None
        carried: list[IdKey] = []
        if self._id_roots:
            parsed: dict[str, Any] = {}
            for root, quoted in self._id_roots:
                found = _json_with(row.get(root), quoted)
                if found is not None:
                    parsed[root] = found
            if parsed:  # a configured identifier may be there
                properties, traits = parsed.get("properties"), parsed.get("traits")
                parsed.update(user_id=user, anonymous_id=anonymous, type=kind, previous_id=row.get("previous_id"))
                carried = message_ids(parsed, self._identity)[1]
        if not carried:
            if user is not None and anonymous is not None:
                carried.append(("anonymous_id", anonymous))
            if kind == "alias" and row.get("previous_id") is not None:
                carried.append(("anonymous_id", row["previous_id"]))
        state = self._ids.get(primary)
        if state is None:
            graph = self._graph
            earlier = primary in graph and (at, seq) < graph.first_seen(primary)
            graph.observe(primary, at, seq)
            if earlier:
                self._may_rename(primary)
            state = self._ids[primary] = IdState(self._plan.slot_count, at, seq)
            self._join(primary, state)
        elif at < state.first_at or (at == state.first_at and seq < state.first_seq):
            # A late message: the first sighting may move earlier.
            state.first_at, state.first_seq = at, seq
            graph = self._graph
            if (at, seq) < graph.first_seen(primary):
                graph.observe(primary, at, seq)
                self._may_rename(primary)
        if carried:
            self._carry(primary, state, carried, at, seq)
        profile = state.profile
        if kind == "track":
            event = row.get("event")
            routes = self._routes.get(event)  # type: ignore[arg-type]
            if routes:
                if properties is None and event in self._parsed:  # else nothing reads them
                    properties = _json(row.get("properties"))
                self._track(profile, state, routes, at, seq, properties)
        elif kind == "identify" and self._trait_leaves:
            self._identify(profile, state, at, seq, _json(row.get("traits")) if traits is None else traits)
        if profile.dirty or profile.changed:
            self._touched[profile] = None  # else nothing it reads changed (a page, an unused event)

    def _carry(self, primary: IdKey, state: IdState, carried: list[IdKey], at: int, seq: int) -> None:
        """The links a message makes from its primary id to the identifiers it carries."""
        links, mark = self._links, stamp(at, seq)
        for key in carried:
            if key == primary:
                continue
            if key == state.linked and state.linked_mark <= mark:
                continue  # this identifier again, after the link's known first appearance
            pair = (primary, key) if primary < key else (key, primary)
            known = links.get(pair)
            # Only a link's first appearance matters: resolution only ever joins, so a
            # link refused once stays refused and one accepted once is a no-op later.
            if known is None or mark < known:
                links[pair] = known = mark
                self._link(primary, key, at, seq)
            state.linked, state.linked_mark = key, known

    def _track(self, profile: Profile, state: IdState, routes: list[Route], at: int, seq: int,
               properties: Any) -> None:
        """A track event into the logs it matches; the leaves it may change, marked or decided."""
        dirty, values, dues, now = profile.dirty, profile.leaves, profile.dues, self._clock
        for route in routes:
            if route.test is not None and not route.test.holds(properties):
                continue
            for slot in route.slots:
                if not slot.take(state, at, seq, properties, now):
                    continue
                for leaf, unmoved in slot.leaves:
                    if values[leaf] != unmoved:
                        dirty.add(leaf)
                if slot.__class__ is SequenceSlot and slot.follows:  # followed_by, all history
                    sequence = slot
                    for leaf in sequence.follows:
                        if not values[leaf] and leaf not in dirty and sequence.pairs(profile.states, at, seq,
                                                                                     properties):
                            values[leaf] = True
                            profile.changed.append(leaf)
                if slot.counts:  # all-history counts: decided by the total alone
                    index, total = slot.index, 0
                    for member in profile.states:
                        log = member.logs[index]
                        if log is not None:
                            total += log.n
                    for leaf, test in slot.counts:
                        value = test.at(total)[0]
                        if values[leaf] != value:
                            values[leaf] = value
                            profile.changed.append(leaf)
                for leaf, gap, window in slot.deadlines:  # not_followed_by, a new A
                    deadline = at + gap
                    if deadline <= now:
                        dirty.add(leaf)  # a late A, its deadline passed: may be abandoned now
                    elif not values[leaf] and (not window or gap < window):
                        if deadline < due(dues, leaf):
                            set_due(dues, leaf, deadline)
                            self._schedule.want(profile, deadline)
                for leaf, window, wanted in slot.quick:
                    # "performed within": known from this event alone, until at + window
                    until = at + window
                    if until > now:
                        if values[leaf] != wanted:
                            values[leaf] = wanted
                            profile.changed.append(leaf)
                        current = due(dues, leaf)
                        if current == NEVER:
                            set_due(dues, leaf, until)
                            self._schedule.want(profile, until)
                        elif until > current:
                            set_due(dues, leaf, until)  # later: an earlier wake-up finds it and sleeps again

    def _identify(self, profile: Profile, state: IdState, at: int, seq: int, traits: Any) -> None:
        """The traits an identify sets, for the trait conditions that read them."""
        if isinstance(traits, dict):
            for name, leaves in self._trait_leaves.items():
                if name in traits and state.set_trait(name, at, seq, traits[name]):
                    profile.dirty.update(leaves)

    # ---- identity ------------------------------------------------------------------

    def _join(self, key: IdKey, state: IdState) -> None:
        """``key`` has its first message: add it to its profile, or make one."""
        profile = self._profile_of.get(key)
        if profile is not None:
            profile.keys.append(key)
            profile.states.append(state)
            state.profile = profile
            return
        profile = Profile(self._graph.profile_id(key), [key], [state], self._plan)
        state.profile = profile
        for member in self._graph.component(key):
            self._profile_of[member] = profile
        self._by_id[profile.id] = profile
        self._touched[profile] = None

    def _link(self, a: IdKey, b: IdKey, at: int, seq: int) -> None:
        """A new link, or an earlier appearance of a known one: re-resolve the profiles it touches."""
        graph = self._graph
        before = self._profiles_in([m for k in (a, b) if k in graph for m in graph.cluster_keys(k)])
        graph.link(Link(at, seq, a, b))
        self._resolve(graph.cluster_keys(a), before)

    def _may_rename(self, key: IdKey) -> None:
        """An earlier first sighting of ``key`` may change its profile's id."""
        profile = self._profile_of.get(key)
        if profile is not None and self._graph.profile_id(key) != profile.id:
            keys = self._graph.cluster_keys(key)
            self._resolve(keys, self._profiles_in(keys), force=True)

    def _filled(self, states: list[IdState]) -> set[int]:
        """The leaves that read something in these states (the others have their empty value)."""
        plan, leaves = self._plan, set[int]()
        for state in states:
            for slot, log in enumerate(state.logs):
                if log is not None:
                    leaves.update(plan.leaves_of_slot[slot])
            for name in state.traits:
                leaves.update(plan.traits.get(name, ()))
        return leaves

    def _heir(self, before: set[Profile], states: list[IdState]) -> Profile | None:
        """A replaced profile whose verdicts a new one with these ``states`` can take over, if any.

        One whose identifiers all stay together while the new one's other
        identifiers hold nothing yet: the usual merge, a visitor's first
        message as a user carrying the anonymous id it browsed with. The new
        profile reads the same logs and traits, so every leaf, due and pending
        re-evaluation of the old one holds for it (re-evaluating them was a
        tenth of all leaf evaluations in the real-time benchmark).
        """
        for old in before:
            kept = True
            for state in old.states:
                if not _among(state, states):
                    kept = False
                    break
            if not kept:
                continue
            for state in states:
                if not _among(state, old.states) and not _empty(state):
                    break
            else:
                return old
        return None

    def _profiles_in(self, keys: list[IdKey]) -> set[Profile]:
        return {p for k in keys if (p := self._profile_of.get(k)) is not None}

    def _resolve(self, keys: list[IdKey], before: set[Profile], force: bool = False) -> None:
        """Rebuild the profiles of a cluster; keep those whose identifiers and id did not change."""
        graph, ids, profile_of = self._graph, self._ids, self._profile_of
        kept: set[Profile] = set()
        made: list[Profile] = []
        done: set[IdKey] = set()
        for key in keys:
            if key in done:
                continue
            component = graph.component(key)
            done.update(component)
            primaries = sorted([m for m in component if m in ids])  # a list: no closure in compiled code
            if not primaries:  # identifiers without messages of their own are no profile
                for member in component:
                    profile_of.pop(member, None)
                continue
            profile_id = graph.profile_id(key)
            old = profile_of.get(primaries[0])
            if not force and old is not None and old.alive and old.id == profile_id and sorted(old.keys) == primaries:
                kept.add(old)
                profile = old
            else:
                profile = Profile(profile_id, primaries, [ids[m] for m in primaries], self._plan)
                heir = self._heir(before, profile.states)
                if heir is not None:  # the same data: its verdicts, dues and pending work hold
                    profile.leaves = list(heir.leaves)
                    profile.segments = heir.segments
                    profile.dues = heir.dues[:]
                    profile.dirty.update(heir.dirty)
                    profile.changed.extend(heir.changed)
                    first = earliest(profile.dues)
                    if first != NEVER:  # its entry must be at or before every due it has (see _evaluate)
                        self._schedule.want(profile, first)
                else:
                    profile.dirty.update(self._filled(profile.states))
                made.append(profile)
            for member in component:
                profile_of[member] = profile
            for state in profile.states:
                state.profile = profile
        for old in before - kept:
            old.alive = False
            self._touched[old] = None
            if self._by_id.get(old.id) is old:
                del self._by_id[old.id]
        for profile in made:
            self._by_id[profile.id] = profile
            self._touched[profile] = None

    # ---- settling an instant -------------------------------------------------------

    def _settle(self, now: int) -> list[Change]:
        """Re-evaluate what this instant touched; the changes, against the last instant."""
        touched = self._touched
        if not touched:
            return []
        # Two dicts in turn, emptied after use: none made per instant (one settle per instant).
        self._touched, self._untouched = self._untouched, touched
        try:
            if len(touched) == 1:  # the usual case: one message, or one profile's deadline
                (profile,) = touched
                if profile.alive and not profile.fresh:
                    flipped = self._evaluate(profile, now)
                    return self._flips(now, profile, flipped) if flipped else []
            pre: dict[str, list[bool]] | None = None  # made only when a profile ends or begins
            post: dict[str, list[bool]] | None = None
            changes: list[Change] = []
            for profile in touched:
                if not profile.alive:
                    if not profile.fresh:
                        if pre is None:
                            pre = {}
                        pre[profile.id] = profile.segments
                    continue
                flipped = self._evaluate(profile, now)
                if profile.fresh:
                    profile.fresh = False
                    if post is None:
                        post = {}
                    post[profile.id] = profile.segments
                elif flipped:
                    changes += self._flips(now, profile, flipped)
            if pre is not None or post is not None:
                changes += self._diff(now, pre or {}, post or {})
            changes.sort()
            return changes
        finally:
            touched.clear()

    def _flips(self, now: int, profile: Profile, flipped: list[int]) -> list[Change]:
        """The changes of a profile whose segments ``flipped`` (ordered by segment name)."""
        at = self._stamped if now == self._stamped_at else self._instant(now)
        names, members, profile_id, segments = self._names, self._members, profile.id, profile.segments
        changes = []
        for j in sorted(flipped, key=names.__getitem__) if len(flipped) > 1 else flipped:
            entered = segments[j]
            changes.append(_change(Change, (at, names[j], profile_id, entered)))
            if entered:
                members[j].add(profile_id)
            else:
                members[j].discard(profile_id)
        return changes

    def _diff(self, now: int, pre: dict[str, list[bool]], post: dict[str, list[bool]]) -> list[Change]:
        """Changes between memberships before (absent: none) and after, by profile id."""
        at, names, members, changes = self._instant(now), self._names, self._members, []
        nothing = [False] * len(names)
        for profile_id in pre.keys() | post.keys():
            old, new = pre.get(profile_id, nothing), post.get(profile_id, nothing)
            if old == new:
                continue  # rebuilt with the memberships it had (most merges and splits)
            for i, name in enumerate(names):
                is_in = new[i]
                if old[i] != is_in:
                    changes.append(_change(Change, (at, name, profile_id, is_in)))
                    if is_in:
                        members[i].add(profile_id)
                    else:
                        members[i].discard(profile_id)
        return changes

    def _evaluate(self, profile: Profile, now: int) -> list[int]:
        """Dirty leaves, then the segments of every changed leaf; then the next wake-up.

        Returns the segments whose membership flipped.
        """
        changed, dues = profile.changed, profile.dues
        first = NEVER  # the earliest due set here
        if profile.dirty:
            leaves, values, states = self._leaves, profile.leaves, profile.states
            for i in profile.dirty:
                leaf = leaves[i]
                value, when = leaf.evaluate(states, now)
                if when is None:
                    set_due(dues, i, NEVER)
                else:
                    wake = when  # a C integer where compiled: the comparisons below make no Python int
                    if wake <= now:  # would wake at this very instant forever
                        raise RuntimeError(f"leaf {i} ({leaf!r}) asked to wake at {wake}, not after {now}")
                    if due(dues, i) != wake:
                        set_due(dues, i, wake)
                        if wake < first:
                            first = wake
                if value != values[i]:
                    values[i] = value
                    changed.append(i)
            profile.dirty.clear()
        if changed:
            flipped = self._recompute(profile, changed)
            changed.clear()  # the same list: none made per evaluation
        else:
            flipped = []
        # A scheduled profile's entry is at or before every due it had (dues removed or moved
        # later leave it early: it wakes, finds nothing, sleeps again); only a new earlier due,
        # or no entry at all, needs one.
        if profile.due == NEVER:
            first = earliest(dues)
            if first != NEVER:
                self._schedule.want(profile, first)
        elif first < profile.due:
            self._schedule.want(profile, first)
        return flipped

    def _recompute(self, profile: Profile, changed: list[int]) -> list[int]:
        """Segments reading the changed leaves, then those referencing flipped segments.

        Returns the segments that flipped; ``profile.segments`` is replaced, not mutated.
        """
        by_leaf = self._segments_of_leaf
        if len(changed) == 1:
            first = by_leaf[changed[0]]
        else:
            first = tuple(sorted({s for leaf in changed for s in by_leaf[leaf]}))
        if not first:
            return []
        current = values = profile.segments
        formulas, dependents, leaves = self._formulas, self._dependents, profile.leaves
        flipped: list[int] = []
        # Dependency order is index order, and ``first`` is sorted: walk it in order until a
        # segment that others reference flips; only then is a queue needed (a heap of what is
        # left plus those dependents). Most flips have no dependents: no heap push and pop per
        # segment recomputed (two per settled instant in the benchmark).
        for position, j in enumerate(first):
            formula = formulas[j]
            value = formula.holds(leaves, values)
            if value != values[j]:
                if values is current:  # copied on the first flip: profile.segments is never mutated
                    values = list(current)
                values[j] = value
                flipped.append(j)
                if dependents[j]:
                    self._propagate(list(first[position + 1:]), j, values, leaves, flipped)
                    break
        if flipped:
            profile.segments = values
        return flipped

    def _propagate(self, todo: list[int], flipped_from: int, values: list[bool], leaves: list[bool],
                   flipped: list[int]) -> None:
        """Recompute ``todo`` (sorted) and, in index order, the dependents of every flip from ``flipped_from`` on."""
        formulas, dependents, heappop, heappush = self._formulas, self._dependents, heapq.heappop, heapq.heappush
        seen = set(todo)  # everything queued
        for d in dependents[flipped_from]:
            if d not in seen:
                seen.add(d)
                heappush(todo, d)
        while todo:  # a sorted list is a heap
            j = heappop(todo)
            formula = formulas[j]
            value = formula.holds(leaves, values)
            if value != values[j]:
                values[j] = value
                flipped.append(j)
                for d in dependents[j]:
                    if d not in seen:
                        seen.add(d)
                        heappush(todo, d)

    # ---- reading -------------------------------------------------------------------

    def memberships(self) -> Memberships:
        """Every usable segment (by name) and its members' profile ids, sorted."""
        return {name: sorted(self._members[self._index[name]]) for name in sorted(self._plan.names)}

    def members(self, segment: str) -> list[str]:
        return sorted(self._members[self._segment(segment)])

    def segments_of(self, profile_id: str) -> list[str]:
        """The segments a profile is in (none for an unknown profile)."""
        profile = self._by_id.get(profile_id)
        if profile is None:
            return []
        return sorted(name for name, held in zip(self._plan.names, profile.segments) if held)

    def profile_ids(self) -> list[str]:
        return sorted(self._by_id)

    def computed_traits(self, profile_id: str | None = None) -> dict[str, dict[str, Any]]:
        """Each profile's computed traits at the clock, by profile id (or just ``profile_id``'s).

        Read from the logs the evaluator keeps current, so a value is never
        stale: a window that slid since the last event is already accounted for.
        """
        from segmint.traits.realtime import trait_value

        computed, now = self._plan.computed, self._clock
        profiles = self._by_id if profile_id is None else {profile_id: self._by_id[profile_id]} \
            if profile_id in self._by_id else {}
        return {
            pid: {name: trait_value(definition, profile.states, slot, now) for name, (definition, slot) in computed.items()}
            for pid, profile in sorted(profiles.items())
        }

    def explain(self, profile_id: str, segment: str) -> dict[str, Any]:
        """Which conditions hold for the profile, and which events made them hold."""
        index = self._segment(segment)
        profile = self._by_id.get(profile_id)
        if profile is None:
            raise NotFoundError(f"no profile {profile_id!r} at {self._describe_clock()} (give a profile id: "
                                "its userId, else its earliest anonymousId)")
        tree = explain_condition(self._plan.conditions[index], self._plan, profile.states, profile.segments,
                                 self._clock)
        return {
            "profile_id": profile_id,
            "segment": segment,
            "at": None if self._clock == BEFORE else instant(self._clock).isoformat(),
            "member": profile.segments[index],
            "identifiers": [f"{kind}:{value}" for kind, value in sorted(self._graph.component(profile.keys[0]))],
            "condition": tree,
        }

    def _segment(self, name: str) -> int:
        index = self._index.get(name)
        if index is None:
            known = ", ".join(sorted(self._index)) or "none"
            raise NotFoundError(f"no usable segment named {name!r} (usable: {known})")
        return index

    def _describe_clock(self) -> str:
        return "the start" if self._clock == BEFORE else instant(self._clock).isoformat()

    # ---- snapshots -----------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The state that survives a restart (versioned; valid for these definitions only)."""
        state = {
            "format": SNAPSHOT_FORMAT,
            "build": BUILD,
            "fingerprint": self._plan.fingerprint,
            "clock": self._clock,
            "graph": self._graph,
            "links": self._links,
            "ids": self._ids,
            "held": self._held[::-1],  # earliest first: a sorted list is the heap format 2 stores
            "tick": self._tick,
        }
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def restore(cls, snapshot: bytes, segments: LoadedSegments, identity: IdentityConfig) -> RealtimeEvaluator:
        """An evaluator in the snapshot's state, its pending deadlines and windows included.

        Raises :class:`SnapshotError` when the snapshot is unreadable, of
        another format, written by the other build of the core (compiled or
        pure Python: their objects pickle differently, so a snapshot names its
        build), or taken under other definitions or identity rules.
        Snapshots are pickles: restore only those this process's store wrote.
        """
        try:
            state = pickle.loads(snapshot)
        except Exception as error:  # noqa: BLE001 - any unpickling failure means "not a snapshot"
            # Often a snapshot of the other build, whose classes this one cannot unpickle.
            raise SnapshotError(f"not a real-time snapshot of this build of segmint ({error}); rebuild by feeding "
                                "the stored events") from None
        if not isinstance(state, dict) or state.get("format") != SNAPSHOT_FORMAT:
            found = state.get("format") if isinstance(state, dict) else None
            raise SnapshotError(f"snapshot format {found!r}, this segmint reads {SNAPSHOT_FORMAT}; "
                                "rebuild by feeding the stored events")
        if state.get("build") != BUILD:  # their objects pickle differently: refused, whatever they hold
            raise SnapshotError(f"a snapshot of the {state.get('build')} build of segmint's core, this is the {BUILD} "
                                "build (segmint --version); rebuild by feeding the stored events")
        evaluator = cls(segments, identity)
        if state["fingerprint"] != evaluator.fingerprint:
            raise SnapshotError("the segment definitions or identity rules changed since this snapshot was "
                                "taken; rebuild the real-time state by feeding the stored events")
        evaluator._clock = state["clock"]
        evaluator._graph = state["graph"]
        evaluator._links = state["links"]
        evaluator._ids = state["ids"]
        evaluator._held = sorted(state["held"], reverse=True)
        evaluator._tick = state["tick"]
        for profile_id, members in evaluator._graph.profiles():
            primaries = sorted(m for m in members if m in evaluator._ids)
            if not primaries:
                continue
            profile = Profile(profile_id, primaries, [evaluator._ids[m] for m in primaries], evaluator._plan)
            profile.dirty.update(evaluator._filled(profile.states))
            for member in members:
                evaluator._profile_of[member] = profile
            for held_by in profile.states:
                held_by.profile = profile
            evaluator._by_id[profile_id] = profile
            evaluator._touched[profile] = None
        evaluator._settle(evaluator._clock)  # memberships as they were; nothing to emit
        return evaluator
