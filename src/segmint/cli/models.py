"""``segmint models``: train, inspect, score, explain and keep fresh the predictive models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from segmint.cli.common import AsOfOption, ConfigOption, DbOption, FormatOption, as_of_instant, settings
from segmint.cli.output import OutputFormat, console, print_json, table

app = typer.Typer(help="Predictive models: churn, purchase propensity, learned CLV.", no_args_is_help=True)

TASK_NAMES = ("churn", "propensity", "clv")


def _names(names: list[str] | None) -> tuple[str, ...]:
    chosen = tuple(names or TASK_NAMES)
    unknown = [n for n in chosen if n not in TASK_NAMES]
    if unknown:
        raise typer.BadParameter(f"{unknown[0]!r} is not a model; choose from {', '.join(TASK_NAMES)}")
    return chosen


@app.command("list")
def list_models(config: Path = ConfigOption, db: Path = DbOption, format: OutputFormat = FormatOption) -> None:
    """Every registered model version, newest first."""
    from segmint.models.registry import list_models as registered
    from segmint.store.access import reading

    s = settings(config, db)
    with reading(s.db_path) as store:
        records = registered(store)
    if format is OutputFormat.json:
        print_json({"models": [_summary(r) for r in records]})
        return
    console.print(table("Models", ["model", "version", "status", "trained", "window", "headline"],
                        [(r.name, r.version, r.status, r.trained_at, f"{r.window_start:%Y-%m-%d} .. {r.window_end:%Y-%m-%d}"
                          if r.window_start and r.window_end else None, _headline(r.metrics)) for r in records]))


def _summary(record: Any) -> dict[str, Any]:
    data = record.as_dict()
    data.pop("metrics")
    data.pop("params")
    data["headline"] = _headline(record.metrics)
    return data


def _headline(metrics: dict[str, Any]) -> str | None:
    lightgbm = metrics.get("models", {}).get("lightgbm")
    if not lightgbm:
        return None
    if "roc_auc" in lightgbm:
        return f"ROC AUC {lightgbm['roc_auc']:.3f}, Brier {lightgbm['brier']:.3f}"
    return f"MAE {lightgbm['mae']:.2f}, RMSE {lightgbm['rmse']:.2f}"


@app.command()
def show(
    name: str = typer.Argument(..., help="churn, propensity or clv."),
    version: int = typer.Option(None, "--version", help="A version (default: the newest usable one)."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """A model's training window, features, and its test report against the baselines."""
    from segmint.models.registry import find_model
    from segmint.store.access import reading

    s = settings(config, db)
    with reading(s.db_path) as store:
        record = find_model(store, name, version)
    if format is OutputFormat.json:
        print_json(record.as_dict())
        return
    print_report(record.as_dict())


def print_report(record: dict[str, Any]) -> None:
    metrics, split = record["metrics"], record["params"].get("split", {})
    console.print(
        f"[bold]{record['name']}[/bold] v{record['version']} ({record['kind']}, {record['status']}): "
        f"{metrics.get('task', '')}\ntrained on features at {split.get('train_cutoff')} with outcomes to "
        f"{split.get('test_cutoff')}; tested on features at {split.get('test_cutoff')} with outcomes to {split.get('end')}"
    )
    models = metrics.get("models", {})
    first = next(iter(models.values()), {})
    columns = [c for c in first if c not in ("n",)]
    console.print(table(f"Test ({metrics.get('test', {}).get('rows')} profiles)", ["model", *columns],
                        [(name, *(_fmt(row.get(c)) for c in columns)) for name, row in models.items()]))
    ranked = list(metrics.get("importance", {}).items())[:10]
    console.print(table("What drives it (mean |SHAP|)", ["feature", "mean |contribution|"], [(f, _fmt(v)) for f, v in ranked]))


def _fmt(value: Any) -> Any:
    return f"{value:.4f}" if isinstance(value, float) else value


