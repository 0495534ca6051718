"""Reading a Tracking API request: the messages handed to validation are the texts parsed back."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config.model import Config, SourceConfig
from segmint.ingest.validate import parse_message
from segmint.server.envelope import parse_tracking

CONFIG = Config(sources=(SourceConfig(name="web", write_key="k"),))

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
              st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(st.one_of(json_values, st.dictionaries(st.text(max_size=4), json_values, max_size=4)),
                      max_size=6))
def test_parsed_messages_are_the_texts_parsed_back(batch):
    body = orjson.dumps({"batch": batch, "writeKey": "k"})
    request = parse_tracking("batch", {}, body, CONFIG)
    assert request.messages == [parse_message(raw) for raw in request.raws]


def test_a_message_past_orjsons_nesting_limit_is_parsed_from_its_text():
    body = ('{"writeKey": "k", "batch": [{"type": "track", "properties": {"x": ' + orjson.dumps(1).decode()
            + "}}, " + "[" * 300 + "1" + "]" * 300 + "]}").encode()
    request = parse_tracking("batch", {}, body, CONFIG)
    assert len(request.raws) == 2
    assert request.messages == [parse_message(raw) for raw in request.raws]
