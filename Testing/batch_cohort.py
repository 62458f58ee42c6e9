"""A small generated cohort for the batch tests: CTs of 48×48×24 voxels with spherical lesions of
different textures, one folder of binary masks per patient, and a manifest with relative paths.

Deterministic (seeded per patient) so every run extracts identical features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk
from scipy import ndimage

SIZE = (24, 48, 48)  # z, y, x
SPACING = (1.0, 1.0, 2.0)  # x, y, z mm

SMALL_PRESET = """\
# Fast test preset: shape, first order and texture features of the original image, no resampling.
imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm:
  glrlm:
  glszm:
setting:
  binWidth: 25
  label: 1
  voxelArrayShift: 1000
"""


def write_small_preset(folder: Path) -> Path:
    path = folder / "small-preset.yaml"
    path.write_text(SMALL_PRESET, encoding="utf-8")
    return path


def _image(array: np.ndarray) -> sitk.Image:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(SPACING)
    image.SetOrigin((-24.0, -24.0, -24.0))
    return image


def make_patient(folder: Path, index: int, *, empty_lesion: bool = False, corrupt: bool = False,
                 scale: float = 1.0) -> tuple[Path, Path]:
    """Write ``ct.nrrd`` and ``lesions/`` for patient ``index``; return (image, lesions folder).

    ``scale`` grows every lesion radius (follow-up time point); ``empty_lesion`` adds an all-zero mask;
    ``corrupt`` truncates the image's voxel data while keeping a valid header.
    """
    rng = np.random.default_rng(1000 + index)
    zz, yy, xx = np.indices(SIZE)
    body = ((xx - 23.5) / 23.0) ** 2 + ((yy - 23.5) / 23.0) ** 2 <= 1.0  # soft tissue, air in the corners
    ct = np.where(body, rng.normal(40.0, 12.0, SIZE), rng.normal(-1000.0, 5.0, SIZE)).astype(np.float32)
    lesion_dir = folder / "lesions"
    lesion_dir.mkdir(parents=True, exist_ok=True)
    num_lesions = 2 + index % 3
    centres = [(12, 12, 12), (12, 12, 34), (12, 34, 12), (12, 34, 34)]
    for number in range(num_lesions):
        cz, cy, cx = centres[number]
        radius = (4.0 + rng.uniform(0.0, 4.0)) * scale
        inside = ((xx - cx) ** 2 + (yy - cy) ** 2 + ((zz - cz) * SPACING[2]) ** 2) <= radius**2
        # Texture drawn independently of size: level, noise, blotchiness (smoothed noise), bright speckles.
        values = rng.uniform(20, 120) + rng.uniform(5, 40) * rng.normal(size=SIZE)
        values += rng.uniform(0, 60) * ndimage.gaussian_filter(rng.normal(size=SIZE), 1.5) * 3
        values += (rng.random(SIZE) < rng.uniform(0, 0.2)) * rng.uniform(150, 300)
        ct[inside] = values[inside]
        mask = _image(inside.astype(np.uint8))
        sitk.WriteImage(mask, str(lesion_dir / f"lesion{number + 1}.nrrd"), True)
    if empty_lesion:
        sitk.WriteImage(_image(np.zeros(SIZE, np.uint8)), str(lesion_dir / f"lesion{num_lesions + 1}.nrrd"), True)
    image_path = folder / "ct.nrrd"
    sitk.WriteImage(_image(np.round(ct).astype(np.int16)), str(image_path), False)
    if corrupt:
        data = image_path.read_bytes()
        image_path.write_bytes(data[: len(data) // 2])
    return image_path, lesion_dir


def make_cohort(root: Path, n_patients: int = 8, *, corrupt: str | None = "P03",
                empty_lesion: str | None = "P05", follow_up: bool = False) -> Path:
    """Write a cohort under ``root`` and its manifest (relative paths); return the manifest path."""
    lines = ["PatientID,Image,Lesions" + (",FollowUpImage,FollowUpLesions" if follow_up else "")]
    for index in range(1, n_patients + 1):
        pid = f"P{index:02d}"
        image, lesions = make_patient(root / pid / "baseline", index, empty_lesion=pid == empty_lesion,
                                      corrupt=pid == corrupt)
        line = f"{pid},{image.relative_to(root)},{lesions.relative_to(root)}"
        if follow_up:
            fu_image, fu_lesions = make_patient(root / pid / "followup", index, scale=1.0 + 0.1 * (index % 4))
            line += f",{fu_image.relative_to(root)},{fu_lesions.relative_to(root)}"
        lines.append(line)
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest
