"""The bulk resolution (connected components) equals the ordered identity graph."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.identity.components import Links, identifiers_of, resolve_components
from segmint.identity.graph import resolve

KINDS = ["user_id", "anonymous_id", "email"]
keys = st.tuples(st.sampled_from(KINDS), st.sampled_from(["a", "b", "c", "d", "e", "f"]))
moments = st.tuples(st.integers(0, 20), st.integers(0, 5))  # (at, seq): ties happen


def streams():
    return st.tuples(
        st.lists(st.tuples(keys, keys, moments), max_size=30),  # links (a, b, when)
        st.lists(st.tuples(keys, moments), max_size=15),  # sightings without a link
    )


def build(stream):
    """Inputs as the store's SQL gives them: distinct links at their first appearance, every id's first sighting."""
    links, sightings = stream
    first_link: dict = {}
    for a, b, when in links:
        if a != b and ((a, b) not in first_link or when < first_link[(a, b)]):
            first_link[(a, b)] = when
    first: dict = {}
    for key, when in sightings + [(k, w) for (a, b), w in first_link.items() for k in (a, b)]:
        if key not in first or when < first[key]:
            first[key] = when
    return first_link, first


def resolved_by_graph(first_link, first, limits, max_ids):
    from segmint.identity.graph import Link

    graph = resolve(
        [Link(w[0], w[1], a, b) for (a, b), w in first_link.items()],
        [(k, w[0], w[1]) for k, w in first.items()], limits, max_ids,
    )
    return graph


def resolved_by_components(first_link, first, limits, max_ids):
    ids = identifiers_of([(k[0], k[1], w[0], w[1]) for k, w in first.items()])
    number = {(k, v): i for i, (k, v) in enumerate(zip(ids.kinds, ids.values))}
    pairs = list(first_link.items())
    links = Links(
        a=np.array([number[a] for (a, _), _ in pairs], dtype=np.int64),
        b=np.array([number[b] for (_, b), _ in pairs], dtype=np.int64),
        at=np.array([w[0] for _, w in pairs], dtype=np.int64),
        seq=np.array([w[1] for _, w in pairs], dtype=np.int64),
    )
    return resolve_components(ids, links, limits, max_ids)


def summary(resolution):
    profiles = sorted((pid, sorted(members)) for pid, members in resolution.profiles())
    conflicts = sorted((c.link, c.reason) for c in resolution.conflicts())
    return profiles, conflicts


@settings(max_examples=300, deadline=None)
@given(
    stream=streams(),
    limits=st.fixed_dictionaries({"user_id": st.integers(1, 2), "anonymous_id": st.integers(1, 3),
                                  "email": st.integers(1, 2)}),
    max_ids=st.integers(2, 8),
)
def test_components_resolve_as_the_ordered_graph(stream, limits, max_ids):
    first_link, first = build(stream)
    expected = resolved_by_graph(first_link, first, limits, max_ids)
    got = resolved_by_components(first_link, first, limits, max_ids)
    assert summary(got) == summary(expected)
    table = got.identity_table().to_pylist()
    by_key = {(r["kind"], r["value"]): r["profile_id"] for r in table}
    assert by_key == {m: pid for pid, members in expected.profiles() for m in members}
    assert len(table) == len(first)
    for key in first:
        assert got.first_seen(key) == expected.first_seen(key)
        assert got.profile_id(key) == expected.profile_id(key)


def test_a_cluster_that_breaks_a_limit_is_resolved_in_order():
    first_link = {(("user_id", "u1"), ("anonymous_id", "a")): (1, 1),
                  (("user_id", "u2"), ("anonymous_id", "a")): (2, 2),
                  (("user_id", "u3"), ("anonymous_id", "z")): (3, 3)}
    first = {("user_id", "u1"): (1, 1), ("anonymous_id", "a"): (1, 1), ("user_id", "u2"): (2, 2),
             ("user_id", "u3"): (3, 3), ("anonymous_id", "z"): (3, 3), ("anonymous_id", "alone"): (0, 0)}
    got = resolved_by_components(first_link, first, None, 1000)
    profiles, conflicts = summary(got)
    assert profiles == [("alone", [("anonymous_id", "alone")]),
                        ("u1", [("anonymous_id", "a"), ("user_id", "u1")]),
                        ("u2", [("user_id", "u2")]),
                        ("u3", [("anonymous_id", "z"), ("user_id", "u3")])]
    assert [c[1] for c in conflicts] == ["a profile may hold at most 1 user_id"]


def test_nothing_to_resolve():
    got = resolved_by_components({}, {}, None, 1000)
    assert summary(got) == ([], [])
    assert got.identity_table().num_rows == 0
