"""``segmint cluster``: group the profiles into clusters and name them as personas.

    segmint cluster [--method kmeans|gmm|hierarchical|hdbscan] [--k auto|N]
                    [--features TRAIT,...] [--as-of T] [--out FILE.csv]
                    [--format json]

Reads the profiles' features from the store, clusters them, prints each
cluster's persona, and (unless ``--no-save``) registers the fitted model
as ``clusters`` and publishes ``cluster_id``, ``cluster_name`` and
``cluster_probability`` as traits. ``--out`` writes one row per profile.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from segmint.cli.common import ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, print_json, progress, table

if TYPE_CHECKING:
    from segmint.learn.cluster import Clustering

# scikit-learn and pandas are imported inside the command, so that
# `segmint --help` does not pay for them.


class MethodChoice(str, enum.Enum):
    kmeans = "kmeans"
    gmm = "gmm"
    hierarchical = "hierarchical"
    hdbscan = "hdbscan"


class ImputeChoice(str, enum.Enum):
    knn = "knn"
    mean = "mean"
    median = "median"
    most_frequent = "most_frequent"


class OutlierChoice(str, enum.Enum):
    isolation_forest = "isolation_forest"
    lof = "lof"
    none = "none"


def parse_k(text: str) -> int | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        k = int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give auto or a whole number of clusters", param_hint="--k") from None
    if k < 1:
        raise typer.BadParameter("the number of clusters must be at least 1", param_hint="--k")
    return k


def cluster_command(
    method: MethodChoice = typer.Option(MethodChoice.kmeans, "--method", help="The clustering method."),
    k: str = typer.Option("auto", "--k", help="Number of clusters, or auto (silhouette, with elbow and BIC shown)."),
    features: str = typer.Option(
        None, "--features", help="Comma-separated features: behavioural ones or profile traits (default: RFM, browsing, tenure)."
    ),
    as_of: str = typer.Option(None, "--as-of", help="ISO-8601 instant the features are measured at (default: now)."),
    out: Path = typer.Option(None, "--out", help="Write profile_id, cluster_id[, probability] per profile to this CSV."),
    impute: ImputeChoice = typer.Option(ImputeChoice.knn, "--impute", help="How missing trait values are filled."),
    outliers: OutlierChoice = typer.Option(OutlierChoice.isolation_forest, "--outliers", help="How outliers are flagged (never dropped)."),
    stability: int = typer.Option(5, "--stability", min=0, help="Bootstrap resamples for the stability report (0: skip)."),
    save: bool = typer.Option(True, "--save/--no-save", help="Register the model and publish the cluster traits."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Cluster the profiles and describe each cluster as a persona."""
    from segmint.learn.assign import publish, register
    from segmint.learn.cluster import cluster_profiles
    from segmint.learn.features import load_features
    from segmint.store.access import reading, writing

    chosen_k = parse_k(k)
    names = [n.strip() for n in features.split(",") if n.strip()] if features else None
    s = settings(config, db)
    instant = as_of_instant(as_of)
    as_json = format is OutputFormat.json
    opened = writing(s.db_path) if save else reading(s.db_path)
    with opened as store, progress(enabled=not as_json) as bar:
        tasks: dict[str, Any] = {}

        def on_step(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done)

        frame = load_features(store, instant, names)
        on_step("features", 1, 1)
        clustering = cluster_profiles(
            frame, method.value, chosen_k, impute=impute.value, outliers=outliers.value,  # type: ignore[arg-type]
            stability_runs=stability, random_state=seed, on_step=on_step,
        )  # fmt: skip
        result: dict[str, Any] = {"as_of": instant, **clustering.summary(), "model": None, "published": None}
        if save:
            record = register(store, clustering, instant)
            report = publish(store, s.config.identity, clustering.assignments, version=record.version, at=instant)
            on_step("publish traits", 1, 1)
            result["model"] = {"name": record.name, "version": record.version}
            result["published"] = report.as_dict()
    if out is not None:
        write_assignments(clustering, out)
        result["out"] = str(out)
    if as_json:
        print_json(result)
    else:
        show(result)


def write_assignments(clustering: Clustering, path: Path) -> None:
    """One row per profile: ``profile_id``, ``cluster_id`` and, where the method has one, ``probability``."""
    columns = ["cluster_id", "probability"] if clustering.model.has_probability else ["cluster_id"]
    rows = clustering.assignments[columns].rename_axis("profile_id").reset_index()
    path.parent.mkdir(parents=True, exist_ok=True)
    rows.to_csv(path, index=False)


def show(result: dict[str, Any]) -> None:
    """The clusters, the k curve and the stability, as Rich tables."""
    console.print(
        f"[bold]{result['k']} clusters[/bold] of {result['profiles']:,} profiles by {result['method']} "
        f"on {', '.join(result['features'])}, as of {result['as_of']:%Y-%m-%d %H:%M} UTC; "
        f"{result['outliers']:,} flagged as outliers (kept)"
    )
    console.print(
        table("Personas", ["id", "name", "size", "share", "what sets it apart"],
              [(c["id"], c["name"], c["size"], f"{c['share']:.0%}", c["description"]) for c in result["clusters"]])
    )  # fmt: skip
    micro = [m for c in result["clusters"] for m in c.get("micro_segments", [])]
    if micro:
        console.print(table("Micro-segments", ["id", "size", "what sets it apart"],
                            [(m["id"], m["size"], m["description"]) for m in micro]))  # fmt: skip
    selection = result.get("k_selection")
    if selection:
        console.print(k_curve(selection))
    stability = result.get("stability")
    if stability:
        console.print(
            f"Stability: adjusted Rand index {stability['bootstrap_ari_mean']:.3f} on average "
            f"(lowest {stability['bootstrap_ari_min']:.3f}) over {len(stability['runs'])} bootstrap refits "
            f"of {stability['rows']:,} profiles"
        )
    if result.get("model"):
        published = result["published"]
        console.print(
            f"Saved as model {result['model']['name']} version {result['model']['version']}; "
            f"traits cluster_id, cluster_name, cluster_probability published for {published['profiles']:,} profiles"
        )
    if result.get("out"):
        console.print(f"Assignments written to {result['out']}")


def k_curve(selection: dict[str, Any]) -> Any:
    """The silhouette curve as bars, with inertia and BIC, the chosen k marked."""
    width = 30
    rows = []
    for point in selection["curve"]:
        silhouette = point["silhouette"]
        bar = "█" * max(0, round((silhouette or 0) * width))
        marks = [
            label
            for label, k in (("chosen", selection["chosen"]), ("elbow", selection["elbow"]), ("best BIC", selection["bic_best"]))
            if k == point["k"]
        ]
        rows.append((point["k"], f"{silhouette:.3f}" if silhouette is not None else None, bar,
                     f"{point['inertia']:,.0f}", f"{point['bic']:,.0f}" if point["bic"] is not None else None,
                     ", ".join(marks)))  # fmt: skip
    title = (
        f"Choosing k: silhouette on {selection['score_rows']:,} profiles, fits on {selection['fit_rows']:,}"
    )
    return table(title, ["k", "silhouette", "", "inertia", "BIC", ""], rows)
