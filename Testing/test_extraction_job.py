"""Feature extraction off the GUI thread (`MIRVLogic.extraction_job`): a background process the module polls.

The module's responsiveness rests on three things tested here on real MRML: starting returns at once, progress
can be read while the worker runs, Cancel stops it within one lesion — and the result is exactly the in-process
extraction's.
"""

from __future__ import annotations

import time

import pytest
from slicer_env import load_sample_patient, slicer  # noqa: F401  (skips without slicer-core)

pytestmark = pytest.mark.slicer


@pytest.fixture()
def patient(slicer_env):
    return slicer_env.logic("mirv"), *load_sample_patient(slicer_env.scene)


def test_background_extraction_equals_the_in_process_one(patient):
    logic, volume, segmentation = patient
    started = time.monotonic()
    job = logic.startExtraction(volume, segmentation, patientID="P1")
    assert time.monotonic() - started < 2.0 and job.running
    progress = []
    while job.running:
        progress.append(job.progress())
        time.sleep(0.02)
    final = job.progress()
    assert (final.done, final.total) == (6, 6) and final.lesion
    assert [p.done for p in progress] == sorted(p.done for p in progress) and progress[0].total == 6
    table = logic.finishExtraction(job)
    assert not job.folder.exists()
    reference = logic.extractFeatures(volume, segmentation, patientID="P1")
    background, in_process = logic.featureFrame(table), logic.featureFrame(reference)
    assert list(background.columns) == list(in_process.columns) and len(background.columns) > 1000
    assert background.equals(in_process)  # every feature, bit for bit
    assert logic.provenance(table)["lesions"] == logic.provenance(reference)["lesions"]
    assert table.GetAttribute("MIRV.SegmentationNodeID") == segmentation.GetID()
    assert table.GetColumnUnitLabel("original_shape_VoxelVolume") == "mm3"


def test_cancel_stops_within_one_lesion_and_leaves_no_table(patient):
    logic, volume, segmentation = patient
    tables = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode")
    job = logic.startExtraction(volume, segmentation)
    while job.progress().done < 1:
        assert job.running
        time.sleep(0.01)
    job.cancel()
    done_at_cancel = job.progress().done
    assert job.cancelled
    job.wait(timeout=60)
    assert job.progress().done <= done_at_cancel + 1 < 6
    from MIRVLogic import ExtractionCancelled

    with pytest.raises(ExtractionCancelled):
        logic.finishExtraction(job)
    assert slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLTableNode") == tables and not job.folder.exists()


def test_a_worker_failure_reports_its_traceback(patient, tmp_path):
    logic, volume, segmentation = patient
    broken = tmp_path / "broken.yaml"
    broken.write_text("setting: [this is: not valid\n", encoding="utf-8")
    job = logic.startExtraction(volume, segmentation, preset=broken)
    job.wait(timeout=60)
    with pytest.raises(RuntimeError, match="the extraction process failed \\(exit code 1\\)") as failure:
        logic.finishExtraction(job)
    assert "Traceback" in str(failure.value) and "broken.yaml" in str(failure.value)


def test_nodes_removed_during_the_extraction_are_reported(patient):
    logic, volume, segmentation = patient
    job = logic.startExtraction(volume, segmentation)
    slicer.mrmlScene.RemoveNode(volume)
    job.wait(timeout=120)
    with pytest.raises(ValueError, match="removed from the scene"):
        logic.finishExtraction(job)
