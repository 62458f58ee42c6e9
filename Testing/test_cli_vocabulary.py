"""One CLI vocabulary (docs/cli.md, issue 15): every old spelling still works, says it is deprecated and gives
what the new spelling gives; short flags; global flags after the sub-command; help text for every option; the
paper's two readings of complete tumour response (TSRC) on the shipped SARC021 lung subset."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from batch_cohort import make_cohort, write_small_preset

import MIRVLib
from MIRVLib.cli import build_parser, main
from MIRVLib.cli_options import sub_parsers
from MIRVLib.response import lesion_responds

REPO = Path(__file__).resolve().parents[1]
COHORT = ["cohort", "--features", "f.csv", "-o", "out"]
KM = ["stats", "km", "--table", "t.csv", "-o", "out", "--duration", "T_OS", "--event", "E_OS", "--metrics", "M"]

# (old spelling, new spelling, deprecation line, dest and value the new spelling sets); values are not defaults.
DEPRECATED = [
    (COHORT + ["--preset", "reference"], COHORT + ["--reduction", "reference"],
     "mirv cohort: --preset reference is deprecated, use --reduction reference", ("reduction", "reference")),
    (COHORT + ["--extraction-preset", "Henry2022"], COHORT + ["--preset", "Henry2022"],
     "mirv cohort: --extraction-preset Henry2022 is deprecated, use --preset Henry2022", ("preset", "Henry2022")),
    (["batch", "--manifest", "m.csv", "-o", "out", "--fit", "reference"],
     ["batch", "--manifest", "m.csv", "-o", "out", "--reduction", "reference"],
     "mirv batch: --fit reference is deprecated, use --reduction reference", ("reduction", "reference")),
    (["stats", "simulate", "--features", "f.csv", "-o", "out", "--preset", "reference"],
     ["stats", "simulate", "--features", "f.csv", "-o", "out", "--reduction", "reference"],
     "mirv stats simulate: --preset reference is deprecated, use --reduction reference", ("reduction", "reference")),
    (KM + ["--group-by", "CPCELL"], KM + ["--group", "CPCELL"],
     "mirv stats km: --group-by CPCELL is deprecated, use --group CPCELL", ("group", "CPCELL")),
    (["stats", "report", "--out", "stats"], ["stats", "report", "--in", "stats"],
     "mirv stats report: --out stats is deprecated, use --in stats", ("folder", "stats")),
]

# (short flags, the same with long flags)
SHORT = [
    (["extract", "-i", "ct.nrrd", "-l", "seg.nrrd", "-p", "Henry2022", "-j", "2", "-o", "x.csv"],
     ["extract", "--image", "ct.nrrd", "--lesions", "seg.nrrd", "--preset", "Henry2022", "--jobs", "2", "--out", "x.csv"]),
    (["robustness", "-i", "ct.nrrd", "-l", "seg.nrrd", "-p", "Henry2022", "-j", "2", "-o", "r.txt"],
     ["robustness", "--image", "ct.nrrd", "--lesions", "seg.nrrd", "--preset", "Henry2022", "--jobs", "2", "--out", "r.txt"]),
    (["batch", "--manifest", "m.csv", "-p", "Henry2022", "-j", "2", "-o", "out"],
     ["batch", "--manifest", "m.csv", "--preset", "Henry2022", "--jobs", "2", "--out", "out"]),
    (["cohort", "--features", "f.csv", "-p", "Henry2022", "-o", "out"],
     ["cohort", "--features", "f.csv", "--preset", "Henry2022", "--out", "out"]),
    (["stats", "correlate", "--table", "t.csv", "--columns", "A,B", "-o", "out"],
     ["stats", "correlate", "--table", "t.csv", "--columns", "A,B", "--out", "out"]),
]


def parse(argv: list[str], parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    return (parser or build_parser()).parse_args(argv)


@pytest.mark.parametrize(("old", "new", "note", "expected"), DEPRECATED, ids=[case[2].split(" is ")[0] for case in DEPRECATED])
def test_old_spelling_parses_as_the_new_one_and_says_so(old, new, note, expected, capsys):
    old_args = parse(old)
    assert capsys.readouterr().err.strip() == note
    new_args = parse(new)
    assert capsys.readouterr().err == ""
    assert vars(old_args) == vars(new_args)
    dest, value = expected
    assert getattr(new_args, dest) == value


def test_short_flags_equal_long_ones():
    for short, long in SHORT:
        assert vars(parse(short)) == vars(parse(long)), short


def test_verbose_and_version_after_the_subcommand(capsys):
    assert parse(["info"]).verbose is False
    assert parse(["-v", "info"]).verbose is True
    assert parse(["info", "-v"]).verbose is True
    assert parse(["stats", "report", "--in", "stats", "--verbose"]).verbose is True
    assert parse(["stats", "-v", "report", "--in", "stats"]).verbose is True
    assert parse(["stats", "report", "--in", "stats"]).verbose is False
    with pytest.raises(SystemExit) as stop:
        parse(["extract", "--version"])
    assert stop.value.code == 0 and capsys.readouterr().out.strip() == f"mirv {MIRVLib.__version__}"
    assert main(["info", "--json", "-v"]) == 0
    assert json.loads(capsys.readouterr().out)["presets"]


@pytest.fixture(scope="module")
def scripts():
    """MIRVBatch.py and MIRVDemo.py (they need slicer-core)."""
    pytest.importorskip("slicer")
    folder = str(REPO / "MIRV" / "Scripts")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import MIRVBatch
    import MIRVDemo

    return MIRVBatch, MIRVDemo


def every_parser(scripts=None) -> list[argparse.ArgumentParser]:
    root = build_parser()
    parsers = [root, *sub_parsers(root)]
    if scripts:
        parsers += [module.build_parser() for module in scripts]
    return parsers


def test_every_option_and_command_has_help(scripts):
    missing = []
    for parser in every_parser(scripts):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{parser.prog} {choice.dest}" for choice in action._choices_actions if not choice.help]
            if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip():
                missing.append(f"{parser.prog} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help: " + ", ".join(missing)


def test_help_shows_the_new_spelling_and_names_the_old_one(scripts):
    renamed = [(parser, action) for parser in every_parser(scripts) for action in parser._actions if getattr(action, "old", ())]
    assert len(renamed) >= 6
    for parser, action in renamed:
        text = " ".join(parser.format_help().split())
        for old in action.old:
            assert f"(formerly {old})" in text and f"{old} {action.metavar or action.dest.upper()}" not in text


def test_docs_list_every_deprecated_spelling_with_its_replacement(scripts):
    docs = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    rows = {line for line in docs.splitlines() if line.startswith("|")}
    for parser in every_parser(scripts):
        for action in parser._actions:
            for old in getattr(action, "old", ()):
                command = parser.prog.removeprefix("mirv ")
                assert any(f"`{command}`" in row and f"`{old}`" in row and f"`{action.name}`" in row for row in rows), \
                    (command, old)
    assert "`--preset paper`" in docs and "`--reduction paper`" in docs


def test_scripts_follow_the_vocabulary(scripts, capsys):
    batch, demo = scripts
    old = parse(["--manifest", "m.csv", "-o", "out", "--fit", "reference"], batch.build_parser())
    assert capsys.readouterr().err.strip() == "MIRVBatch.py: --fit reference is deprecated, use --reduction reference"
    assert vars(old) == vars(parse(["--manifest", "m.csv", "-o", "out", "--reduction", "reference"], batch.build_parser()))
    short = ["-i", "ct.nrrd", "-l", "seg.nrrd", "-p", "Henry2022", "-j", "2", "-o", "out", "--response-reading", "results"]
    long = ["--image", "ct.nrrd", "--lesions", "seg.nrrd", "--preset", "Henry2022", "--jobs", "2", "--out", "out",
            "--response-reading", "results"]
    assert vars(parse(short, batch.build_parser())) == vars(parse(long, batch.build_parser()))
    assert parse(short, batch.build_parser()).response_reading == "results"
    assert vars(parse(["-o", "d", "-j", "2"], demo.build_parser())) == vars(parse(["--out", "d", "--jobs", "2"],
                                                                                  demo.build_parser()))


def test_lesion_response_readings_at_the_threshold():
    change = pd.Series([-50.0, -33.0, -32.9, 0.0, 32.9, 33.0, np.nan])
    assert lesion_responds(change, 33, "methods").tolist() == [True, True, True, True, True, False, False]
    assert lesion_responds(change, 33, "results").tolist() == [True, True, False, False, False, False, False]
    with pytest.raises(ValueError, match="response reading"):
        lesion_responds(change, 33, "recist")


@pytest.fixture(scope="module")
def sarc021_runs(sarc021_dir, tmp_path_factory):
    """`mirv cohort` on the SARC021 lung subset: old spelling, new spelling, and the Results' TSRC reading."""
    runs = {}
    for name, options in (("old", ["--preset", "reference"]), ("new", ["--reduction", "reference"]),
                          ("results", ["--reduction", "reference", "--response-reading", "results"])):
        out = tmp_path_factory.mktemp(name)
        assert main(["cohort", "--features", str(sarc021_dir / "lung_lesion_features.csv.gz"),
                     "--volumes", str(sarc021_dir / "lung_lesion_volumes.csv"), *options, "-o", str(out)]) == 0
        runs[name] = out
    return runs


