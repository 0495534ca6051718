"""``segmint demo``: the whole story, end to end, as chapters of plain data.

Each chapter is a function from the demo's state to a dict; the CLI
prints them as tables or as one JSON document. New capabilities add a
chapter here, so the demo always shows everything segmint can do.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from segmint.config import Config, load_config
from segmint.demo import DEFAULT_NOW, config_path, generate_shop
from segmint.demo.generate import DemoFiles
from segmint.identity.profiles import find_profile, rebuild
from segmint.ingest.importer import FileReport, import_files, plan_imports
from segmint.ingest.ingestor import Ingestor
from segmint.store.store import Store

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass
class Demo:
    directory: Path
    config: Config
    now: datetime
    files: DemoFiles | None = None
    store: Store | None = None
    reports: list[FileReport] = field(default_factory=list)

    @property
    def db_path(self) -> Path:
        return self.directory / "segmint.duckdb"


def prepare(directory: Path, *, customers: int, seed: int, now: datetime = DEFAULT_NOW) -> Demo:
    """A fresh demo directory: generated files and an empty store."""
    if directory.exists():
        for name in ("segmint.duckdb", "segmint.duckdb.wal"):
            (directory / name).unlink(missing_ok=True)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(config_path(), directory / "segmint.yaml")
    demo = Demo(directory, load_config(directory / "segmint.yaml"), now)
    demo.files = generate_shop(directory, seed=seed, customers=customers, now=now)
    return demo


def collect(demo: Demo, on_progress: Callable[[Any, int], None] | None = None) -> dict[str, Any]:
    """Import the three files the way a team would: events, customers, orders."""
    assert demo.files is not None
    demo.store = Store(demo.db_path)
    paths = [demo.files.events_path, demo.files.customers_path, demo.files.orders_path]
    plans = plan_imports(paths, demo.config)
    demo.reports = import_files(plans, Ingestor(demo.store), source="web", on_progress=on_progress)
    rebuild(demo.store.connection, demo.config.identity)
    reasons: dict[str, int] = {}
    for report in demo.reports:
        for reason, count in report.reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
    return {
        "files": [r.as_dict() for r in demo.reports],
        "failed_by_reason": reasons,
        "generated": {
            "messages": demo.files.messages,
            "duplicates_planted": demo.files.duplicates,
            "invalid_lines_planted": demo.files.invalid_lines,
            "customers": demo.files.customers,
            "orders": demo.files.orders,
        },
    }


def profiles(demo: Demo) -> dict[str, Any]:
    """What identity resolution made of the visitors."""
    assert demo.store is not None
    q = demo.store.query
    summary = q(
        """SELECT count(*) AS profiles,
                  count(user_id) AS customers,
                  count(*) - count(user_id) AS anonymous_visitors,
                  (SELECT count(*) FROM identity_conflicts) AS refused_joins
           FROM profiles"""
    ).to_pylist()[0]
    joined = q(
        """WITH buyers AS (SELECT user_id, count(*) AS orders FROM events
                            WHERE event = 'Order Completed' GROUP BY user_id)
           SELECT i.profile_id, count(*) FILTER (WHERE i.kind = 'anonymous_id') AS devices,
                  max(coalesce(b.orders, 0)) AS orders
           FROM identities i LEFT JOIN buyers b ON i.kind = 'user_id' AND b.user_id = i.value
           GROUP BY i.profile_id HAVING count(*) FILTER (WHERE i.kind = 'user_id') = 1
           ORDER BY devices DESC, max(coalesce(b.orders, 0)) > 0 DESC, i.profile_id LIMIT 1"""
    ).to_pylist()
    example = find_profile(demo.store, joined[0]["profile_id"]).as_dict() if joined else None
    computed: dict[str, Any] = {}
    if example and demo.config.traits:
        from segmint.traits.batch import compute_traits
        from segmint.traits.publish import plain_value

        values = compute_traits(demo.store.cursor(), demo.config.traits, demo.config.identity, demo.now)
        row = values[values["profile_id"] == example["id"]]
        if len(row):
            computed = {k: plain_value(v) for k, v in row.iloc[0].items() if k != "profile_id"}
    return summary | {"example": example, "computed_traits": computed}


def lifetime_value(demo: Demo, top: int = 8) -> dict[str, Any]:
    """BG/NBD + Gamma-Gamma on the shop's orders: who is worth the most next year."""
    from segmint.models.clv import BGNBDModel, GammaGammaModel, TimeUnit, summarise

    assert demo.store is not None
    orders = demo.store.query(
        """SELECT i.profile_id AS customer_id, e.event_time AS date,
                  try_cast(json_extract(e.properties, '$.total') AS DOUBLE) AS amount
           FROM events e JOIN identities i ON i.kind = 'user_id' AND i.value = e.user_id
           WHERE e.type = 'track' AND e.event = 'Order Completed'"""
    ).to_pandas()
    orders["date"] = pd.to_datetime(orders["date"]).dt.tz_localize(None)
    summary = summarise(orders, demo.now.date(), time_unit=TimeUnit.W)
    purchases = BGNBDModel().fit(summary["frequency"], summary["recency"], summary["T"])
    repeat = summary[summary["frequency"] > 0]
    spend = GammaGammaModel().fit(repeat["frequency"], repeat["monetary_value"])
    summary["probability_alive"] = purchases.probability_alive(summary["frequency"], summary["recency"], summary["T"])
    summary["expected_purchases_52w"] = purchases.conditional_expected_purchases(
        52, summary["frequency"], summary["recency"], summary["T"]
    )
    summary["clv_12m"] = 0.0
    summary.loc[repeat.index, "clv_12m"] = spend.customer_lifetime_value(
        purchases, repeat["frequency"], repeat["recency"], repeat["T"], repeat["monetary_value"],
        time_unit=TimeUnit.W, months=12,
    )
    best = summary.sort_values("clv_12m", ascending=False).head(top)
    p, g = purchases.params_, spend.params_
    return {
        "customers": len(summary),
        "repeat_customers": len(repeat),
        "bgnbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b},
        "gamma_gamma": {"p": g.p, "q": g.q, "v": g.v},
        "top": [
            {
                "customer": str(index),
                "orders": int(row["frequency"]) + 1,
                "probability_alive": float(row["probability_alive"]),
                "expected_purchases_52w": float(row["expected_purchases_52w"]),
                "clv_12m": float(row["clv_12m"]),
            }
            for index, row in best.iterrows()
        ],
    }


