"""The extraction API other modules build on: progress callback, in-memory images, picklable tasks, presets."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import ball_mask, light_preset, synthetic_ct

from MIRVLib.extraction import extract_lesion, extract_patient, feature_names, load_preset, prepare_image
from MIRVLib.lesions import Lesion


@pytest.fixture(scope="module")
def ct() -> sitk.Image:
    return synthetic_ct()


def test_progress_callback_and_in_memory_provenance(ct, tmp_path):
    calls = []
    lesions = [Lesion("a", ball_mask(ct, (30, 32, 10), 6), site="lung"), Lesion("b", ball_mask(ct, (20, 40, 8), 5))]
    result = extract_patient(ct, lesions, light_preset(tmp_path), patient_id="P1",
                             progress=lambda done, total, name: calls.append((done, total, name)))
    assert calls == [(1, 2, "a"), (2, 2, "b")]
    assert result.features["Site"].tolist() == ["lung", ""]
    image = result.provenance["image"]
    assert image["source"] == "<in-memory>" and len(image["sha256"]) == 64
    assert image["geometry"]["size"] == list(ct.GetSize())
    assert [entry["voxels"] for entry in result.provenance["lesions"]] == [lesion.voxel_count for lesion in lesions]


def test_prepared_image_and_lesion_tasks_pickle(ct, tmp_path):
    preset = light_preset(tmp_path)
    prepared = prepare_image(ct, preset, patient_id="P2")
    lesion = Lesion("a", ball_mask(ct, (30, 32, 10), 6))
    direct = extract_lesion(prepared, lesion)
    again = extract_lesion(pickle.loads(pickle.dumps(prepared)), pickle.loads(pickle.dumps(lesion)))
    assert direct == again and direct["Status"] == "ok" and direct["PatientID"] == "P2"
    assert list(direct)[5:] == feature_names(preset)


def test_lesion_with_another_preset_than_the_prepared_image_is_refused(ct, tmp_path):
    prepared = prepare_image(ct, light_preset(tmp_path))
    row = extract_lesion(prepared, Lesion("a", ball_mask(ct, (30, 32, 10), 6)), "Henry2022")
    assert row["Status"].startswith("error: image was prepared for preset") and "Henry2022" in row["Status"]


def test_shipped_presets_resolve_by_name():
    assert load_preset("MIRV-CT").name == "MIRV-CT"
    assert load_preset("Henry2022").settings["binWidth"] == 10
    with pytest.raises(FileNotFoundError, match="unknown preset 'nope'"):
        load_preset("nope")


def test_same_image_in_memory_or_from_file_gives_identical_features(ct, tmp_path):
    sitk.WriteImage(ct, str(tmp_path / "ct.nrrd"))
    preset = light_preset(tmp_path)
    lesion = Lesion("a", ball_mask(ct, (30, 32, 10), 6))
    from_file = extract_patient(tmp_path / "ct.nrrd", [lesion], preset).features
    in_memory = extract_patient(ct, [lesion], preset).features
    np.testing.assert_array_equal(from_file.iloc[:, 5:].to_numpy(float), in_memory.iloc[:, 5:].to_numpy(float))


def test_pool_progress_runs_on_the_calling_thread_and_rows_keep_lesion_order(ct, tmp_path):
    import threading

    preset = light_preset(tmp_path)
    lesions = [Lesion(f"L{i}", ball_mask(ct, (16 + 8 * i, 32, 10), 3 + i)) for i in range(5)]
    threads, calls = set(), []

    def progress(done, total, name):
        threads.add(threading.current_thread().name)
        calls.append((done, total))

    pooled = extract_patient(ct, lesions, preset, jobs=3, progress=progress).features
    assert threads == {threading.current_thread().name}
    assert calls == [(i, 5) for i in range(1, 6)]
    serial = extract_patient(ct, lesions, preset, jobs=1).features
    assert list(pooled["LesionID"]) == [f"L{i}" for i in range(5)]
    np.testing.assert_array_equal(pooled.iloc[:, 5:].to_numpy(float), serial.iloc[:, 5:].to_numpy(float))
