"""PyRadiomics' own baseline suite, run through the native engine and through PyRadiomics, side by side.

Every column of the sdist's ``data/baseline/baseline_<class>.csv`` is a test: an image, its settings
(``diagnostics_Configuration_Settings``) and image types (``..._EnabledImageTypes``), and the features with
a baseline value. Both engines extract exactly those features with exactly those settings (as PyRadiomics'
``tests/testUtils.py`` builds them) and must agree within relative 1e-9. The comparison is with PyRadiomics
computed here, not with the file: the file predates current PyRadiomics by ~1e-3 on four brain1 shape values.
The shape2D columns use PyRadiomics' single-slice ``<case>_2D`` labels, which are not in the sdist (PyRadiomics
downloads them from GitHub); the label's largest axial slice stands in for them.
Columns sharing image and settings are extracted once, with all their classes.
"""

from __future__ import annotations

import ast
import csv
import functools

import pytest
import SimpleITK as sitk
from engine_cases import assert_features_close, sdist_case, single_slice_case
from pyradiomics_data import sdist_root

pytestmark = pytest.mark.slow


def _baseline_configs() -> dict[str, dict]:
    """``{test name: {case, settings, imageTypes, featureClass: {class: [names]}}}`` from every baseline file."""
    configs: dict[str, dict] = {}
    for path in sorted((sdist_root() / "data" / "baseline").glob("baseline_*.csv")):
        class_name = path.stem[len("baseline_"):]
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        header, body = rows[0], {row[0]: row[1:] for row in rows[1:]}
        for column, test in enumerate(header[1:]):
            settings = ast.literal_eval(body["diagnostics_Configuration_Settings"][column])
            image_types = ast.literal_eval(body["diagnostics_Configuration_EnabledImageTypes"][column])
            case = body["diagnostics_Configuration_TestCase"][column]
            prefix = f"original_{class_name}_"
            names = [name[len(prefix):] for name, values in body.items()
                     if name.startswith(prefix) and values[column] != ""]
            key = f"{test}:{sorted(settings.items(), key=str)!r}:{image_types!r}"
            config = configs.setdefault(key, {"test": test, "case": case, "settings": settings,
                                              "imageTypes": image_types, "featureClass": {}})
            config["featureClass"][class_name] = names
    return {f"{c['test']}[{'+'.join(c['featureClass'])}]": c for c in configs.values()}


@functools.cache
def _configs() -> dict[str, dict]:
    return _baseline_configs()


def test_baseline_suite_is_complete():
    """All 8 classes and all 220 (class, test) columns of the 8 files are covered (45 distinct tests)."""
    configs = _configs()
    classes = {name for config in configs.values() for name in config["featureClass"]}
    assert classes == {"firstorder", "glcm", "gldm", "glrlm", "glszm", "ngtdm", "shape", "shape2D"}
    assert sum(len(config["featureClass"]) for config in configs.values()) == 220
    assert len({config["test"] for config in configs.values()}) == 45


@pytest.mark.parametrize("name", sorted(_configs()))
def test_baseline_column_native_equals_pyradiomics(name):
    from radiomics import featureextractor

    from MIRVLib.engine import NativeExtractor

    config = _configs()[name]
    case = config["case"]
    image, mask = single_slice_case(case[:-3]) if case.lower().endswith("_2d") else sdist_case(case)
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    params = {"imageType": config["imageTypes"], "featureClass": config["featureClass"],
              "setting": config["settings"]}
    reference = featureextractor.RadiomicsFeatureExtractor(params).execute(image, mask)
    reference = {k: float(v) for k, v in reference.items() if not k.startswith("diagnostics_")}
    native = NativeExtractor(params).execute(image, mask)
    assert native
    assert_features_close(native, reference, name)