def segments(demo: Demo, explain_segment: str = "cart_abandoners") -> dict[str, Any]:
    """The campaign segments, in batch and in real time, and why one member is in one."""
    from segmint.compiled import summary
    from segmint.segments.batch import evaluate_duckdb
    from segmint.segments.inspect import explain
    from segmint.segments.parse import load_segments
    from segmint.segments.realtime import arenas
    from segmint.segments.replay import replay

    assert demo.store is not None
    loaded = load_segments(demo.config.segments, demo.config.traits)
    batch = evaluate_duckdb(demo.store.cursor(), loaded, demo.config.identity, demo.now)

    # Real time: every stored message in arrival order, as `segmint replay` feeds it (the clock
    # following the events, then moved to now); it must agree with the batch answer.
    began = time.process_time()
    reader = demo.store.cursor().sql(
        f"SELECT * FROM events WHERE event_time <= TIMESTAMPTZ '{demo.now.isoformat()}' ORDER BY seq"
    ).to_arrow_reader(50_000)
    replayed = replay(reader, loaded, demo.config.identity, demo.now)
    spent = time.process_time() - began  # reading the rows included: a floor, not the benchmark's figure
    live, changes, fed = replayed.memberships, len(replayed.changes), replayed.fed

    personas = _personas(demo)
    table = []
    for name, members in batch.items():
        definition = loaded.definitions[name]
        counts: dict[str, int] = {}
        for member in members:
            persona = personas.get(member, "unknown")
            counts[persona] = counts.get(persona, 0) + 1
        table.append(
            {
                "segment": name,
                "description": definition.description,
                "size": len(members),
                "real_time_size": len(live.get(name, [])),
                "agree": live.get(name, []) == members,
                "personas": counts,
            }
        )
    member = batch.get(explain_segment, [])
    explanation = (
        explain(demo.store, loaded, demo.config.identity, member[0], explain_segment, demo.now) if member else None
    )
    return {
        "as_of": demo.now,
        "segments": table,
        "errors": [str(e) for e in loaded.errors],
        "real_time_changes": changes,
        "real_time": {"messages": fed, "cpu_seconds": round(spent, 3),
                      "messages_per_second": round(fed / spent) if spent else None, "core": summary(),
                      "memory": arenas.summary()},
        "explained": {"segment": explain_segment, "profile": member[0] if member else None, "why": explanation},
    }


