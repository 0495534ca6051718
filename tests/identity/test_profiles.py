"""Profiles: the store's batch rebuild and the server's live state agree."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmint.config.model import IdentifierConfig, IdentityConfig
from segmint.identity.live import LiveProfiles
from segmint.identity.profiles import find_profile, rebuild
from segmint.ingest.ingestor import Ingestor
from segmint.ingest.staging import Arrival, stage
from segmint.store.store import Store

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
IDENTITY = IdentityConfig(
    identifiers={"email": IdentifierConfig(paths=("traits.email",), normalize=("trim", "lowercase"))}
)


def message(kind, minute, user=None, anon=None, traits=None, previous=None):
    body = {"type": kind, "timestamp": (START + timedelta(minutes=minute)).isoformat()}
    if kind == "track":
        body["event"] = "E"
    if user:
        body["userId"] = user
    if anon:
        body["anonymousId"] = anon
    if traits is not None:
        body["traits"] = traits
    if previous:
        body["previousId"] = previous
    return body


messages = st.one_of(
    st.builds(lambda m, u, a: message("track", m, u, a), st.integers(0, 50),
              st.sampled_from([None, "u1", "u2"]), st.sampled_from(["a1", "a2", "a3"])),
    st.builds(lambda m, u, a, t: message("identify", m, u, a, t), st.integers(0, 50),
              st.sampled_from([None, "u1", "u2"]), st.sampled_from(["a1", "a2", "a3"]),
              st.dictionaries(st.sampled_from(["age", "plan", "email"]),
                              st.one_of(st.none(), st.integers(0, 3), st.sampled_from([" A@x.com", "a@x.com ", "b@x.com"])),
                              max_size=3)),
    st.builds(lambda m, u, p: message("alias", m, u, previous=p), st.integers(0, 50),
              st.sampled_from(["u1", "u2"]), st.sampled_from(["a1", "a2", "a3"])),
)


# Without configured identifiers, live profiles read the Arrow columns directly.
@pytest.mark.parametrize("identity", [IDENTITY, IdentityConfig()], ids=["email", "default"])
@settings(max_examples=30, deadline=None)
@given(batch=st.lists(messages, min_size=1, max_size=15), seed=st.integers(0, 100))
def test_live_profiles_match_the_batch_rebuild(identity, batch, seed):
    raws = [orjson.dumps(m).decode() for m in batch]
    with Store(":memory:") as store:
        ingestor = Ingestor(store)
        live = LiveProfiles(identity)
        # Arrive in several commits, so the live state is built incrementally.
        rng = random.Random(seed)
        position = 0
        while position < len(raws):
            size = rng.randint(1, 4)
            result = ingestor.ingest(stage(raws[position:position + size], Arrival("web", START, "t")), want_rows=True)
            if result.rows is not None:
                live.apply(result.rows)
            position += size
        rebuild(store.connection, identity)
        profiles = store.query("SELECT profile_id, traits FROM profiles").to_pylist()
        ids = store.query("SELECT kind, value, profile_id FROM identities").to_pylist()
        for row in ids:
            seen = live.profile((row["kind"], row["value"]))
            assert seen["id"] == row["profile_id"]
        for row in profiles:
            view = find_profile(store, row["profile_id"])
            key = live.find(row["profile_id"])
            assert live.profile(key)["traits"] == orjson.loads(row["traits"]) == view.traits


def test_traits_are_the_latest_identify_values_key_by_key():
    with_store = Store(":memory:")
    ingestor = Ingestor(with_store)
    raws = [
        message("identify", 5, user="u", traits={"plan": "pro", "age": 30}),
        message("identify", 1, user="u", traits={"plan": "free", "city": "Oslo"}),  # older, arrives later
        message("identify", 9, anon="a", traits={"age": None}),
        message("track", 10, user="u", anon="a"),
    ]
    ingestor.ingest(stage([orjson.dumps(m).decode() for m in raws], Arrival("web", START, "t")))
    rebuild(with_store.connection, IDENTITY)
    view = find_profile(with_store, "a")
    assert view.id == "u"
    assert view.traits == {"plan": "pro", "city": "Oslo"}  # age was unset by the later null


def test_a_rebuild_reads_one_state_of_the_store_while_a_server_commits(tmp_path):
    """The server commits between the rebuild's queries: identifiers and links must still agree."""
    from segmint.identity.profiles import resolve_identities

    with Store(tmp_path / "s.duckdb") as store:
        ingestor = Ingestor(store)
        ingestor.ingest(stage([orjson.dumps(message("track", 0, "u0", "a0")).decode()], Arrival("web", START, "t")))

        class CommitsMeanwhile:
            """A connection after whose first query a batch of new people and links is committed."""

            def __init__(self, con):
                self.con, self.queries = con, 0

            def execute(self, sql, *args):
                result = self.con.execute(sql, *args)
                self.queries += 1
                if self.queries == 1:
                    late = [orjson.dumps(message("track", 1, f"u{i}", f"a{i}")).decode() for i in range(1, 40)]
                    ingestor.ingest(stage(late, Arrival("web", START, "t")))
                return result

            def __getattr__(self, name):
                return getattr(self.con, name)

        resolution = resolve_identities(CommitsMeanwhile(store.cursor()), IdentityConfig())
        seen = {(row["kind"], row["value"]) for row in resolution.identity_table().to_pylist()}
        assert seen == {("user_id", "u0"), ("anonymous_id", "a0")}
        assert resolve_identities(store.cursor(), IdentityConfig()).identity_table().num_rows == 80
        # A whole rebuild likewise: profiles from the events stored when it began, the rest next time.
        ingestor.ingest(stage([orjson.dumps(message("track", 2, "u0", "a0")).decode()], Arrival("web", START, "t")))
        count = store.query("SELECT count(*) AS n FROM events").to_pylist()[0]["n"]
        rebuild(CommitsMeanwhile(store.cursor()), IdentityConfig())
        profiles = store.query("SELECT sum(messages) AS n, count(*) AS p FROM profiles").to_pylist()[0]
        assert (profiles["n"], profiles["p"]) == (count, 40)
