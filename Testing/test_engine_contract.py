"""The module contract every native feature class module (MIRVLib.engine.<cls>) keeps, checked for all of them.

``FEATURES`` is PyRadiomics' ``getFeatureNames()`` (names, deprecation flags and order), an unknown name raises
``LookupError`` as PyRadiomics' ``enableFeatureByName`` does, an empty request gives ``{}``, and importing the
modules loads no SciPy beyond what PyWavelets (imported by the engine package for its filters) loads itself.
Values are compared with PyRadiomics in each class's own test file.
"""

from __future__ import annotations

import pytest
from engine_cases import crop, region_of, sdist_case
from fresh_interpreter import modules_loaded_by

from MIRVLib.engine import firstorder, glcm, gldm, glrlm, glszm, ngtdm, shape, shape2d

MODULES = {
    "firstorder": firstorder,
    "shape": shape,
    "shape2D": shape2d,
    "glcm": glcm,
    "glrlm": glrlm,
    "glszm": glszm,
    "gldm": gldm,
    "ngtdm": ngtdm,
}


@pytest.fixture(scope="module")
def lung1_crop():
    return crop(*sdist_case("lung1"), {"label": 1})


@pytest.mark.parametrize("class_name", sorted(MODULES))
def test_feature_names_are_pyradiomics(class_name):
    """Same names, deprecation flags and order as PyRadiomics (its feature methods sorted by name)."""
    from radiomics import getFeatureClasses

    features = MODULES[class_name].FEATURES
    assert list(features.items()) == list(getFeatureClasses()[class_name].getFeatureNames().items())
    assert list(features) == sorted(features, key=lambda name: f"get{name}FeatureValue")


@pytest.mark.parametrize("class_name", sorted(MODULES))
def test_unknown_name_raises_and_empty_request_is_empty(class_name, lung1_crop):
    settings = {"label": 1, "binWidth": 25}
    if class_name == "shape2D":
        settings.update(force2D=True, force2Ddimension=0)  # lung1's crop is 3D
    region = region_of(*lung1_crop, settings)
    module = MODULES[class_name]
    with pytest.raises(LookupError):
        module.compute(region, [next(iter(module.FEATURES)), "NoSuchFeature"])
    assert module.compute(region, []) == {}


def test_modules_import_no_scipy():
    """The engine's hot path must not pay for importing SciPy (scipy.spatial alone costs ~0.16 s); PyWavelets
    < 1.7 (e.g. on Python 3.9) imports ``scipy.fft`` itself, current releases nothing."""
    watched = ["scipy", "scipy."]
    code = "import " + ", ".join(f"MIRVLib.engine.{module.__name__.rsplit('.', 1)[-1]}" for module in MODULES.values())
    assert modules_loaded_by(code, watched) == modules_loaded_by("import pywt", watched)
