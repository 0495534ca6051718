"""Identity in real time: joins at their instant, late links re-resolving, no state moved.

Every message counts for the profile of its primary identifier as resolved
at the evaluation instant (docs/identity.md): an anonymous visitor's events
count for the user from the identify that joins them on, never before; a
link that arrives late is placed where it belongs in time and can take an
identifier away from the profile it had joined.
"""

from __future__ import annotations

from test_realtime_kit import T0, Messages, at, evaluator, fold, members_at

from segmint.config.model import IdentifierConfig, IdentityConfig
from segmint.segments.changes import Change

VIEWS = {"viewed": {"performed": "Viewed"}, "three": {"performed": "Viewed", "count": {"gte": 3}}}


def test_anonymous_events_count_for_the_user_from_the_join_on() -> None:
    m = Messages()
    m.track(0, "Viewed", anon="a1")
    m.track(1, "Viewed", anon="a1")
    m.identify(5, user="u1", anon="a1")
    m.track(6, "Viewed", user="u1")
    assert members_at(VIEWS, m.rows, 4) == {"viewed": ["a1"], "three": []}
    assert members_at(VIEWS, m.rows, 5) == {"viewed": ["u1"], "three": []}   # a1 is part of u1 now
    assert members_at(VIEWS, m.rows, 6) == {"viewed": ["u1"], "three": ["u1"]}
    ev = evaluator(VIEWS)
    ev.feed(m.rows)
    assert ev.advance(at(10)) == [
        Change(at(0), "viewed", "a1", True),
        Change(at(5), "viewed", "a1", False),
        Change(at(5), "viewed", "u1", True),
        Change(at(6), "three", "u1", True),
    ]
    assert ev.profile_ids() == ["u1"]


def test_a_late_identify_joins_from_when_it_arrives() -> None:
    m = Messages()
    view = m.track(0, "Viewed", anon="a1")
    own = m.track(1, "Viewed", user="u1")
    join = m.identify(5, user="u1", anon="a1")
    ev = evaluator(VIEWS, start=at(10))
    assert ev.feed([view, own]) == [Change(at(10), "viewed", "a1", True), Change(at(10), "viewed", "u1", True)]
    assert ev.feed([join]) == [Change(at(10), "viewed", "a1", False)]
    assert ev.memberships() == members_at(VIEWS, m.rows, 10) == {"viewed": ["u1"], "three": []}


def test_a_late_earlier_link_takes_an_identifier_back() -> None:
    # tests/identity/test_graph.py: u2 joined `a` at 5, but u1 held it since 1.
    m = Messages()
    view = m.track(0, "Viewed", anon="a")
    m.track(0, "Viewed", anon="a")
    m.track(0, "Viewed", anon="a")
    m.identify(5, user="u2", anon="a")
    u1_joins = m.identify(1, user="u1", anon="a")
    ev = evaluator(VIEWS, start=at(10))
    fold(ev.feed(m.rows[:4]))
    assert ev.memberships() == {"viewed": ["u2"], "three": ["u2"]}
    assert ev.feed([u1_joins]) == [
        Change(at(10), "three", "u1", True),
        Change(at(10), "three", "u2", False),
        Change(at(10), "viewed", "u1", True),
        Change(at(10), "viewed", "u2", False),
    ]
    assert ev.profile_ids() == ["u1", "u2"]                # u2 keeps a profile of its own
    assert ev.memberships() == members_at(VIEWS, m.rows, 10)
    assert view["anonymous_id"] == "a"


def test_alias_joins_the_previous_id() -> None:
    m = Messages()
    m.track(0, "Viewed", anon="a1")
    m.alias(5, "u1", "a1")
    assert members_at(VIEWS, m.rows, 4)["viewed"] == ["a1"]
    assert members_at(VIEWS, m.rows, 5)["viewed"] == ["u1"]


