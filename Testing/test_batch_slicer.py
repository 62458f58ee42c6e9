"""Headless Slicer manifest mode: the same cohort through the MIRV module's Logic (MRML nodes) gives the
same patients.csv as `mirv batch` (plain Python with slicer-core, scene from `slicer_env`)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("slicer", reason="slicer-core is not installed")
from batch_cohort import make_cohort, write_small_preset  # noqa: E402
from slicer_env import REPO_ROOT, make_slicer_environment  # noqa: E402

from MIRVLib.cli import main  # noqa: E402

pytestmark = pytest.mark.slicer
REDUCTION = ["--feature-correlation", "0.9", "--volume-correlation", "0.2"]


@pytest.fixture()
def env():
    environment = make_slicer_environment()
    assert hasattr(environment.modules, "mirv"), "MIRVLogic (Slicer module logic) failed to import"
    scripts = str(REPO_ROOT / "MIRV" / "Scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    return environment


def test_manifest_through_the_logic_equals_mirv_batch(env, tmp_path: Path) -> None:
    """`MIRVBatch.py --manifest` run as a script (as under ``Slicer --python-script``), then resumed."""
    manifest = make_cohort(tmp_path, 5)  # P03 corrupt image, P05 one empty lesion
    preset = write_small_preset(tmp_path)
    cli, slicer_out = tmp_path / "cli", tmp_path / "slicer"
    assert main(["batch", "--manifest", str(manifest), "--out", str(cli), "--preset", str(preset), *REDUCTION]) == 3
    script = [str(REPO_ROOT / "MIRV" / "Scripts" / "MIRVBatch.py"), "--manifest", str(manifest), "--out",
              str(slicer_out), "--preset", str(preset), *REDUCTION]
    done = subprocess.run([sys.executable, *script], capture_output=True, text=True, encoding="utf-8", timeout=600)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "failed P03/ (image)" in done.stderr and "5 patient(s) computed" in done.stdout

    assert (slicer_out / "patients.csv").read_bytes() == (cli / "patients.csv").read_bytes()
    failures = [pd.read_csv(d / "failures.csv", dtype=str, keep_default_na=False) for d in (cli, slicer_out)]
    assert failures[1][["PatientID", "LesionID", "Stage"]].values.tolist() == \
        failures[0][["PatientID", "LesionID", "Stage"]].values.tolist() == [["P03", "", "image"],
                                                                           ["P05", "lesion5", "extraction"]]
    lesions = [pd.read_csv(d / "lesions.csv", dtype={"PatientID": str, "LesionID": str}, float_precision="round_trip")
               for d in (cli, slicer_out)]
    features = [c for c in lesions[0].columns if c.startswith("original_")]
    assert lesions[1][["PatientID", "LesionID", "Status"]].equals(lesions[0][["PatientID", "LesionID", "Status"]])
    np.testing.assert_array_equal(lesions[1][features].to_numpy(float), lesions[0][features].to_numpy(float))

    import MIRVBatch

    before = (slicer_out / "patients.csv").read_bytes()
    assert MIRVBatch.main(script[1:] + ["--resume"]) == 3
    assert json.loads((slicer_out / "provenance.json").read_text(encoding="utf-8"))["run"]["computed"] == []
    assert (slicer_out / "patients.csv").read_bytes() == before


def test_manifest_patients_leave_no_nodes_behind(env, tmp_path: Path) -> None:
    """Each patient's nodes are removed after it, also with the Logic's per-patient process pool (--jobs 2)."""
    import MIRVManifest

    manifest = make_cohort(tmp_path, 3, corrupt="P02", empty_lesion=None)
    parser = argparse.ArgumentParser()
    for name in ("--manifest", "--out", "--preset"):
        parser.add_argument(name)
    MIRVManifest.add_manifest_arguments(parser)
    parser.add_argument("--jobs", type=int)
    args = parser.parse_args(["--manifest", str(manifest), "--out", str(tmp_path / "out"),
                              "--preset", str(write_small_preset(tmp_path)), "--jobs", "2", *REDUCTION])
    nodes = env.scene.GetNumberOfNodes()
    assert MIRVManifest.run_manifest(args, env.logic("mirv"), env.scene) == 3
    assert env.scene.GetNumberOfNodes() == nodes
    assert pd.read_csv(tmp_path / "out" / "patients.csv")["PatientID"].tolist() == ["P01", "P03"]