def test_old_and_new_spelling_write_identical_results(sarc021_runs):
    for name in ("patients.csv", "selected_features.csv", "lesion_volume_changes.csv"):
        assert (sarc021_runs["old"] / name).read_bytes() == (sarc021_runs["new"] / name).read_bytes(), name
    old, new = (json.loads((sarc021_runs[k] / "model.json").read_text(encoding="utf-8")) for k in ("old", "new"))
    assert {**old, "created": None} == {**new, "created": None}
    old, new = (json.loads((sarc021_runs[k] / "provenance.json").read_text(encoding="utf-8")) for k in ("old", "new"))
    assert old["parameters"] == new["parameters"] and new["parameters"]["reduction"]["preset"] == "reference"


def test_tsrc_readings_on_sarc021(sarc021_runs, sarc021_dir):
    """The issue's numbers: the Methods' reading gives 43 of the 85 patients with MIRV a complete response, the
    Results' ("met a 33 % reduction") 6; both recomputed here from the raw volume table."""
    volumes = pd.read_csv(sarc021_dir / "lung_lesion_volumes.csv", dtype={"PatientID": str, "LesionID": str})
    change = (volumes["VolumeFollowUp"] - volumes["VolumeBaseline"]) / volumes["VolumeBaseline"] * 100
    by_patient = volumes["PatientID"]
    expected = {"methods": (change < 33).groupby(by_patient).all(), "results": (change <= -33).groupby(by_patient).all()}
    for run, reading, responders in (("new", "methods", 43), ("results", "results", 6)):
        patients = pd.read_csv(sarc021_runs[run] / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
        with_mirv = patients.dropna(subset=["MIRVMaxDissimilarity"])
        assert len(with_mirv) == 85 and with_mirv["CompleteTumorResponse"].sum() == responders
        assert patients["CompleteTumorResponse"].astype(bool).equals(expected[reading].reindex(patients.index))
        provenance = json.loads((sarc021_runs[run] / "provenance.json").read_text(encoding="utf-8"))
        assert provenance["parameters"]["responseReading"] == reading


def test_batch_response_reading(tmp_path):
    """`mirv batch --response-reading`: follow-up lesions shrunk by 0-54 % (the generated follow-up taken as
    baseline); the reading only re-scores, so a --resume run switches it without extracting again."""
    manifest = make_cohort(tmp_path, 4, corrupt=None, empty_lesion=None, follow_up=True)
    table = pd.read_csv(manifest, dtype=str)
    table = table.rename(columns={"Image": "FollowUpImage", "Lesions": "FollowUpLesions",
                                  "FollowUpImage": "Image", "FollowUpLesions": "Lesions"})
    table.to_csv(manifest, index=False)
    out = tmp_path / "out"
    common = ["batch", "--manifest", str(manifest), "-o", str(out), "-p", str(write_small_preset(tmp_path)),
              "--feature-correlation", "0.9", "--volume-correlation", "0.2"]
    responders = {}
    for reading, extra in (("methods", []), ("results", ["--resume"])):
        assert main([*common, "--response-reading", reading, *extra]) == 0
        changes = pd.read_csv(out / "lesion_volume_changes.csv", dtype={"PatientID": str})
        percent = (changes["VolumeFollowUp"] - changes["VolumeBaseline"]) / changes["VolumeBaseline"] * 100
        responds = percent < 33 if reading == "methods" else percent <= -33
        patients = pd.read_csv(out / "patients.csv", dtype={"PatientID": str}).set_index("PatientID")
        expected = responds.groupby(changes["PatientID"]).all().astype(int)
        assert patients["CompleteTumorResponse"].to_dict() == expected.to_dict()
        provenance = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
        assert provenance["parameters"]["responseReading"] == reading
        responders[reading] = int(expected.sum())
    assert provenance["run"]["computed"] == []  # the second run re-scored the stored patients
    assert responders["methods"] == 4 and 0 < responders["results"] < 4