@app.command()
def train(
    names: list[str] = typer.Argument(None, help="Models to train (default: churn propensity clv)."),
    as_of: str = AsOfOption,
    horizon: str = typer.Option(None, "--horizon", help="Override the configured horizon, e.g. 60d."),
    trees: int = typer.Option(200, "--trees", min=1, help="LightGBM boosting rounds."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Train on the store's history up to --as-of, compare with the baselines, register."""
    from datetime import timedelta

    from segmint.config.model import span_seconds
    from segmint.models.lifecycle import train_and_register
    from segmint.models.training import TrainSettings
    from segmint.store.access import writing

    s = settings(config, db)
    try:
        override = timedelta(seconds=span_seconds(horizon)) if horizon else None
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--horizon") from None
    with writing(s.db_path) as store:
        registered = train_and_register(
            store, s.config, _names(names), as_of_instant(as_of),
            settings=TrainSettings(n_estimators=trees), horizon_override=override,
        )
    records = [record.as_dict() for record, _ in registered]
    if format is OutputFormat.json:
        print_json({"models": records})
        return
    for record in records:
        print_report(record)


@app.command()
def score(
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Score every profile with the active models and publish the scores as traits."""
    from segmint.models.scoring import load_active, publish
    from segmint.models.scoring import score as score_profiles
    from segmint.store.access import writing

    s = settings(config, db)
    at = as_of_instant(as_of)
    with writing(s.db_path) as store:
        models = load_active(store)
        scores = score_profiles(store, s.config.identity, models, at)
        report = publish(store, s.config.identity, scores, at)
    summary = {
        "at": at,
        "models": {name: record.version for name, (record, _) in models.items()},
        "published": report.as_dict(),
        "traits": {c: {"profiles": int(scores[c].notna().sum()), "mean": _mean(scores[c])} for c in scores.columns},
    }
    if format is OutputFormat.json:
        print_json(summary)
        return
    console.print(f"Scored {len(scores):,} profiles at {at.isoformat()}; {report.accepted:,} trait updates published")
    console.print(table(None, ["trait", "profiles", "mean"], [(t, v["profiles"], _fmt(v["mean"])) for t, v in summary["traits"].items()]))


def _mean(values: Any) -> float | None:
    present = values.dropna()
    return float(present.mean()) if len(present) else None


@app.command()
def explain(
    model: str = typer.Argument(..., help="churn, propensity or clv."),
    profile: str = typer.Argument(None, help="Any of a profile's ids (omit for the model as a whole)."),
    as_of: str = AsOfOption,
    top: int = typer.Option(10, "--top", min=1, help="How many features to show."),
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Why a profile has its score (SHAP contributions), or what drives the model overall."""
    from segmint.models.registry import find_model, load_model
    from segmint.models.scoring import explain as explain_profile
    from segmint.store.access import reading

    s = settings(config, db)
    with reading(s.db_path) as store:
        if profile is None:
            record = find_model(store, model)
            ranked = list(record.metrics.get("importance", {}).items())[:top]
            result: dict[str, Any] = {"model": model, "version": record.version,
                                      "importance": [{"feature": f, "mean_abs_contribution": v} for f, v in ranked]}
        else:
            record, fitted = load_model(store, model)
            result = explain_profile(store, s.config.identity, record, fitted, profile, as_of_instant(as_of), top=top)
    if format is OutputFormat.json:
        print_json(result)
        return
    print_explanation(result)


def print_explanation(result: dict[str, Any]) -> None:
    if "importance" in result:
        console.print(table(f"{result['model']} v{result['version']}: what drives it (mean |SHAP| on its training population)",
                            ["feature", "mean |contribution|"], [(r["feature"], _fmt(r["mean_abs_contribution"])) for r in result["importance"]]))
        return
    console.print(
        f"[bold]{result['profile_id']}[/bold]: {result['trait']} = {result['prediction']:.3f} "
        f"({result['model']} v{result['version']}, contributions in {result['unit']}, base {result['base_value']:+.3f})"
    )
    console.print(table(None, ["feature", "value", "contribution"],
                        [(c["feature"], _fmt(c["value"]), f"{c['contribution']:+.3f}") for c in result["contributions"]]
                        + [("(all others)", None, f"{result['others']:+.3f}")]))


@app.command()
def drift(
    names: list[str] = typer.Argument(None, help="Models to check (default: all registered)."),
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """PSI of each feature and of the predictions since training; marks drifted models stale."""
    from segmint.models.lifecycle import check_drift
    from segmint.models.registry import ModelNotFoundError
    from segmint.store.access import writing

    s = settings(config, db)
    at = as_of_instant(as_of)
    reports = {}
    with writing(s.db_path) as store:
        for name in _names(names):
            try:
                record, report = check_drift(store, s.config, name, at)
            except ModelNotFoundError:
                continue
            reports[name] = {"version": record.version, "status": record.status, **report.as_dict()}
    if format is OutputFormat.json:
        print_json({"at": at, "models": reports})
        return
    console.print(table(f"Drift at {at.isoformat()} (PSI since training)", ["model", "version", "status", "predictions", "max feature", "drifted"],
                        [(n, r["version"], r["status"], _fmt(r["predictions_psi"]), _fmt(r["max_feature_psi"]),
                          ", ".join(r["drifted_features"][:4])) for n, r in reports.items()]))


@app.command()
def retrain(
    if_stale: bool = typer.Option(False, "--if-stale", help="Only models that are missing or stale (not merely old)."),
    as_of: str = AsOfOption,
    config: Path = ConfigOption,
    db: Path = DbOption,
    format: OutputFormat = FormatOption,
) -> None:
    """Check drift, retrain what is due (or only what is stale), then score and publish."""
    from segmint.models.lifecycle import maintain
    from segmint.store.access import writing

    s = settings(config, db)
    with writing(s.db_path) as store:
        report = maintain(store, s.config, as_of_instant(as_of), only_stale=if_stale)
    if format is OutputFormat.json:
        print_json(report)
        return
    console.print(table(f"Models at {report['at'].isoformat()}", ["model", "retrained", "reason"],
                        [(d["model"], "yes" if d["retrain"] else "no", d["reason"] or "fresh") for d in report["decisions"]]))
