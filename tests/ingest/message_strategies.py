"""Hypothesis strategies for Segment messages, valid and not."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st

TYPES = ["track", "identify", "page", "screen", "group", "alias"]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=4))
maybe_id = st.one_of(st.none(), st.just(""), st.just(" "), st.text(min_size=1, max_size=6), st.integers(0, 99),
                     st.just(1.5), st.just({"x": 1}))
maybe_time = st.one_of(st.none(), instants, st.just("yesterday"), st.just(12345), st.just("0000-01-01T00:00:00Z"),
                       st.just("9999-12-31T23:59:59Z"), st.just("0001-01-01T00:00:00Z"))
maybe_obj = st.one_of(st.none(), st.dictionaries(st.text(max_size=3), scalars, max_size=3), st.just([1]), st.just("x"))

messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(TYPES), st.just("bogus"), st.just(3)),
        "userId": maybe_id,
        "anonymousId": maybe_id,
        "previousId": maybe_id,
        "groupId": maybe_id,
        "messageId": maybe_id,
        "event": st.one_of(st.none(), st.just(""), st.text(min_size=1, max_size=5), st.just(7)),
        "name": st.one_of(st.none(), st.text(max_size=5), st.just(7)),
        "timestamp": maybe_time,
        "originalTimestamp": maybe_time,
        "sentAt": maybe_time,
        "receivedAt": maybe_time,
        "properties": maybe_obj,
        "traits": maybe_obj,
        "context": maybe_obj,
        "integrations": maybe_obj,
        "channel": st.just("web"),
        "version": st.integers(1, 2),
        "_metadata": maybe_obj,
    },
)


