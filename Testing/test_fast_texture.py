"""FastGLCM / install(): every value bit-identical to PyRadiomics' own (``==``, NaN equal to NaN).

Random images and masks cover gray-level counts from 1 to ~100 with and without gaps, planar and tiny
masks (deleted empty angles, down to one angle, where PyRadiomics' sums are kept), 2D, asymmetric and
distance-weighted matrices; synthetic matrices cover NaN-marked angles and voxel batches (Nv > 1);
real-CT lesions cover a whole MIRV-CT extraction.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from pyradiomics_data import patient_masks
from radiomics import featureextractor, getFeatureClasses, glcm

from MIRVLib.extraction import load_preset
from MIRVLib.fast_texture import FAST_CLASSES, FastFeatureExtractor, FastGLCM, install
from MIRVLib.resampling import resample_lesion

logging.getLogger("radiomics").setLevel(logging.ERROR)

COEFFICIENTS = ("px", "py", "ux", "uy", "pxAddy", "pxSuby", "HXY", "kValuesSum", "kValuesDiff")


def _same(a, b) -> bool:
    """Bit-identical float64 values: equal, or both NaN (complex parts compared the same way)."""
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _outcome(getter):
    """A feature's value, or its error as text (MCC's eigvals refuses NaN-marked angles, in both classes)."""
    try:
        return getter()
    except Exception as error:
        return f"{type(error).__name__}: {error}"


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.7, 0.9, 2.0))
    return image


def _compare_classes(image: sitk.Image, mask: sitk.Image, **settings) -> int:
    """Run both classes with every feature enabled; assert equal values and coefficients; return angles."""
    reference, fast = glcm.RadiomicsGLCM(image, mask, **settings), FastGLCM(image, mask, **settings)
    expected, got = reference.execute(), fast.execute()
    assert list(got) == list(expected)
    differing = {name: (got[name], value) for name, value in expected.items() if not _same(got[name], value)}
    assert not differing, f"{settings}: {differing}"
    for name in COEFFICIENTS:
        ours, theirs = fast.coefficients[name], reference.coefficients[name]
        assert _same(ours, theirs) and ours.strides == theirs.strides, name
    return reference.P_glcm.shape[3]


def _random_case(rng: np.random.Generator) -> tuple[sitk.Image, sitk.Image, dict]:
    shape = tuple(int(n) for n in rng.integers(1, 14, 3))
    levels = int(rng.choice([1, 2, 3, 8, 30, 100]))
    step = float(rng.choice([1, 3, 7]))  # 3 and 7 with bin width 1 leave gaps between present gray levels
    array = rng.integers(0, levels, shape).astype(float) * step
    mask = rng.random(shape) < rng.uniform(0.05, 1.0)
    if rng.random() < 0.15:  # two voxels only: a single non-empty angle
        mask[:] = False
        mask.flat[rng.choice(mask.size, 2, replace=False)] = True
    settings: dict = {"binWidth": float(rng.choice([1, 2, 25])), "label": 1}
    if rng.random() < 0.15:
        settings["weightingNorm"] = str(rng.choice(["manhattan", "euclidean", "infinity", "no_weighting"]))
    if rng.random() < 0.15:
        settings["force2D"] = True
    if rng.random() < 0.15:
        settings["symmetricalGLCM"] = False
    return _image(array), _image(mask.astype(np.uint8)), settings


def test_random_images_give_identical_features():
    rng = np.random.default_rng(20261122)
    cases = [_random_case(rng) for _ in range(150)]
    angles = [_compare_classes(image, mask, **settings) for image, mask, settings in cases]
    assert {0, 1, 4, 13} <= set(angles)  # PyRadiomics' sums (< 2 angles) and ours ran, planar masks too


def test_single_gray_level_and_gapped_gray_levels():
    rng = np.random.default_rng(5)
    mask = _image(np.ones((4, 5, 6), np.uint8))
    _compare_classes(_image(np.full((4, 5, 6), 40.0)), mask, binWidth=25, label=1)  # Ng = 1
    gapped = rng.choice([1.0, 2.0, 9.0, 40.0, 41.0, 120.0], size=(4, 5, 6))
    assert _compare_classes(_image(gapped), mask, binWidth=1, label=1) == 13


def _synthetic_matrix(rng: np.random.Generator, voxels: int, levels: int, angles: int) -> np.ndarray:
    """Normalised GLCMs with zeros, some angles NaN-marked (empty), like ``_calculateMatrix`` returns them."""
    shape = (voxels, levels, levels, angles)
    P = rng.integers(0, 6, shape).astype(float) * (rng.random(shape) < 0.6)
    P += np.transpose(P, (0, 2, 1, 3))
    P *= (rng.random((voxels, angles)) >= 0.25)[:, None, None, :]
    sums = P.sum((1, 2))
    sums[sums == 0] = np.nan
    return P / sums[:, None, None, :]


@pytest.mark.parametrize("voxels, levels, angles, spacing", [
    (1, 1, 13, 1), (1, 7, 13, 1), (3, 12, 13, 1), (4, 20, 2, 1), (2, 9, 1, 1), (1, 40, 4, 1),
    (1, 10, 13, 0.5),  # gray levels 0.5, 1.5, ...: some i + j and |i - j| match no k and are in no sum
])
def test_synthetic_matrices_with_nan_angles_and_voxel_batches(voxels, levels, angles, spacing):
    rng = np.random.default_rng(voxels * 1000 + levels * 10 + angles)
    grayLevels = np.sort(rng.choice(np.arange(1, 3 * levels + 1), levels, replace=False)) * spacing
    image, mask = _image(np.arange(24.0).reshape(2, 3, 4)), _image(np.ones((2, 3, 4), np.uint8))
    for _ in range(5):
        P = _synthetic_matrix(rng, voxels, levels, angles)
        reference, fast = glcm.RadiomicsGLCM(image, mask, binWidth=1), FastGLCM(image, mask, binWidth=1)
        for instance in (reference, fast):
            instance.coefficients.update(grayLevels=grayLevels, Ng=int(grayLevels.max()))
            instance.P_glcm = P.copy()
            instance._calculateCoefficients()
        for name in COEFFICIENTS:
            assert _same(fast.coefficients[name], reference.coefficients[name]), name
            assert fast.coefficients[name].strides == reference.coefficients[name].strides, name
        for feature, deprecated in reference.getFeatureNames().items():
            if not deprecated:
                getter = f"get{feature}FeatureValue"
                ours, theirs = _outcome(getattr(fast, getter)), _outcome(getattr(reference, getter))
                assert ours == theirs if isinstance(theirs, str) else _same(ours, theirs), feature


@pytest.fixture(scope="module")
def real_crops() -> list[tuple[str, sitk.Image, sitk.Image]]:
    """MIRV-CT-resampled crops of real lesions: lung1's and lung2's tumours plus two synthetic ones."""
    settings = load_preset("MIRV-CT").settings
    crops = []
    for case, names in (("lung1", ("tumour", "heart", "lung_right")), ("lung2", ("tumour",))):
        image_path, masks = patient_masks(case)
        image = sitk.ReadImage(str(image_path))
        for name in names:
            crops.append((f"{case}/{name}", *resample_lesion(image, masks[name], settings)))
    return crops


def _mirv_ct_extractor() -> featureextractor.RadiomicsFeatureExtractor:
    """MIRV-CT on already-resampled crops, set up as the extraction engine does."""
    extractor = featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(load_preset("MIRV-CT").params))
    extractor.settings.update(additionalInfo=False, resampledPixelSpacing=None, preCrop=False)
    return extractor


def test_real_ct_glcm_every_feature_identical(real_crops):
    for name, image, mask in real_crops:
        for binWidth in (25, 10):
            assert _compare_classes(image, mask, binWidth=binWidth, label=1) == 13, name


def test_whole_mirv_ct_extraction_identical_with_install(real_crops):
    plain = _mirv_ct_extractor()
    fast = install(_mirv_ct_extractor())
    assert isinstance(fast, FastFeatureExtractor) and fast.settings == plain.settings
    assert getFeatureClasses()["glcm"] is glcm.RadiomicsGLCM  # the process-wide registry is untouched
    for name, image, mask in real_crops[:2]:
        expected, got = plain.execute(image, mask, label=1), fast.execute(image, mask, label=1)
        assert list(got) == list(expected) and len(expected) == 1218, name
        differing = [feature for feature, value in expected.items() if not _same(got[feature], value)]
        assert not differing, f"{name}: {differing[:5]}"


def test_install_uses_the_fast_classes(monkeypatch, real_crops):
    calls = []
    original = FastGLCM._calculateCoefficients

    def spy(self):
        calls.append(self.P_glcm.shape)
        original(self)

    monkeypatch.setattr(FastGLCM, "_calculateCoefficients", spy)
    extractor = install(_mirv_ct_extractor())
    extractor.disableAllImageTypes()
    extractor.enableImageTypeByName("Original")
    _, image, mask = real_crops[0]
    extractor.execute(image, mask, label=1)
    assert len(calls) == 1 and FAST_CLASSES["glcm"] is FastGLCM


def test_install_checks_exactness_with_this_numpy_and_otherwise_keeps_pyradiomics(monkeypatch, caplog):
    """The bit-identity rests on NumPy's summation order; install() verifies it at run time (cached per process)."""
    from MIRVLib import extraction, fast_texture

    assert fast_texture.agrees_with_pyradiomics()  # the NumPy pinned for this project
    off_by_an_ulp = lambda self: np.nextafter(glcm.RadiomicsGLCM.getClusterProminenceFeatureValue(self), np.inf)  # noqa: E731
    monkeypatch.setattr(FastGLCM, "getClusterProminenceFeatureValue", off_by_an_ulp)  # as another NumPy might
    fast_texture.agrees_with_pyradiomics.cache_clear()
    monkeypatch.setattr(extraction, "_EXTRACTORS", {})  # build afresh; the cached extractors come back afterwards
    try:
        with caplog.at_level(logging.WARNING, logger="MIRVLib.fast_texture"):
            extractor, _ = extraction._extractor(load_preset("Henry2022"), "pyradiomics")  # as extract_lesion does
        assert type(extractor) is featureextractor.RadiomicsFeatureExtractor
        assert "fast GLCM differs from PyRadiomics" in caplog.text  # not hidden by MIRV's quiet radiomics logs
        monkeypatch.setattr(fast_texture, "_cell_groups", _raise)  # a NumPy whose API changed
        fast_texture.agrees_with_pyradiomics.cache_clear()
        assert not fast_texture.agrees_with_pyradiomics()
    finally:
        fast_texture.agrees_with_pyradiomics.cache_clear()


def _raise(*args, **kwargs):
    raise TypeError("unique() got an unexpected keyword argument")
