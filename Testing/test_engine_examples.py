"""PyRadiomics' example parameter files (sdist ``examples/exampleSettings``) through both engines.

Each file the native engine supports runs end to end — normalisation, resampling, pre-crop, force2D, LoG,
Wavelet — with ``NativeExtractor`` and ``RadiomicsFeatureExtractor`` on the same full image and mask; every
feature must agree within relative 1e-9. The voxel-based example is refused before any image is read.
"""

from __future__ import annotations

import pytest
import SimpleITK as sitk
from engine_cases import assert_features_close, sdist_case, single_slice_case
from pyradiomics_data import sdist_root

pytestmark = pytest.mark.slow

# example file -> test case it is meant for (CT settings on a lung CT, MR settings on a brain MR)
EXAMPLES = {
    "Params.yaml": "brain1",
    "exampleCT.yaml": "lung2",
    "exampleMR_3mm.yaml": "brain1",
    "exampleMR_5mm.yaml": "brain2",
    "exampleMR_NoResampling.yaml": "breast1",
    "MR_2D_extraction.yaml": "brain1",  # on the label's largest axial slice: the file is for 2D masks
    "example_allShape.yaml": "lung1",
}


def _example(name: str):
    return sdist_root() / "examples" / "exampleSettings" / name


def test_every_example_file_is_covered():
    found = {path.name for path in (sdist_root() / "examples" / "exampleSettings").glob("*.yaml")}
    assert found == set(EXAMPLES) | {"exampleVoxel.yaml"}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_settings_native_equals_pyradiomics(name):
    from radiomics import featureextractor

    from MIRVLib.engine import NativeExtractor

    case = EXAMPLES[name]
    image, mask = single_slice_case(case) if name == "MR_2D_extraction.yaml" else sdist_case(case)
    mask = sitk.Cast(mask, sitk.sitkUInt32)
    reference = featureextractor.RadiomicsFeatureExtractor(str(_example(name))).execute(image, mask)
    reference = {k: float(v) for k, v in reference.items() if not k.startswith("diagnostics_")}
    native = NativeExtractor(_example(name)).execute(image, mask)
    assert len(native) > 10
    assert_features_close(native, reference, name)


def test_voxel_based_example_is_refused():
    from MIRVLib.engine import NativeExtractor, ParameterError

    with pytest.raises(ParameterError, match=r"exampleVoxel\.yaml: voxelSetting: voxel-based extraction"):
        NativeExtractor(_example("exampleVoxel.yaml"))
