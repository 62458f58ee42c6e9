"""Shipped PyRadiomics presets produce exactly the feature sets the papers describe."""

from __future__ import annotations

import gzip
import logging

import numpy as np
import pytest
import SimpleITK as sitk
from radiomics import featureextractor

from MIRVLib.resources import preset_path

logging.getLogger("radiomics").setLevel(logging.ERROR)


def _textured_sphere_case() -> tuple[sitk.Image, sitk.Image]:
    """A small CT-like volume with a heterogeneous spherical lesion (HU-like values, anisotropic voxels)."""
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:16, :40, :40]
    inside = ((x - 20) ** 2 + (y - 20) ** 2 + ((z - 8) * 2.5) ** 2) < 12**2
    hu = rng.normal(-700, 60, size=inside.shape)
    hu[inside] = rng.normal(40, 35, size=inside.sum())
    image = sitk.GetImageFromArray(hu.astype(np.int16))
    image.SetSpacing((0.8, 0.8, 2.5))
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def _feature_names(preset: str) -> list[str]:
    extractor = featureextractor.RadiomicsFeatureExtractor(str(preset_path(preset)))
    result = extractor.execute(*_textured_sphere_case())
    return [name for name in result if not name.startswith("diagnostics_")]


@pytest.mark.slow
def test_mirv_ct_preset_yields_the_papers_1218_features(sarc021_dir):
    with gzip.open(sarc021_dir / "lung_lesion_features.csv.gz", "rt") as handle:
        published = handle.readline().strip().split(",")[2:]
    names = _feature_names("MIRV-CT")
    assert len(names) == 1218
    assert set(names) == set(published)


def test_henry2022_preset_yields_107_original_features():
    names = _feature_names("Henry2022")
    assert len(names) == 107
    assert all(name.startswith("original_") for name in names)


def test_preset_lookup_accepts_names_and_files(tmp_path):
    assert preset_path("MIRV-CT").name == "MIRV-CT.yaml"
    custom = tmp_path / "mine.yaml"
    custom.write_text("imageType:\n  Original: {}\n")
    assert preset_path(custom) == custom
    with pytest.raises(FileNotFoundError, match="unknown preset 'nope'"):
        preset_path("nope")