def clusters(demo: Demo) -> dict[str, Any]:
    """Clusters found in the behaviour alone (k chosen by silhouette), named as personas, against the planted ones."""
    from sklearn.metrics import adjusted_rand_score

    from segmint.learn.cluster import cluster_profiles
    from segmint.learn.features import load_features

    assert demo.store is not None
    clustering = cluster_profiles(load_features(demo.store, demo.now), "kmeans", "auto", stability_runs=3)
    planted = _personas(demo)
    truth = [planted.get(p, "unknown") for p in clustering.assignments.index]
    summary = clustering.summary()
    for cluster in summary["clusters"]:
        inside = clustering.assignments["cluster_id"].to_numpy() == cluster["id"]
        cluster["planted"] = pd.Series(truth)[inside].value_counts().to_dict()
    return summary | {
        "as_of": demo.now,
        "agreement_with_planted": float(adjusted_rand_score(truth, clustering.assignments["cluster_id"])),
    }


def _personas(demo: Demo) -> dict[str, str]:
    assert demo.files is not None
    frame = pd.read_csv(demo.files.personas_path)
    return dict(zip(frame["profile_id"].astype(str), frame["persona"]))


def rfm(demo: Demo) -> dict[str, Any]:
    """RFM at the demo's now: the named segments with their size and value, published as traits."""
    from segmint.learn.rfm import publish_rfm, rfm_report, rfm_scores

    assert demo.store is not None
    scores = rfm_scores(demo.store, demo.config, demo.now)
    published = publish_rfm(demo.store, demo.config, scores, demo.now)
    return rfm_report(scores, demo.config, demo.now) | {"published": published.as_dict()}


def predictions(demo: Demo, top: int = 5, segment: str = "high_value_at_risk") -> dict[str, Any]:
    """Churn, propensity and learned CLV trained on the shop, scored as traits, explained."""
    from segmint.models.lifecycle import train_and_register
    from segmint.models.scoring import explain, load_active, publish, score
    from segmint.models.training import TrainSettings
    from segmint.segments.batch import evaluate_duckdb
    from segmint.segments.parse import load_segments

    assert demo.store is not None
    registered = train_and_register(demo.store, demo.config, ("churn", "propensity", "clv"), demo.now,
                                    settings=TrainSettings(n_estimators=100))
    models = load_active(demo.store)
    scores = score(demo.store, demo.config.identity, models, demo.now)
    published = publish(demo.store, demo.config.identity, scores, demo.now)
    record, churn = models["churn"]
    riskiest = scores["churn_probability"].dropna().sort_values(ascending=False, kind="stable").head(top)
    personas = _personas(demo)
    loaded = load_segments({n: d for n, d in demo.config.segments.items() if n == segment})
    members = evaluate_duckdb(demo.store.cursor(), loaded, demo.config.identity, demo.now).get(segment, [])
    return {
        "reports": {r.name: {"version": r.version, "models": r.metrics["models"]} for r, _ in registered},
        "published": published.as_dict(),
        "top_churn_risks": [
            {
                "profile": profile,
                "persona": personas.get(profile, "unknown"),
                "churn_probability": float(probability),
                "predicted_clv": _number(scores.loc[profile].get("predicted_clv")),
                "why": explain(demo.store, demo.config.identity, record, churn, profile, demo.now, top=3)["contributions"],
            }
            for profile, probability in riskiest.items()
        ],
        "segment": {"name": segment, "size": len(members), "sample": members[:top],
                    "personas": {p: sum(personas.get(m) == p for m in members) for p in sorted({personas.get(m, "unknown") for m in members})}},
    }


def _number(value: Any) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def quality(demo: Demo) -> dict[str, Any]:
    """The data dictionary with quality scores at the demo's now, and duplicate customer candidates."""
    from segmint.quality.dictionary import data_dictionary
    from segmint.quality.duplicates import find_duplicates
    from segmint.quality.report import quality_report

    assert demo.store is not None
    from segmint.quality.outliers import find_outliers

    return quality_report(data_dictionary(demo.store, demo.now), find_duplicates(demo.store), demo.now, pairs=5,
                          outliers=find_outliers(demo.store, demo.now))
