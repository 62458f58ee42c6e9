"""Parity on real CT: every MIRV-CT feature of every lesion equals plain PyRadiomics on (full image, mask).

Lesions: the sample tumours of PyRadiomics' lung1/lung2 CTs plus synthetic lesions in other tissue
(heart, aorta, chest wall, vertebra, liver, spleen, lung). Every value must be equal (NaN where PyRadiomics gives NaN).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import featureextractor, imageoperations

from MIRVLib.extraction import METADATA_COLUMNS, extract_patient, load_preset
from MIRVLib.lesions import Lesion
from MIRVLib.resampling import resample_lesion
from pyradiomics_data import patient_masks

logging.getLogger("radiomics").setLevel(logging.ERROR)


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


@pytest.mark.slow
@pytest.mark.parametrize("case, jobs", [("lung1", 2), ("lung2", 1)])
def test_every_mirv_ct_feature_equals_plain_pyradiomics(case, jobs):
    image_path, masks = patient_masks(case)
    lesions = [Lesion(name, mask) for name, mask in masks.items()]
    result = extract_patient(image_path, lesions, "MIRV-CT", patient_id=case, jobs=jobs)
    table = result.features
    assert list(table[METADATA_COLUMNS[1]]) == list(masks)
    assert (table["Status"] == "ok").all(), table["Status"].tolist()
    assert table.shape[1] == len(METADATA_COLUMNS) + 1218
    extractor = featureextractor.RadiomicsFeatureExtractor(str(load_preset("MIRV-CT").path))
    image = sitk.ReadImage(str(image_path))
    for (_, row), (name, mask) in zip(table.iterrows(), masks.items()):
        reference = extractor.execute(image, mask)
        _assert_features_equal(row.to_dict(), reference, f"{case}/{name}")


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


@pytest.mark.parametrize("variant", list(SETTING_VARIANTS))
def test_other_pyradiomics_settings_give_plain_pyradiomics_values(variant, tmp_path):
    from pyradiomics_data import ball_mask, synthetic_ct

    preset = tmp_path / "variant.yaml"
    preset.write_text("imageType:\n  Original: {}\n  Wavelet: {}\nfeatureClass:\n  shape:\n  firstorder:\n  glcm:\n"
                      "  glszm:\nsetting:\n" + SETTING_VARIANTS[variant])
    ct = synthetic_ct()
    masks = {"a": ball_mask(ct, (30, 32, 10), 7), "b": ball_mask(ct, (18, 40, 8), 4)}
    result = extract_patient(ct, [Lesion(n, m) for n, m in masks.items()], preset, jobs=1)
    assert (result.features["Status"] == "ok").all(), result.features["Status"].tolist()
    extractor = featureextractor.RadiomicsFeatureExtractor(str(preset))
    label = int(extractor.settings.get("label", 1))
    for (_, row), (name, mask) in zip(result.features.iterrows(), masks.items()):
        reference = extractor.execute(ct, sitk.Cast(mask, sitk.sitkUInt32) * label)
        _assert_features_equal(row.to_dict(), reference, f"{variant}/{name}")


def test_henry2022_preset_equals_plain_pyradiomics_on_real_ct():
    image_path, masks = patient_masks("lung1")
    chosen = {name: masks[name] for name in ("tumour", "vertebra")}
    result = extract_patient(image_path, [Lesion(n, m) for n, m in chosen.items()], "Henry2022", patient_id="lung1")
    assert result.features.shape[1] == len(METADATA_COLUMNS) + 107
    extractor = featureextractor.RadiomicsFeatureExtractor(str(load_preset("Henry2022").path))
    image = sitk.ReadImage(str(image_path))
    for (_, row), (name, mask) in zip(result.features.iterrows(), chosen.items()):
        _assert_features_equal(row.to_dict(), extractor.execute(image, mask), f"Henry2022/{name}")
