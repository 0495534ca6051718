"""Hypothesis strategies: random segment definitions and random message streams.

Both draw from one small vocabulary (three event names, a handful of
properties and traits, values of every JSON kind including numeric
strings, nulls, lists and objects) so that filters match often, miss
often, and hit every comparison rule. Times sit on a coarse grid
(``STEP``) and windows are multiples of it, so ties between events and
instants exactly on a window's edge or a deadline happen all the time.

Definitions come out as the YAML-like mappings users write and go through
``load_segments``; messages come out as Segment API JSON objects with an
arrival order that differs from their timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
from hypothesis import strategies as st

from segmint.config.model import IdentifierConfig, IdentityConfig
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.store.store import Store

START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)
LAST_TICK = 12  # messages happen at START + k * STEP for k in 0..LAST_TICK


def tick(k: int) -> datetime:
    return START + k * STEP


# ---- vocabulary ------------------------------------------------------------

EVENTS = ("Viewed", "Added", "Bought", "It's \"done\"")
USERS = ("u1", "u2", "u3")
ANONYMOUS = ("a1", "a2", "a3", "a4")
DURATIONS = ("5m", "10m", "15m", "20m", "30m", "1h", "300s", "2h", "1d", "1w")

# Texts include SQL wildcards and quotes, and characters whose order differs in UTF-16.
SCALARS: tuple[Any, ...] = (
    0, 1, 2, 3, 3.0, 2.5, -1, "3", "a", "b", "ab", "A", "", "2026-01-01", "2026-01-01T00:10:00Z", True, False,
    "a_b", "%", "it's", "\\", "é", "\U0001F600", "\uff21",
)  # fmt: skip
NON_BOOL = tuple(v for v in SCALARS if not isinstance(v, bool))
NUMBERS = (0, 1, 2, 3, 3.0, 2.5, -1, 4, 5, 10)

# Property paths that filters, aggregates and `same` look at (``nope`` is never sent).
PATHS = ("n", "s", "flag", "cart", "obj.k", "tags", "obj", "nope", "tags.0", "it's", "a b")
SAME_PATHS = ("cart", "n", "s", "obj.k", "tags", "nope")
AGGREGATE_PATHS = ("n", "cart", "obj.k", "s")
# Names that are also SQL keywords must work as well as any.
SEGMENT_NAMES = ("s0", "s1", "s2", "select", "order", "not", "null", "from_", "p0", "a0")
TRAITS = ("age", "plan", "vip", "nope", "x.y", "x", "tags")

IDENTITIES = (
    IdentityConfig(),
    IdentityConfig(
        identifiers={"email": IdentifierConfig(paths=("traits.email", "context.traits.email"), normalize=("trim", "lowercase"))}
    ),
    IdentityConfig(limits={"anonymous_id": 2}),
    IdentityConfig(limits={"user_id": 2}, max_ids=3),
)


# ---- definitions -----------------------------------------------------------

def _operand(op: str, pool: tuple[Any, ...]) -> st.SearchStrategy[Any]:
    plain = st.sampled_from(pool)
    if op in ("eq", "ne", "contains"):
        return st.one_of(plain, st.just(None)) if None not in pool else plain
    if op in ("gt", "gte", "lt", "lte"):
        return st.sampled_from([v for v in pool if v is not None and not isinstance(v, bool)])
    if op in ("in", "not_in"):
        return st.lists(st.one_of(plain, st.just(None)), max_size=3)
    if op == "between":
        ordered = [v for v in pool if v is not None and not isinstance(v, bool)]
        return st.lists(st.sampled_from(ordered), min_size=2, max_size=2)
    if op == "exists":
        return st.booleans()
    raise AssertionError(op)


OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between", "contains", "exists")
COUNT_OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "between")


@cache
def comparisons(pool: tuple[Any, ...] = SCALARS, ops: tuple[str, ...] = OPERATORS) -> st.SearchStrategy[dict[str, Any]]:
    """One or two operators with operands: ``{gte: 2}``, ``{in: [a, 3], ne: b}``."""
    chosen = st.lists(st.sampled_from(ops), min_size=1, max_size=2, unique=True)
    return chosen.flatmap(lambda names: st.fixed_dictionaries({op: _operand(op, pool) for op in names}))


@cache
def where() -> st.SearchStrategy[dict[str, Any]]:
    test = st.one_of(st.sampled_from(SCALARS), comparisons())  # a plain value means eq
    return st.dictionaries(st.sampled_from(PATHS), test, min_size=1, max_size=2)


@cache
def _event_match(required_within: bool = False, same: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    required: dict[str, st.SearchStrategy[Any]] = {"performed": st.sampled_from(EVENTS)}
    optional: dict[str, st.SearchStrategy[Any]] = {"where": where()}
    (required if required_within else optional)["within"] = st.sampled_from(DURATIONS)
    if same:
        optional["same"] = st.lists(st.sampled_from(SAME_PATHS), min_size=1, max_size=2, unique=True)
    return st.fixed_dictionaries(required, optional=optional)  # type: ignore[arg-type]


@cache
def _sequence(negated: bool) -> st.SearchStrategy[dict[str, Any]]:
    """``followed_by`` (within optional) or ``not_followed_by`` (within required)."""
    return _event_match(required_within=negated, same=True)


@cache
def performed() -> st.SearchStrategy[dict[str, Any]]:
    measure = st.one_of(
        st.just({}),
        st.builds(lambda c: {"count": c}, comparisons(NUMBERS + ("1",), COUNT_OPERATORS)),
        st.builds(
            lambda f, p, c: {f: {"property": p, **c}},
            st.sampled_from(("sum", "avg", "min", "max")),
            st.sampled_from(AGGREGATE_PATHS),
            comparisons(NUMBERS + ("3",)),
        ),
        st.builds(lambda s: {"followed_by": s}, _sequence(False)),
        st.builds(lambda s: {"not_followed_by": s}, _sequence(True)),
    )
    return st.builds(lambda match, extra: {**match, **extra}, _event_match(), measure)


@cache
def trait_condition() -> st.SearchStrategy[dict[str, Any]]:
    pool = SCALARS + (30, 25, 34, "pro", "free")
    return st.builds(lambda name, c: {"trait": name, **c}, st.sampled_from(TRAITS), comparisons(pool))


@cache
def condition(earlier: tuple[str, ...], depth: int) -> st.SearchStrategy[dict[str, Any]]:
    """Any condition; ``in_segment`` names only ``earlier`` segments (no cycles)."""
    leaves = [trait_condition(), performed(), performed()]
    if earlier:
        leaves.append(st.builds(lambda name: {"in_segment": name}, st.sampled_from(earlier)))
    leaf = st.one_of(*leaves)
    if depth == 0:
        return leaf
    inner = condition(earlier, depth - 1)
    return st.one_of(
        leaf,
        leaf,
        st.builds(lambda cs: {"all": cs}, st.lists(inner, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, max_size=3)),
        st.builds(lambda c: {"not": c}, inner),
    )


@st.composite
def segment_definitions(draw: st.DrawFn, max_segments: int = 3, depth: int = 2) -> dict[str, Any]:
    """A ``segments:`` mapping; later segments may reference earlier ones."""
    segments: dict[str, Any] = {}
    count = draw(st.integers(1, max_segments))
    names = draw(st.one_of(st.just(SEGMENT_NAMES[:count]), st.permutations(SEGMENT_NAMES)))[:count]
    for i, name in enumerate(names):
        body = dict(draw(condition(tuple(segments), depth)))
        if draw(st.booleans()):
            body["description"] = f"segment {i}"
        segments[name] = body
    return segments


# ---- messages --------------------------------------------------------------

_PROPERTY_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "n": st.one_of(st.sampled_from(NUMBERS), st.sampled_from(("3", "2.5", True)), st.none()),
    "s": st.one_of(
        st.sampled_from(("a", "b", "ab", "A", "3", "", "2026-01-01", "2026-01-01T00:10:00Z", "2026-01-02", "axb", "a_b")),
        st.sampled_from(("%", "100%", "it's", "\\", "é", "e\u0301", "\U0001F600", "\uff21", "ab\n")),
        st.none(),
    ),
    "flag": st.one_of(st.booleans(), st.just(1), st.none()),
    "cart": st.one_of(st.sampled_from(("c1", "c2", 1, 1.0, "1")), st.none()),
    "obj": st.one_of(
        st.fixed_dictionaries({}, optional={"k": st.one_of(st.sampled_from(NUMBERS), st.sampled_from(("a", "3")), st.none())}),
        st.just("k"),
        st.none(),
    ),
    "tags": st.one_of(st.lists(st.sampled_from(("a", "b", 3, 3.0, True, "ab", None, "a_b")), max_size=3), st.just("ab"), st.none()),
    "it's": st.sampled_from(("a", 1, None)),
    "a b": st.sampled_from(("a", 1, None)),
}

_TRAIT_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "age": st.one_of(st.sampled_from((25, 30, 34, 34.5, 40, "30")), st.none()),
    "plan": st.one_of(st.sampled_from(("free", "pro", "Pro", 3)), st.none()),
    "vip": st.one_of(st.booleans(), st.none()),
    "email": st.one_of(st.sampled_from((" X@x.com", "x@x.com ", "y@y.com", "z@z.com")), st.none()),
    "x.y": st.sampled_from(("a", 1, None)),
    "x": st.just({"y": "a"}),  # `trait: x.y` is the key "x.y", not a path
    "tags": st.lists(st.sampled_from(("a", "b", 3, True)), max_size=2),
}


def _partial(values: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=values)  # type: ignore[arg-type]


def _who() -> st.SearchStrategy[dict[str, str]]:
    return st.one_of(
        st.builds(lambda u: {"userId": u}, st.sampled_from(USERS)),
        st.builds(lambda a: {"anonymousId": a}, st.sampled_from(ANONYMOUS)),
        st.builds(lambda u, a: {"userId": u, "anonymousId": a}, st.sampled_from(USERS), st.sampled_from(ANONYMOUS)),
    )


def _message() -> st.SearchStrategy[dict[str, Any]]:
    when = st.integers(0, LAST_TICK).map(lambda k: {"timestamp": tick(k).isoformat().replace("+00:00", "Z")})
    context = st.one_of(st.just({}), st.builds(lambda e: {"context": {"traits": {"email": e}}}, _TRAIT_VALUES["email"]))
    properties = st.one_of(_partial(_PROPERTY_VALUES).map(lambda p: {"properties": p}), st.just({}))
    track = st.builds(
        lambda who, at, event, props, ctx: {"type": "track", **who, **at, "event": event, **props, **ctx},
        _who(), when, st.sampled_from(EVENTS), properties, context,
    )
    identify = st.builds(
        lambda who, at, traits: {"type": "identify", **who, **at, "traits": traits},
        _who(), when, _partial(_TRAIT_VALUES),
    )
    alias = st.builds(
        lambda u, p, a, at: {"type": "alias", "userId": u, "previousId": p, **a, **at},
        st.sampled_from(USERS), st.sampled_from(ANONYMOUS),
        st.one_of(st.just({}), st.sampled_from(ANONYMOUS).map(lambda a: {"anonymousId": a})), when,
    )
    page = st.builds(lambda who, at: {"type": "page", **who, **at, "name": "Home"}, _who(), when)
    screen = st.builds(lambda who, at: {"type": "screen", **who, **at}, _who(), when)
    group = st.builds(lambda who, at: {"type": "group", **who, **at, "groupId": "g1", "traits": {"plan": "pro"}}, _who(), when)
    return st.one_of(track, track, track, identify, identify, alias, page, screen, group)


@dataclass(frozen=True)
class Stream:
    """Messages in arrival order (``seq`` follows this order, not the timestamps)."""

    messages: tuple[dict[str, Any], ...]


@st.composite
def streams(draw: st.DrawFn, max_messages: int = 14) -> Stream:
    drawn = draw(st.lists(_message(), min_size=1, max_size=max_messages))
    arrival = draw(st.permutations(range(len(drawn))))
    return Stream(tuple({**drawn[i], "messageId": f"m{n}"} for n, i in enumerate(arrival)))


def instants(count: int = 4) -> st.SearchStrategy[list[datetime]]:
    """Evaluation instants on the grid (plus one step either side of the messages), ascending."""
    return st.lists(st.integers(-1, LAST_TICK + 14), min_size=1, max_size=count, unique=True).map(
        lambda ks: [tick(k) for k in sorted(ks)]
    )


identities = st.sampled_from(IDENTITIES)


# ---- into a store ----------------------------------------------------------

RECEIVED = tick(LAST_TICK + 40)


def ingest(messages: list[dict[str, Any]] | tuple[dict[str, Any], ...], store: Store | None = None) -> Store:
    """A store holding ``messages``, ingested in the given (arrival) order."""
    store = store or Store(":memory:")
    raws = [orjson.dumps(m).decode() for m in messages]
    result = Ingestor(store).ingest(stage(raws, Arrival("web", RECEIVED, "test")))
    assert not result.failures, result.failures
    return store


def stored_rows(store: Store) -> list[dict[str, Any]]:
    """The ``events`` table as dicts, by seq (JSON columns as text)."""
    return store.query("SELECT * FROM events ORDER BY seq").to_pylist()
