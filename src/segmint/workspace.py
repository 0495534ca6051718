"""One object for notebooks: a store and its configuration, every result as a pandas table.

    import segmint
    shop = segmint.open("segmint.duckdb", config="segmint.yaml")
    shop.profiles()                       # one row per profile
    shop.segments(as_of="2026-11-01")     # profile_id x segment, True where a member
    shop.traits()                         # the computed traits of every profile
    shop.rfm()                            # scores and named RFM segment per buyer
    clusters = shop.cluster(k="auto")     # .assignments, .personas, .summary()
    shop.quality()                        # the data dictionary
    shop.scores()                         # churn, propensity, CLV from the active models

Each method is a thin call into the package that does the work (see
ARCHITECTURE.md); nothing here is computed differently from the CLI. The
store is opened read-only, or through the server when ``segmint serve``
holds it, so a notebook can read while the collector runs. Methods that
write (publishing traits, registering models) stay with their modules and
the CLI, so that reading a notebook never changes the store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from segmint.clock import parse_instant
from segmint.config import Config, load_config
from segmint.store.access import open_reader

When = datetime | str | None


def _instant(when: When) -> datetime:
    if when is None:
        return datetime.now(timezone.utc)
    return parse_instant(when) if isinstance(when, str) else when


class Workspace:
    """A store and its configuration; see the module docstring."""

    def __init__(self, db: str | Path = "segmint.duckdb", config: str | Path | Config | None = None) -> None:
        if isinstance(config, Config):
            self.config = config
        else:
            path = Path(config) if config is not None else Path("segmint.yaml")
            self.config = load_config(path) if path.exists() or config is not None else Config()
        self.db_path = Path(db)
        self.store = open_reader(self.db_path)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sql(self, query: str, params: list[Any] | None = None) -> pd.DataFrame:
        """Any read-only SQL over the store's tables (docs/store.md)."""
        return self.store.query(query, params).to_pandas()

    def profiles(self) -> pd.DataFrame:
        """One row per profile: ids, first and last seen, message count, and the traits as columns."""
        frame = self.sql("SELECT profile_id, user_id, first_seen, last_seen, messages, traits FROM profiles ORDER BY profile_id")
        traits = pd.json_normalize([orjson.loads(t) for t in frame.pop("traits")], max_level=0)
        return pd.concat([frame, traits.set_index(frame.index)], axis=1).set_index("profile_id")

    def segments(self, as_of: When = None) -> pd.DataFrame:
        """Batch memberships at ``as_of``: one row per member profile, one boolean column per segment."""
        from segmint.segments.evaluation import evaluate_store
        from segmint.segments.parse import load_segments

        loaded = load_segments(self.config.segments, self.config.traits)
        members = evaluate_store(self.store, loaded, self.config.identity, _instant(as_of))
        everyone = sorted({p for ids in members.values() for p in ids})
        frame = pd.DataFrame({name: pd.Series(True, index=ids, dtype=bool) for name, ids in members.items()},
                             index=pd.Index(everyone, name="profile_id"))
        return frame.reindex(columns=list(members)).fillna(False).astype(bool)

    def traits(self, as_of: When = None) -> pd.DataFrame:
        """The computed traits (``traits:`` in the configuration) of every profile at ``as_of``."""
        from segmint.traits.batch import compute_traits

        con = getattr(self.store, "connection", None)
        if con is None:
            raise RuntimeError("computed traits need the store itself; stop `segmint serve` or read a copy")
        return compute_traits(con, self.config.traits, self.config.identity, _instant(as_of)).set_index("profile_id")

    def rfm(self, as_of: When = None) -> pd.DataFrame:
        """Recency, frequency and value, their 1-5 scores and the named segment, per buyer (docs/rfm.md)."""
        from segmint.learn.rfm import rfm_scores

        return rfm_scores(self.store, self.config, _instant(as_of))

    def cluster(self, method: str = "kmeans", k: int | str = "auto", features: list[str] | None = None,
                as_of: When = None, **options: Any) -> Any:
        """Cluster the profiles into personas (docs/clustering.md); nothing is saved."""
        from segmint.learn.cluster import cluster_profiles
        from segmint.learn.features import load_features

        frame = load_features(self.store, _instant(as_of), features)
        return cluster_profiles(frame, method, k, **options)  # type: ignore[arg-type]

    def quality(self, as_of: When = None) -> pd.DataFrame:
        """The data dictionary: every source, event, property and trait with its quality (docs/quality.md)."""
        from segmint.quality.dictionary import data_dictionary

        return data_dictionary(self.store, _instant(as_of))

    def duplicates(self, threshold: float = 0.85) -> pd.DataFrame:
        """Candidate duplicate customers, best first (docs/quality.md)."""
        from segmint.quality.duplicates import find_duplicates

        return find_duplicates(self.store, threshold=threshold)

    def models(self) -> pd.DataFrame:
        """The model registry: every version with its window, metrics and status (docs/models.md)."""
        from segmint.models.registry import list_models

        return pd.DataFrame([r.as_dict() for r in list_models(self.store)])

    def scores(self, as_of: When = None) -> pd.DataFrame:
        """Churn probability, purchase propensity, predicted CLV, P(alive) from the active models."""
        from segmint.models.scoring import load_active, score

        return score(self.store, self.config.identity, load_active(self.store), _instant(as_of))


def open(db: str | Path = "segmint.duckdb", config: str | Path | Config | None = None) -> Workspace:  # noqa: A001
    """A :class:`Workspace` over the store ``db`` with the configuration ``config``."""
    return Workspace(db, config)
