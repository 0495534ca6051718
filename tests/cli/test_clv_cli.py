"""``segmint clv fit`` end to end on the CDNOW sample: published estimates, holdout, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from segmint.cli import commands
from segmint.errors import IngestError, MappingError, NotFoundError

CDNOW = Path(__file__).parents[1] / "fixtures" / "cdnow"
runner = CliRunner()


def segmint_app() -> typer.Typer:
    """The command groups exactly as ``segmint`` registers them."""
    app = typer.Typer()
    commands.register(app)
    return app


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(
        CDNOW / "CDNOW_sample.txt",
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "amount"],
        dtype={"date": str},
    )


@pytest.fixture(scope="module")
def cdnow_csv(raw: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cdnow") / "cdnow.csv"
    raw[["customer_id", "date", "amount"]].to_csv(path, index=False)
    return path


def run_json(*args: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(segmint_app(), ["clv", "fit", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_published_estimates(result: dict) -> None:  # type: ignore[type-arg]
    bgnbd, gamma = result["bgnbd"], result["gamma_gamma"]
    for name, value in {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}.items():
        assert bgnbd[name] == pytest.approx(value, abs=5e-4), name
    assert bgnbd["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    for name, value in {"p": 6.25, "q": 3.74, "v": 15.44}.items():
        assert gamma[name] == pytest.approx(value, abs=5e-3), name
    assert result["customers"] == 2357
    assert gamma["customers"] == 946


def test_json_reproduces_the_published_cdnow_estimates(cdnow_csv: Path) -> None:
    result = run_json("--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30")
    assert_published_estimates(result)
    assert result["time_unit"] == "W" and result["calibration_end"] == "1997-09-30"
    assert result["clv"]["months"] == 12 and result["clv"]["mean"] > 0
    assert "holdout" not in result


def test_holdout_compares_forecast_with_actual_purchases(cdnow_csv: Path, raw: pd.DataFrame) -> None:
    result = run_json(
        "--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30", "--holdout-end", "1998-06-30"
    )
    holdout = result["holdout"]
    dates = pd.to_datetime(raw["date"], format="%Y%m%d")
    in_holdout = raw[(dates > "1997-09-30") & (dates <= "1998-06-30")].drop_duplicates(["customer_id", "date"])
    assert holdout["actual"] == len(in_holdout)
    assert holdout["duration"] == 39.0 and holdout["end"] == "1998-06-30"
    groups = holdout["by_frequency"]
    assert [g["frequency"] for g in groups] == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert sum(g["customers"] for g in groups) == 2357
    assert sum(g["customers"] * g["predicted"] for g in groups) == pytest.approx(holdout["predicted"])
    # The forecast rises with past frequency, as in the paper's figure.
    predicted = [g["predicted"] for g in groups]
    assert predicted == sorted(predicted)


def test_parquet_and_renamed_columns_give_the_same_fit(raw: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "cdnow.parquet"
    renamed = raw.rename(columns={"customer_id": "cid", "date": "day", "amount": "usd"})
    renamed.assign(day=pd.to_datetime(renamed["day"], format="%Y%m%d")).to_parquet(path)
    result = run_json(
        "--transactions",
        str(path),
        "--calibration-end",
        "1997-09-30",
        "--customer-col",
        "cid",
        "--date-col",
        "day",
        "--amount-col",
        "usd",
    )
    assert_published_estimates(result)


def test_time_unit_rescales_alpha_and_v_stays(cdnow_csv: Path) -> None:
    weeks = run_json("--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30", "--time-unit", "W")
    days = run_json("--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30", "--time-unit", "D")
    # alpha is a time scale: 7 times larger in days; r, a, b do not change.
    assert days["bgnbd"]["alpha"] == pytest.approx(7 * weeks["bgnbd"]["alpha"], rel=1e-5)
    for name in ("r", "a", "b"):
        assert days["bgnbd"][name] == pytest.approx(weeks["bgnbd"][name], rel=1e-5)
    # A month is 30 days whatever the unit, so lifetime value does not depend on it.
    assert days["clv"]["total"] == pytest.approx(weeks["clv"]["total"], rel=1e-5)


def test_table_output_shows_the_fitted_parameters(cdnow_csv: Path) -> None:
    fitted = run_json("--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30")
    result = runner.invoke(
        segmint_app(), ["clv", "fit", "--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30"]
    )
    assert result.exit_code == 0, result.output
    for name in ("r", "alpha", "a", "b"):
        assert f"{fitted['bgnbd'][name]:.4f}" in result.stdout
    for name in ("p", "q", "v"):
        assert f"{fitted['gamma_gamma'][name]:.4f}" in result.stdout
    assert "BG/NBD" in result.stdout and "Gamma-Gamma" in result.stdout


# -- errors ---------------------------------------------------------------------------


def invoke_error(*args: str) -> BaseException:
    result = runner.invoke(segmint_app(), ["clv", "fit", *args])
    assert result.exit_code != 0
    assert result.exception is not None
    return result.exception


def test_missing_column_names_the_column_and_the_flag(cdnow_csv: Path) -> None:
    error = invoke_error("--transactions", str(cdnow_csv), "--calibration-end", "1997-09-30", "--date-col", "when")
    assert isinstance(error, MappingError)
    assert "'when'" in str(error) and "--date-col" in str(error)


def test_unreadable_date_names_the_column_and_the_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("customer_id,date,amount\n1,1997-01-01,3.5\n1,31/01/1997,2.0\n")
    error = invoke_error("--transactions", str(path), "--calibration-end", "1997-09-30")
    assert isinstance(error, MappingError)
    assert "'date'" in str(error) and "'31/01/1997'" in str(error) and "ISO 8601" in str(error)


def test_missing_file_and_unknown_extension(tmp_path: Path) -> None:
    missing = invoke_error("--transactions", str(tmp_path / "nope.csv"), "--calibration-end", "1997-09-30")
    assert isinstance(missing, NotFoundError) and "nope.csv" in str(missing)
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"not a spreadsheet")
    unknown = invoke_error("--transactions", str(sheet), "--calibration-end", "1997-09-30")
    assert isinstance(unknown, IngestError) and ".csv or .parquet" in str(unknown)


def test_holdout_must_end_after_calibration(cdnow_csv: Path) -> None:
    result = runner.invoke(
        segmint_app(),
        [
            "clv",
            "fit",
            "--transactions",
            str(cdnow_csv),
            "--calibration-end",
            "1997-09-30",
            "--holdout-end",
            "1997-09-01",
        ],
    )
    assert result.exit_code == 2
    assert "--holdout-end" in result.output and "must come after" in result.output


def test_the_segmint_command_prints_errors_without_traceback(cdnow_csv: Path) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "segmint.cli.main",
            "clv",
            "fit",
            "--transactions",
            str(cdnow_csv),
            "--calibration-end",
            "1997-09-30",
            "--amount-col",
            "price",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "error:" in completed.stderr and "'price'" in completed.stderr and "--amount-col" in completed.stderr
    assert "Traceback" not in completed.stderr
