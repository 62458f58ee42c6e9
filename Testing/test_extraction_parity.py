"""Parity on real CT: every MIRV-CT and Henry2022 feature of every lesion against plain PyRadiomics on (full image, mask).

Lesions: the sample tumours of PyRadiomics' lung1/lung2 CTs plus synthetic lesions in other tissue
(heart, aorta, chest wall, vertebra, liver, spleen, lung), and the six lesions of the bundled sample
patient. PyRadiomics runs once per lesion and preset; both engines are compared with it: the
``pyradiomics`` engine must be bit-identical, the ``native`` engine within relative 1e-9 (NaN where
PyRadiomics gives NaN).
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import assert_features_close
from pyradiomics_data import patient_masks
from radiomics import featureextractor, imageoperations

from MIRVLib.extraction import METADATA_COLUMNS, extract_patient, load_preset
from MIRVLib.lesions import Lesion, full_mask, load_lesions
from MIRVLib.resampling import resample_lesion

logging.getLogger("radiomics").setLevel(logging.ERROR)
SAMPLE = "sample"


def _assert_features_equal(ours: dict, reference: dict, lesion: str) -> None:
    names = [k for k in reference if not k.startswith("diagnostics_")]
    assert [k for k in ours if k not in METADATA_COLUMNS] == names, f"{lesion}: feature names/order differ"
    bad = []
    for name in names:
        a, b = float(ours[name]), float(reference[name])
        if np.isnan(b) and np.isnan(a):
            continue
        if a != b:
            bad.append(f"{name}: {a!r} vs {b!r}")
    assert not bad, f"{lesion}: {len(bad)} features differ, e.g. {bad[:5]}"


def _assert_engine_agrees(engine: str, ours: dict, reference: dict, lesion: str) -> None:
    if engine == "pyradiomics":
        _assert_features_equal(ours, reference, lesion)
    else:
        features = {k: float(v) for k, v in ours.items() if k not in METADATA_COLUMNS}
        assert_features_close(features, {k: float(np.real(v)) for k, v in reference.items()
                                         if not k.startswith("diagnostics_")}, lesion)


@functools.cache
def _patient(case: str) -> tuple[str, dict[str, sitk.Image]]:
    """CT path and whole-image lesion masks of a parity patient (lung1, lung2 or the bundled sample)."""
    if case != SAMPLE:
        image_path, masks = patient_masks(case)
        return str(image_path), masks
    from MIRVLib.resources import resources_dir

    folder = resources_dir() / "SampleData"
    image = sitk.ReadImage(str(folder / "baseline_CT.nrrd"))
    lesions = load_lesions(folder / "baseline_lesions.seg.nrrd", reference_image=image)
    return str(folder / "baseline_CT.nrrd"), {lesion.name: full_mask(lesion.mask, image) for lesion in lesions}


@functools.cache
def _pyradiomics_reference(case: str, preset: str) -> tuple[dict, ...]:
    """Plain PyRadiomics (``extractor.execute(full CT, lesion mask)``) for every lesion, computed once."""
    image_path, masks = _patient(case)
    extractor = featureextractor.RadiomicsFeatureExtractor(str(load_preset(preset).path))
    image = sitk.ReadImage(image_path)
    return tuple(extractor.execute(image, sitk.Cast(mask, sitk.sitkUInt32)) for mask in masks.values())


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["native", "pyradiomics"])
@pytest.mark.parametrize("case, preset, jobs", [
    ("lung1", "MIRV-CT", 2), ("lung2", "MIRV-CT", 1), (SAMPLE, "MIRV-CT", 1),
    ("lung1", "Henry2022", 1), ("lung2", "Henry2022", 1), (SAMPLE, "Henry2022", 2),
])
def test_every_feature_agrees_with_plain_pyradiomics(case, preset, jobs, engine):
    image_path, masks = _patient(case)
    lesions = [Lesion(name, mask) for name, mask in masks.items()]
    result = extract_patient(image_path, lesions, preset, patient_id=case, jobs=jobs, engine=engine)
    table = result.features
    assert list(table[METADATA_COLUMNS[1]]) == list(masks)
    assert (table["Status"] == "ok").all(), table["Status"].tolist()
    assert table.shape[1] == len(METADATA_COLUMNS) + {"MIRV-CT": 1218, "Henry2022": 107}[preset]
    assert result.provenance["engine"]["name"] == engine
    for (_, row), name, reference in zip(table.iterrows(), masks, _pyradiomics_reference(case, preset)):
        _assert_engine_agrees(engine, row.to_dict(), reference, f"{engine} {preset} {case}/{name}")


def test_crop_resampling_is_bit_identical_to_pyradiomics():
    image_path, masks = patient_masks("lung1")
    image = sitk.ReadImage(str(image_path))
    settings = load_preset("MIRV-CT").settings
    for name, mask in masks.items():
        ref_image, ref_mask = imageoperations.resampleImage(image, sitk.Cast(mask, sitk.sitkUInt32), **settings)
        our_image, our_mask = resample_lesion(image, mask, settings)
        for ours, ref in ((our_image, ref_image), (our_mask, ref_mask)):
            assert ours.GetSize() == ref.GetSize() and ours.GetOrigin() == ref.GetOrigin(), name
            assert ours.GetSpacing() == ref.GetSpacing() and ours.GetPixelID() == ref.GetPixelID(), name
            assert np.array_equal(sitk.GetArrayViewFromImage(ours), sitk.GetArrayViewFromImage(ref)), name


def test_too_small_a_crop_margin_would_change_voxels():
    """The margin matters: with none, B-spline coefficients at the crop border differ (guards the test above)."""
    image_path, masks = patient_masks("lung1")
    image = sitk.ReadImage(str(image_path))
    settings = load_preset("MIRV-CT").settings
    mask = masks["heart"]
    ref_image, _ = imageoperations.resampleImage(image, sitk.Cast(mask, sitk.sitkUInt32), **settings)
    our_image, _ = resample_lesion(image, mask, settings, margin=0)
    assert not np.array_equal(sitk.GetArrayViewFromImage(our_image), sitk.GetArrayViewFromImage(ref_image))


@pytest.mark.parametrize(
    "spacing, target, direction",
    [
        ((0.7, 0.7, 3.0), [1, 1, 2], (1, 0, 0, 0, 1, 0, 0, 0, 1)),
        ((1.3, 1.1, 1.0), [0.5, 0.6, 0.7], (0, 1, 0, -1, 0, 0, 0, 0, 1)),  # upsampling, rotated axes
        ((1.0, 1.0, 2.0), [1, 1, 2], (1, 0, 0, 0, 1, 0, 0, 0, 1)),  # spacing already matches: crop only
        ((0.8, 0.8, 2.5), [1, 1, 0], (1, 0, 0, 0, 1, 0, 0, 0, 1)),  # 0 keeps the original slice spacing
    ],
)
def test_resampling_matches_pyradiomics_on_other_geometries(spacing, target, direction):
    rng = np.random.default_rng(7)
    array = rng.integers(-1000, 1500, size=(40, 90, 80)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    image.SetOrigin((-12.3, 45.6, -78.9))
    mask_array = np.zeros(array.shape, np.uint8)
    mask_array[12:20, 30:50, 20:45] = 1
    mask_array[20, 40:45, 40:50] = 1
    mask = sitk.GetImageFromArray(mask_array)
    mask.CopyInformation(image)
    settings = {"resampledPixelSpacing": target, "interpolator": "sitkBSpline", "padDistance": 10, "label": 1}
    ref_image, ref_mask = imageoperations.resampleImage(image, sitk.Cast(mask, sitk.sitkUInt32), **settings)
    our_image, our_mask = resample_lesion(image, mask, settings)
    assert our_image.GetSize() == ref_image.GetSize() and our_image.GetOrigin() == ref_image.GetOrigin()
    assert np.array_equal(sitk.GetArrayViewFromImage(our_image), sitk.GetArrayViewFromImage(ref_image))
    assert np.array_equal(sitk.GetArrayViewFromImage(our_mask), sitk.GetArrayViewFromImage(ref_mask))


SETTING_VARIANTS = {
    "no resampling": "  binWidth: 25\n",
    "no resampling, preCrop": "  binWidth: 25\n  preCrop: true\n  padDistance: 3\n",
    "normalize": "  normalize: true\n  normalizeScale: 100\n  interpolator: sitkBSpline\n  resampledPixelSpacing: [1, 1, 2]\n",
    "spacing already matches (crop only)": "  interpolator: sitkLinear\n  resampledPixelSpacing: [0.8, 0.8, 2.5]\n",
    "label 2, 0 keeps slice spacing": "  label: 2\n  interpolator: sitkBSpline\n  resampledPixelSpacing: [0.7, 0.7, 0]\n",
}


@pytest.mark.parametrize("engine", ["native", "pyradiomics"])
@pytest.mark.parametrize("variant", list(SETTING_VARIANTS))
def test_other_pyradiomics_settings_give_plain_pyradiomics_values(variant, engine, tmp_path):
    from pyradiomics_data import ball_mask, synthetic_ct

    preset = tmp_path / "variant.yaml"
    preset.write_text("imageType:\n  Original: {}\n  Wavelet: {}\nfeatureClass:\n  shape:\n  firstorder:\n  glcm:\n"
                      "  glszm:\nsetting:\n" + SETTING_VARIANTS[variant])
    ct = synthetic_ct()
    masks = {"a": ball_mask(ct, (30, 32, 10), 7), "b": ball_mask(ct, (18, 40, 8), 4)}
    result = extract_patient(ct, [Lesion(n, m) for n, m in masks.items()], preset, jobs=1, engine=engine)
    assert (result.features["Status"] == "ok").all(), result.features["Status"].tolist()
    extractor = featureextractor.RadiomicsFeatureExtractor(str(preset))
    label = int(extractor.settings.get("label", 1))
    for (_, row), (name, mask) in zip(result.features.iterrows(), masks.items()):
        reference = extractor.execute(ct, sitk.Cast(mask, sitk.sitkUInt32) * label)
        _assert_engine_agrees(engine, row.to_dict(), reference, f"{engine} {variant}/{name}")
