"""`mirv stats` on data the Cox model cannot be estimated from, and on an --out it cannot write: a clear
error and exit code instead of HR 4e8 with CI 0..inf or a traceback (issue 14 §4, §5)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from MIRVLib.cli import main
from MIRVLib.stats.cox import CoxFitError, fit_cox


@pytest.fixture
def separated(tmp_path):
    """Group G=1 all die before every G=0 patient: complete separation on G."""
    rng = np.random.default_rng(0)
    n = 40
    group = (np.arange(n) < 20).astype(float)
    frame = pd.DataFrame({
        "PatientID": [f"P{i}" for i in range(n)],
        "T": np.where(group == 1, rng.uniform(1, 5, n), rng.uniform(10, 20, n)), "E": 1,
        "G": group, "X": rng.normal(size=n),
    })
    path = tmp_path / "table.csv"
    frame.to_csv(path, index=False)
    return frame, path


def test_separation_is_an_error_naming_the_covariate(separated):
    with pytest.raises(CoxFitError, match=r"cox: \(quasi-\)complete separation on \['G'\]: .* give --penalizer"):
        fit_cox(separated[0], "T", "E", ["G", "X"])


def test_separation_on_the_cli_exits_1_and_shows_lifelines_warning(separated, tmp_path, capsys, caplog):
    args = ["stats", "cox", "--table", str(separated[1]), "--id", "PatientID", "--duration", "T", "--event", "E",
            "--covariates", "G,X", "--out", str(tmp_path / "out")]
    with caplog.at_level(logging.WARNING):
        assert main(args) == 1
    assert "complete separation on ['G']" in capsys.readouterr().err
    assert any("cox: lifelines: Newton-Raphson convergence completed successfully but norm(delta) is still high"
               in record.getMessage() for record in caplog.records)
    assert not (tmp_path / "out" / "cox_summary.csv").exists()
    assert main([*args, "--penalizer", "0.1"]) == 0  # penalised: a finite, usable estimate
    summary = pd.read_csv(tmp_path / "out" / "cox_summary.csv").set_index("covariate")
    assert np.isfinite(summary.loc["G", "exp(coef) upper 95%"]) and summary.loc["G", "coef"] > 1


def test_stats_out_that_is_a_file_is_refused_before_reading(separated, capsys):
    path = separated[1]
    before = path.read_bytes()
    code = main(["stats", "correlate", "--table", str(path), "--columns", "X,T", "--out", str(path)])
    assert code == 2
    assert f"--out {path} is the input {path}; writing there would destroy it" in capsys.readouterr().err
    assert path.read_bytes() == before
