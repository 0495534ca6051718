"""Identity resolution: order-independence and the documented conflict rule."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.identity.graph import IdentityGraph, Link, resolve

KINDS = ("user_id", "anonymous_id", "email")


def reference_partition(links: list[Link], limits: dict[str, int], max_ids: int):
    """The obviously correct rule: sets merged in (time, seq) order unless a cap breaks."""
    groups: list[set[tuple[str, str]]] = []

    def group_of(key):
        for g in groups:
            if key in g:
                return g
        g = {key}
        groups.append(g)
        return g

    refused = []
    for link in sorted(links):
        a, b = group_of(link.a), group_of(link.b)
        if a is b:
            continue
        joined = a | b
        too_many = any(sum(1 for k in joined if k[0] == kind) > cap for kind, cap in limits.items())
        if too_many or len(joined) > max_ids:
            refused.append(link)
            continue
        groups.remove(b)
        a |= b
    return {frozenset(g) for g in groups}, sorted(refused)


def partition(graph: IdentityGraph):
    return {frozenset(members) for _, members in graph.profiles()}


keys = st.tuples(st.sampled_from(KINDS), st.sampled_from([f"v{i}" for i in range(6)]))
link_lists = st.lists(
    st.builds(lambda at, seq, a, b: Link(at, seq, a, b), st.integers(0, 20), st.integers(0, 1000), keys, keys)
    .filter(lambda link: link.a != link.b),
    max_size=25,
    unique_by=lambda link: (link.seq,),
)


@settings(max_examples=300, deadline=None)
@given(links=link_lists, seed=st.integers(0, 10_000), user_cap=st.integers(1, 2), max_ids=st.integers(2, 8))
def test_arrival_order_never_changes_the_result(links, seed, user_cap, max_ids):
    limits = {"user_id": user_cap, "anonymous_id": 100}
    shuffled = list(links)
    random.Random(seed).shuffle(shuffled)
    graph = IdentityGraph(limits, max_ids)
    for link in shuffled:
        graph.link(link)
    expected, refused = reference_partition(links, limits, max_ids)
    assert partition(graph) == expected
    assert sorted(c.link for c in graph.conflicts()) == refused


def test_two_user_ids_are_never_merged_and_the_earlier_join_wins():
    graph = resolve(
        [
            Link(1, 1, ("user_id", "u1"), ("anonymous_id", "a")),
            Link(2, 2, ("user_id", "u2"), ("anonymous_id", "a")),
        ],
        [],
    )
    assert graph.profile_id(("anonymous_id", "a")) == "u1"
    assert graph.component(("user_id", "u2")) == [("user_id", "u2")]
    (conflict,) = list(graph.conflicts())
    assert conflict.link.b == ("anonymous_id", "a") and "user_id" in conflict.reason


def test_a_late_link_reorders_history():
    graph = IdentityGraph()
    graph.link(Link(5, 2, ("user_id", "u2"), ("anonymous_id", "a")))
    assert graph.profile_id(("anonymous_id", "a")) == "u2"
    # An earlier join arrives late: u1 held `a` first, so u2 loses it.
    graph.link(Link(1, 1, ("user_id", "u1"), ("anonymous_id", "a")))
    assert graph.profile_id(("anonymous_id", "a")) == "u1"
    assert graph.profile_id(("user_id", "u2")) == "u2"


def test_anonymous_profile_takes_its_earliest_anonymous_id():
    graph = IdentityGraph()
    graph.observe(("anonymous_id", "late"), 10, 3)
    graph.observe(("anonymous_id", "early"), 2, 9)
    graph.link(Link(11, 4, ("anonymous_id", "late"), ("anonymous_id", "early")))
    assert graph.profile_id(("anonymous_id", "late")) == "early"


def test_the_id_cap_refuses_the_join_that_would_exceed_it():
    graph = IdentityGraph({"anonymous_id": 2})
    graph.link(Link(1, 1, ("user_id", "u"), ("anonymous_id", "a1")))
    graph.link(Link(2, 2, ("user_id", "u"), ("anonymous_id", "a2")))
    graph.link(Link(3, 3, ("user_id", "u"), ("anonymous_id", "a3")))
    assert sorted(graph.component(("user_id", "u"))) == [
        ("anonymous_id", "a1"), ("anonymous_id", "a2"), ("user_id", "u")]
    assert [c.link.b for c in graph.conflicts()] == [("anonymous_id", "a3")]
