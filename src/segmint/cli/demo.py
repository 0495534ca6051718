"""``segmint demo``: generate the demo shop, import it, and show what segmint makes of it."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import typer

from segmint.cli.common import FormatOption
from segmint.cli.output import OutputFormat, console, print_json, progress, table
from segmint.demo import story


def demo_command(
    directory: Path = typer.Option(Path("segmint-demo"), "--dir", help="Where the demo's files and store go."),
    customers: int = typer.Option(2000, "--customers", min=50, help="How many people visit the shop."),
    seed: int = typer.Option(7, "--seed", help="Random seed: the same seed gives the same shop."),
    format: OutputFormat = FormatOption,
) -> None:
    """Run the whole story on an embedded DuckDB store: collect, resolve, learn."""
    as_json = format is OutputFormat.json
    say = (lambda *a, **k: None) if as_json else console.print

    def status(doing: str) -> Any:
        return nullcontext() if as_json else console.status(doing, spinner="dots")

    say(f"[bold]segmint demo[/bold]: an e-commerce shop with {customers:,} visitors, in {directory}/")
    with status("generating the shop"):
        demo = story.prepare(directory, customers=customers, seed=seed)
    chapters: dict[str, Any] = {}
    with progress(enabled=not as_json) as bar:
        tasks: dict[Any, Any] = {}

        def advance(plan, done):  # type: ignore[no-untyped-def]
            if plan.path not in tasks:
                tasks[plan.path] = bar.add_task(f"import {plan.path.name}", total=plan.size)
            bar.advance(tasks[plan.path], done)

        chapters["collect"] = story.collect(demo, on_progress=advance)
    chapters["profiles"] = story.profiles(demo)
    with status("evaluating segments in batch and in real time"):
        chapters["segments"] = story.segments(demo)
    chapters["lifetime_value"] = story.lifetime_value(demo)
    with status("clustering the profiles"):
        chapters["clusters"] = story.clusters(demo)
    with status("training churn, propensity and CLV models"):
        chapters["predictions"] = story.predictions(demo)
    chapters["rfm"] = story.rfm(demo)
    chapters["quality"] = story.quality(demo)
    if as_json:
        print_json({"directory": str(directory), "now": demo.now, **chapters})
    else:
        _show_collect(chapters["collect"])
        _show_profiles(chapters["profiles"])
        _show_segments(chapters["segments"])
        _show_clv(chapters["lifetime_value"])
        _show_clusters(chapters["clusters"])
        _show_predictions(chapters["predictions"])
        _show_rfm(chapters["rfm"])
        _show_quality(chapters["quality"])
        console.print(
            f"\nThe store is {demo.db_path}. Try:\n"
            f"  segmint status --db {demo.db_path}\n"
            f"  segmint profiles show {chapters['profiles']['example']['id'] if chapters['profiles']['example'] else 'ID'}"
            f" --db {demo.db_path} --config {directory}/segmint.yaml\n"
            f"  segmint serve --db {demo.db_path} --config {directory}/segmint.yaml"
        )
    assert demo.store is not None
    demo.store.close()


def _show_collect(data: dict[str, Any]) -> None:
    console.print("\n[bold]1. Collect[/bold]: behavioural events (JSONL), customers (CSV) and orders (Parquet)")
    console.print(
        table(None, ["file", "kind", "mapping", "received", "accepted", "duplicates", "failed"],
              [(f["file"].split("/")[-1], f["kind"], f["mapping"], f["received"], f["accepted"], f["duplicates"], f["failed"])
               for f in data["files"]])
    )
    if data["failed_by_reason"]:
        console.print(table("Kept in the failed-messages store (segmint failed list)", ["reason", "messages"],
                            sorted(data["failed_by_reason"].items(), key=lambda kv: -kv[1])))


def _show_profiles(data: dict[str, Any]) -> None:
    console.print(
        f"\n[bold]2. Resolve[/bold]: {data['profiles']:,} profiles: {data['customers']:,} known customers, "
        f"{data['anonymous_visitors']:,} anonymous visitors; {data['refused_joins']:,} joins refused by the identity rules"
    )
    example = data["example"]
    if example:
        console.print(f"One customer, seen on {len(example['ids'].get('anonymous_id', []))} devices:")
        console.print(table(None, ["kind", "ids"], [(k, ", ".join(v)) for k, v in example["ids"].items()]))
        console.print(table(None, ["trait", "value"], sorted(example["traits"].items())))
    if data.get("computed_traits"):
        console.print("Its computed traits at the demo's now (segmint traits compute; docs/traits.md):")
        console.print(table(None, ["computed trait", "value"],
                            [(k, "-" if v is None else v) for k, v in data["computed_traits"].items()]))


def _show_segments(data: dict[str, Any]) -> None:
    from segmint.cli.segments import print_explanation

    console.print(
        f"\n[bold]3. Segment[/bold]: at {data['as_of']:%Y-%m-%d %H:%M} UTC, in batch (SQL on DuckDB) and in real time "
        f"(every message replayed in arrival order, {data['real_time_changes']:,} entries and exits on the way)"
    )
    live = data.get("real_time")
    if live and live.get("messages_per_second"):
        console.print(f"The real-time replay took {live['messages']:,} messages at {live['messages_per_second']:,} "
                      f"a second on one core ({live['core']}; {live['memory']}; "
                      "benchmarks/README.md has the measured figures).")

    console.print(
        table(None, ["segment", "campaign", "batch", "real time", "agree", "planted personas"],
              [(r["segment"], _short(r["description"]), r["size"], r["real_time_size"],
                "[green]yes[/green]" if r["agree"] else "[red]NO[/red]", _top_two(r["personas"]))
               for r in data["segments"]])
    )
    for error in data["errors"]:
        console.print(f"[red]segment error:[/red] {error}")
    explained = data["explained"]
    if explained["why"]:
        console.print(f"\nWhy is {explained['profile']} in {explained['segment']}? (segmint segments explain)")
        print_explanation(explained["why"])


def _short(text: str | None, width: int = 44) -> str:
    text = (text or "").split(" (")[0]
    return text if len(text) <= width else text[: width - 1] + "…"


def _show_clusters(data: dict[str, Any]) -> None:
    from segmint.cli.cluster import k_curve

    console.print(
        f"\n[bold]5. Cluster[/bold]: k-means on {', '.join(data['features'])} found {data['k']} groups "
        f"(k chosen by silhouette); agreement with the planted personas: adjusted Rand index "
        f"{data['agreement_with_planted']:.3f}; bootstrap stability {data['stability']['bootstrap_ari_mean']:.3f}"
    )
    console.print(k_curve(data["k_selection"]))

    console.print(
        table("Personas (segmint cluster)", ["id", "persona", "size", "what sets it apart", "planted"],
              [(c["id"], c["name"], c["size"], c["description"], _top_two(c["planted"])) for c in data["clusters"]])
    )


def _show_clv(data: dict[str, Any]) -> None:
    b, g = data["bgnbd"], data["gamma_gamma"]
    console.print(
        f"\n[bold]4. Learn[/bold]: lifetime value (BG/NBD r={b['r']:.3f} α={b['alpha']:.3f} a={b['a']:.3f} "
        f"b={b['b']:.3f}; Gamma-Gamma p={g['p']:.2f} q={g['q']:.2f} v={g['v']:.2f}) "
        f"over {data['customers']:,} buyers, {data['repeat_customers']:,} repeat"
    )
    console.print(
        table("Most valuable customers, next 12 months", ["customer", "orders", "P(alive)", "expected orders (52w)", "CLV 12m"],
              [(t["customer"], t["orders"], f"{t['probability_alive']:.2f}", f"{t['expected_purchases_52w']:.1f}", t["clv_12m"])
               for t in data["top"]])
    )


def _show_rfm(data: dict[str, Any]) -> None:
    from segmint.cli.rfm import print_report

    console.print(
        f"\n[bold]7. RFM[/bold]: {data['customers']:,} buyers scored 1-5 on recency, frequency and value, named by the "
        f"standard table; published as traits (rfm_segment, ...) for {data['published']['profiles']:,} profiles"
    )
    print_report(data)


def _show_predictions(data: dict[str, Any]) -> None:
    console.print("\n[bold]6. Predict[/bold]: churn, purchase propensity and learned CLV, tested on the last 90 days they never saw")
    rows = []
    for name, report in data["reports"].items():
        for model, m in report["models"].items():
            rows.append((name, model, *(f"{m[k]:.3f}" if k in m and m[k] is not None else "" for k in ("roc_auc", "pr_auc", "brier", "lift_top_decile", "mae", "rmse", "pearson"))))
    console.print(table(None, ["task", "model", "ROC AUC", "PR AUC", "Brier", "lift@10%", "MAE", "RMSE", "r"], rows))
    console.print(table("Top churn risks, and why (segmint models explain churn ID)", ["profile", "persona", "P(churn)", "CLV 90d", "why"],
                        [(r["profile"], r["persona"], f"{r['churn_probability']:.2f}", r["predicted_clv"],
                          "; ".join(f"{c['feature']} {c['contribution']:+.2f}" for c in r["why"])) for r in data["top_churn_risks"]]))
    seg = data["segment"]
    console.print(f"Segment {seg['name']}: {seg['size']} members (traits churn_probability and predicted_clv), e.g. {', '.join(seg['sample'])}")


def _show_quality(data: dict[str, Any]) -> None:
    from segmint.cli.quality import print_quality

    console.print("\n[bold]8. Data quality[/bold]: every source, event and trait; the properties that score below 100 "
                  "(segmint quality lists them all)")
    shown = [i for i in data["items"] if i["kind"] != "property" or i["score"] < 99.5]
    print_quality(data | {"items": shown})


def _top_two(counts: dict[str, int]) -> str:
    """The two largest planted personas in a group: "Loyal Buyers 240, Churned Customers 3"."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items(), key=lambda kv: -kv[1])[:2])