def test_a_shared_browser_stays_with_its_first_user() -> None:
    m = Messages()
    m.track(0, "Viewed", anon="shared")
    m.identify(1, user="u1", anon="shared")
    m.identify(2, user="u2", anon="shared")               # refused: two users are never merged
    m.track(3, "Viewed", user="u2")
    assert members_at(VIEWS, m.rows, 10) == {"viewed": ["u1", "u2"], "three": []}
    ev = evaluator(VIEWS)
    ev.feed(m.rows)
    ev.advance(at(10))
    assert ev.segments_of("u1") == ["viewed"]
    assert ev.explain("u1", "viewed")["identifiers"] == ["anonymous_id:shared", "user_id:u1"]


def test_email_joins_anonymous_visitors_and_the_earliest_names_them() -> None:
    identity = IdentityConfig(identifiers={"email": IdentifierConfig(paths=("traits.email",),
                                                                    normalize=("trim", "lowercase"))})
    m = Messages()
    m.identify(10, anon="a2", email="Ada@X.com ")
    m.track(11, "Viewed", anon="a2")
    m.identify(12, anon="a1", email="ada@x.com")
    first_sighting = m.track(5, "Viewed", anon="a1")      # a1 was seen first, but we learn it late
    ev = evaluator(VIEWS, start=at(20), identity=identity)
    fold(ev.feed(m.rows[:3]))
    assert ev.memberships()["viewed"] == ["a2"]            # a2 seen first so far
    assert ev.feed([first_sighting]) == [
        Change(at(20), "viewed", "a1", True),
        Change(at(20), "viewed", "a2", False),
    ]
    assert ev.memberships() == members_at(VIEWS, m.rows, 20, identity=identity)


def test_an_identifier_without_messages_of_its_own_is_no_profile() -> None:
    m = Messages()
    m.identify(0, user="u1", anon="a1")
    m.alias(1, "u1", "a2")                                # refused: u1 may hold one anonymous id here
    identity = IdentityConfig(limits={"anonymous_id": 1})
    ev = evaluator({"everyone": {"all": []}}, identity=identity)
    ev.feed(m.rows)
    ev.advance(at(5))
    assert ev.profile_ids() == ["u1"]
    assert ev.memberships() == {"everyone": ["u1"]}


def test_traits_merge_across_identifiers_latest_first() -> None:
    m = Messages()
    m.identify(0, anon="a1", age=30, plan="free")
    m.identify(2, user="u1", plan="pro")
    m.identify(3, user="u1", anon="a1")
    definitions = {"pro_30": {"all": [{"trait": "plan", "eq": "pro"}, {"trait": "age", "eq": 30}]}}
    assert members_at(definitions, m.rows, 2) == {"pro_30": []}
    assert members_at(definitions, m.rows, 3) == {"pro_30": ["u1"]}
    m.identify(1, anon="a1", plan="gold")                 # older than u1's "pro": changes nothing
    assert members_at(definitions, m.rows, 3) == {"pro_30": ["u1"]}


def test_a_merge_keeps_a_pending_deadline() -> None:
    m = Messages()
    m.track(0, "Added", anon="a1")
    m.identify(10, user="u1", anon="a1")
    definition = {"s": {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}}
    ev = evaluator(definition, start=T0)
    ev.feed(m.rows)
    assert ev.advance(at(60)) == [Change(at(30), "s", "u1", True)]


def test_a_split_moves_the_events_back() -> None:
    m = Messages()
    m.track(0, "Added", anon="a")
    u2 = m.identify(5, user="u2", anon="a")
    u1 = m.identify(1, user="u1", anon="a")
    definition = {"s": {"performed": "Added", "not_followed_by": {"performed": "Bought", "within": "30m"}}}
    ev = evaluator(definition, start=at(6))
    fold(ev.feed([m.rows[0], u2]))
    assert ev.advance(at(40)) == [Change(at(30), "s", "u2", True)]
    assert ev.feed([u1]) == [Change(at(40), "s", "u1", True), Change(at(40), "s", "u2", False)]
