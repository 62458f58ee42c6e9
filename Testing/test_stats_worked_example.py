"""docs/statistics.md's worked example ("does MIRV add to clinical variables?"): its exact commands, run here on
the shipped SARC021 data, print exactly the output the page shows, and the numbers quoted in the text hold."""

from __future__ import annotations

import re
import shlex

import pandas as pd
import pytest

from MIRVLib.cli import main

SECTION = "## Worked example: does MIRV add to clinical variables?"


def _blocks(repo_root) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of the section, in order."""
    text = (repo_root / "docs" / "statistics.md").read_text(encoding="utf-8")
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def test_documented_commands_print_the_documented_output(repo_root, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "Testing").symlink_to(repo_root / "Testing")  # the page's paths are relative to the repository root
    blocks = _blocks(repo_root)
    commands = [line for language, body in blocks if language == "bash" for line in body.splitlines() if line.strip()]
    outputs = [body for language, body in blocks if language == "text"]
    assert len(commands) == 3 and len(outputs) == 2
    assert main(shlex.split(commands[0])[1:]) == 0  # mirv cohort: its own summary is not part of the page
    capsys.readouterr()
    for command, expected in zip(commands[1:], outputs):
        assert main(shlex.split(command)[1:]) == 0
        assert capsys.readouterr().out == expected

    roc = pd.read_csv("example/stats/roc_summary.csv").set_index("Predictor")
    pairs = pd.read_csv("example/stats/roc_pairs.csv").iloc[0]
    comparison = pd.read_csv("example/stats/model_comparison.csv").iloc[0]
    assert roc.loc["clinical", "AUC"] == pytest.approx(0.589, abs=5e-4)
    assert roc.loc["clinical+MIRV", "AUC"] == pytest.approx(0.677, abs=5e-4)
    assert pairs["P"] == pytest.approx(0.0394, abs=5e-5)
    assert (comparison["MeanDifference"], comparison["P"]) == pytest.approx((0.06, 0.268), abs=5e-4)
