"""Parameter sets are checked whole, before any lesion: nothing the native engine cannot honour passes silently."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from MIRVLib.engine.params import DEFAULT_SETTINGS, ParameterError, validate
from MIRVLib.resources import preset_path


@pytest.mark.parametrize("preset", ["MIRV-CT", "Henry2022"])
def test_shipped_presets_are_valid_and_complete(preset):
    params = yaml.safe_load(preset_path(preset).read_text())
    parsed = validate(params, preset)
    assert list(parsed.image_types) == list(params["imageType"])
    assert list(parsed.feature_classes) == list(params["featureClass"])
    for name, value in params["setting"].items():
        assert parsed.settings[name] == value
    assert parsed.settings["minimumROIDimensions"] == DEFAULT_SETTINGS["minimumROIDimensions"] == 2


def test_all_features_of_a_class_are_its_non_deprecated_names_in_pyradiomics_order():
    from radiomics import getFeatureClasses

    parsed = validate({"featureClass": {"glcm": None, "firstorder": [], "shape": None}})
    for name, names in parsed.feature_classes.items():
        reference = getFeatureClasses()[name]
        instance_names = reference.getFeatureNames()
        # getFeatureNames() lists features in PyRadiomics' execution order (its methods sorted by name)
        assert names == [n for n in instance_names if not instance_names[n]], name


def test_named_features_keep_their_order_and_deprecated_ones_are_accepted():
    parsed = validate({"featureClass": {"glcm": ["JointEntropy", "Contrast", "SumAverage"]}})
    assert parsed.feature_classes["glcm"] == ["JointEntropy", "Contrast", "SumAverage"]


def test_empty_sections_mean_pyradiomics_defaults():
    parsed = validate({})
    assert parsed.image_types == {"Original": {}}
    assert set(parsed.feature_classes) == {"firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape", "shape2D"}


@pytest.mark.parametrize("params, message", [
    ({"setting": {"binwidth": 25}}, r"setting: unknown setting 'binwidth' \(did you mean 'binWidth'\?\)"),
    ({"settings": {"binWidth": 25}}, r"unknown section 'settings' \(did you mean 'setting'\?\)"),
    ({"setting": {"binWidth": -5}}, r"setting 'binWidth' = -5 must be > 0"),
    ({"setting": {"binWidth": "25"}}, r"setting 'binWidth' = '25' must be a number"),
    ({"setting": {"force2D": 1}}, r"setting 'force2D' = 1 must be true or false"),
    ({"setting": {"force2Ddimension": 3}}, r"setting 'force2Ddimension' = 3 must be <= 2"),
    ({"setting": {"interpolator": "sitkCubic"}}, r"setting 'interpolator' = 'sitkCubic' must be one of"),
    ({"setting": {"weightingNorm": "L2"}}, r"setting 'weightingNorm' = 'L2' must be one of euclidean"),
    ({"setting": {"resampledPixelSpacing": [1, "a", 2]}}, r"'resampledPixelSpacing' .* every element must be a number"),
    ({"setting": {"resegmentMode": "percent"}}, r"setting 'resegmentMode' = 'percent' must be one of absolute"),
    ({"setting": {"lbp2DRadius": 1}}, r"'lbp2DRadius' belongs to the LBP filters"),
    ({"imageType": {"LBP3D": {}}}, r"imageType 'LBP3D' \(local binary patterns\) is not implemented"),
    ({"imageType": {"Wavlet": {}}}, r"imageType: unknown image type 'Wavlet' \(did you mean 'Wavelet'\?\)"),
    ({"imageType": {"Wavelet": {"wavelet": "coif99"}}}, r"imageType Wavelet: setting 'wavelet' = 'coif99' must be"),
    ({"imageType": {"LoG": {"sigma": [0, 1]}}}, r"imageType LoG: setting 'sigma' .* every element must be > 0"),
    ({"featureClass": {"glcmm": None}}, r"featureClass: unknown feature class 'glcmm' \(did you mean 'glcm'\?\)"),
    ({"featureClass": {"glcm": ["Entropy"]}}, r"featureClass glcm: unknown glcm feature 'Entropy'"),
    ({"featureClass": {"glcm": "Contrast"}}, r"feature class 'glcm' must list feature names"),
    ({"voxelSetting": {"kernelRadius": 2}}, r"voxel-based extraction is not supported"),
    (["binWidth"], r"expected a mapping"),
])
def test_anything_the_engine_cannot_honour_is_an_error_naming_the_key(params, message):
    with pytest.raises(ParameterError, match=r"^my.yaml: .*" + message):
        validate(params, "my.yaml")


def test_every_pyradiomics_schema_setting_is_known(tmp_path):
    """Each setting PyRadiomics' own schema accepts is either implemented or refused by name (never unknown)."""
    from radiomics import getParameterValidationFiles

    from MIRVLib.engine.params import SETTING_CHECKS, UNSUPPORTED_SETTINGS

    schema = yaml.safe_load(open(getParameterValidationFiles()[0]))
    names = set(schema["mapping"]["setting"]["mapping"])
    assert names == set(SETTING_CHECKS) | set(UNSUPPORTED_SETTINGS)


def _typo_preset(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text(preset_path("MIRV-CT").read_text().replace("binWidth", "binwidht"))
    return path


def test_mirv_extract_refuses_a_typo_preset_before_reading_anything(tmp_path):
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "MIRVLib", "extract", "--image", str(tmp_path / "missing.nrrd"),
                           "--lesions", str(tmp_path / "missing.seg.nrrd"), "--preset", str(_typo_preset(tmp_path)),
                           "--out", str(tmp_path / "out.csv")], capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 2, done.stderr
    assert "typo.yaml: setting: unknown setting 'binwidht' (did you mean 'binWidth'?)" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.csv").exists()
    assert time.perf_counter() - start < 30  # generous: it fails on the preset, not after extracting


def test_mirv_batch_refuses_a_typo_preset_before_the_cohort_starts(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("PatientID,Image,Lesions\nP1,ct.nrrd,seg.nrrd\n")
    (tmp_path / "ct.nrrd").write_bytes(b"not an image")
    (tmp_path / "seg.nrrd").write_bytes(b"not a segmentation")
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "MIRVLib", "batch", "--manifest", str(manifest), "--out", str(out),
                           "--preset", str(_typo_preset(tmp_path))], capture_output=True, text=True, encoding="utf-8")
    assert done.returncode == 2, done.stderr
    assert "unknown setting 'binwidht'" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()


def test_pyradiomics_engine_without_pyradiomics_says_how_to_get_it(monkeypatch):
    from MIRVLib import extraction

    monkeypatch.setitem(sys.modules, "radiomics", None)  # as in a wheels-only install
    monkeypatch.setattr(extraction, "_EXTRACTORS", {})
    with pytest.raises(extraction.PresetError, match=r"pip install 'mirv\[pyradiomics\]'"):
        extraction.check_preset("Henry2022", "pyradiomics")
    assert extraction.check_preset("Henry2022", "native").name == "Henry2022"  # the default needs no PyRadiomics


def test_unknown_engine_is_refused():
    from MIRVLib import extraction

    with pytest.raises(extraction.PresetError, match=r"unknown extraction engine 'cuda'; choose one of native, pyradiomics"):
        extraction.check_preset("Henry2022", "cuda")
