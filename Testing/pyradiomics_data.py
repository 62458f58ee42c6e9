"""Real CT test data: PyRadiomics' sample lung CTs (from the pyradiomics-bhklab 3.1.4 sdist) plus synthetic lesions.

The sdist is fetched once with ``pip download`` into the git-ignored ``.cache/`` and unpacked next to it
(its ``data/`` images and baselines, example settings and test harness); later runs reuse it. Synthetic lesions
are ellipsoids placed by hand in other tissue of the same CTs (heart, aorta, chest wall, vertebra, liver, spleen,
aerated lung), so one patient has lesions of very different texture.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

REPO_ROOT = Path(__file__).resolve().parent.parent
CACHE = REPO_ROOT / ".cache"
SDIST_DIR = CACHE / "pyradiomics-sdist"
SDIST_REQUIREMENT = "pyradiomics-bhklab==3.1.4"

# (name, centre as array index (z, y, x), radii in mm (x, y, z)); checked visually on the CT slices.
SYNTHETIC_LESIONS: dict[str, list[tuple[str, tuple[int, int, int], tuple[float, float, float]]]] = {
    "lung1": [
        ("heart", (12, 310, 290), (12.0, 10.0, 10.0)),
        ("lung_right", (24, 300, 150), (8.0, 10.0, 9.0)),
        ("chest_wall", (24, 190, 175), (10.0, 6.0, 8.0)),
        ("vertebra", (12, 445, 262), (7.0, 6.0, 8.0)),
        ("aorta", (24, 290, 270), (7.0, 7.0, 8.0)),
    ],
    "lung2": [
        ("liver", (15, 220, 200), (14.0, 11.0, 12.0)),
        ("spleen", (15, 330, 440), (9.0, 9.0, 10.0)),
        ("lung_left", (30, 280, 400), (9.0, 8.0, 10.0)),
    ],
}


def pyradiomics_data_dir() -> Path:
    """Folder with ``lung1_image.nrrd``, ``lung1_label.nrrd``, ``lung2_*`` ...; downloads on first use."""
    return sdist_root() / "data"


def _sdist_archives() -> list[Path]:
    """The downloaded sdist archive (fetched with pip on first use)."""
    archives = sorted(SDIST_DIR.glob("pyradiomics_bhklab-3.1.4.tar.gz"))
    if archives:
        return archives
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pyradiomics-bhklab",
               SDIST_REQUIREMENT, "-d", str(SDIST_DIR)]
    done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8")
    archives = sorted(SDIST_DIR.glob("pyradiomics_bhklab-3.1.4.tar.gz"))
    if done.returncode or not archives:
        pytest.fail(f"cannot download the PyRadiomics sample data ({SDIST_REQUIREMENT}): {done.stderr[-300:]}")
    return archives


def sdist_root() -> Path:
    """The whole unpacked sdist (``data/baseline/``, ``examples/exampleSettings/``, ``tests/`` ...)."""
    root = CACHE / "pyradiomics-sdist-unpacked"
    if (root / "data" / "baseline").is_dir():
        return root
    archive_path = _sdist_archives()[0]  # downloads on first use (and creates CACHE)
    staging = Path(tempfile.mkdtemp(prefix="pyradiomics-sdist.", dir=CACHE))
    with tarfile.open(archive_path) as archive:
        for member in archive.getmembers():
            parts = Path(member.name).parts
            if member.isfile() and len(parts) > 1 and ".." not in parts:
                target = staging.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = archive.extractfile(member)
                assert handle is not None
                target.write_bytes(handle.read())
    try:
        staging.rename(root)
    except OSError:  # another test process got there first
        shutil.rmtree(staging, ignore_errors=True)
    return root


def ellipsoid_mask(reference: sitk.Image, centre_zyx: tuple[int, int, int], radii_mm: tuple[float, float, float]) -> sitk.Image:
    """Binary UInt8 ellipsoid on the reference grid (an irregular bump makes it less symmetric)."""
    spacing = np.array(reference.GetSpacing())  # x, y, z
    shape = tuple(reversed(reference.GetSize()))
    z, y, x = (np.arange(n) for n in shape)
    dz = (z[:, None, None] - centre_zyx[0]) * spacing[2] / radii_mm[2]
    dy = (y[None, :, None] - centre_zyx[1]) * spacing[1] / radii_mm[1]
    dx = (x[None, None, :] - centre_zyx[2]) * spacing[0] / radii_mm[0]
    inside = dz**2 + dy**2 + dx**2 <= 1.0
    bump = (dz - 0.5) ** 2 + (dy + 0.6) ** 2 + (dx - 0.6) ** 2 <= 0.35
    mask = sitk.GetImageFromArray((inside | bump).astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def patient_masks(case: str) -> tuple[Path, dict[str, sitk.Image]]:
    """The CT path of ``case`` and its lesion masks: the real tumour first, then the synthetic ones."""
    data = pyradiomics_data_dir()
    image_path = data / f"{case}_image.nrrd"
    reference = sitk.ReadImage(str(image_path))
    masks = {"tumour": sitk.Cast(sitk.ReadImage(str(data / f"{case}_label.nrrd")), sitk.sitkUInt8)}
    masks["tumour"].CopyInformation(reference)
    for name, centre, radii in SYNTHETIC_LESIONS[case]:
        masks[name] = ellipsoid_mask(reference, centre, radii)
    return image_path, masks


def write_labelmap(masks: dict[str, sitk.Image], path: Path) -> None:
    """A multi-label labelmap (label i+1 = i-th mask; later masks win on overlap)."""
    names = list(masks)
    array = np.zeros(sitk.GetArrayViewFromImage(masks[names[0]]).shape, dtype=np.uint8)
    for value, name in enumerate(names, start=1):
        array[sitk.GetArrayViewFromImage(masks[name]) > 0] = value
    labelmap = sitk.GetImageFromArray(array)
    labelmap.CopyInformation(masks[names[0]])
    sitk.WriteImage(labelmap, str(path), True)


def write_seg_nrrd(masks: dict[str, sitk.Image], path: Path, sites: dict[str, str] | None = None) -> Path:
    """A Slicer ``.seg.nrrd`` (overlapping segments go to extra layers), written with slicerio."""
    import slicerio

    first = next(iter(masks.values()))
    matrix = np.eye(4)
    direction = np.array(first.GetDirection()).reshape(3, 3)
    matrix[:3, :3] = direction * np.array(first.GetSpacing())
    matrix[:3, 3] = first.GetOrigin()
    segmentation = slicerio.create_segmentation(first.GetSize(), matrix)
    colors = [(0.9, 0.2, 0.2), (0.2, 0.8, 0.2), (0.2, 0.3, 0.9), (0.9, 0.8, 0.1), (0.7, 0.2, 0.8), (0.1, 0.8, 0.8)]
    for index, (name, mask) in enumerate(masks.items()):
        segment = {"id": f"Segment_{index + 1}", "name": name, "color": list(colors[index % len(colors)])}
        if sites and name in sites:
            segment["terminology"] = {
                "contextName": "Segmentation category and type - 3D Slicer General Anatomy list",
                "category": ["SCT", "49755003", "Morphologically Altered Structure"],
                "type": ["SCT", "4147007", "Mass"],
                "anatomicContextName": "Anatomic codes - DICOM master list",
                "anatomicRegion": ["SCT", "0", sites[name]],
            }
        slicerio.add_segment(segmentation, np.transpose(sitk.GetArrayFromImage(mask), (2, 1, 0)) > 0, segment)
    slicerio.write_segmentation(str(path), segmentation)
    return path


# ---------------------------------------------------------------- small synthetic CT for fast tests
LIGHT_PRESET = """\
imageType:
  Original: {}
featureClass:
  shape:
  firstorder:
  glcm: [JointEntropy, Contrast]
setting:
  interpolator: sitkBSpline
  resampledPixelSpacing: [1, 1, 2]
  padDistance: 5
  binWidth: 25
  voxelArrayShift: 1000
  label: 1
"""


def light_preset(folder: Path) -> Path:
    """A PyRadiomics YAML with few features (fast tests of everything but the feature values)."""
    path = folder / "light.yaml"
    path.write_text(LIGHT_PRESET)
    return path


def synthetic_ct(size=(64, 64, 20), spacing=(0.8, 0.8, 2.5), seed: int = 3) -> sitk.Image:
    """A small CT-like image in HU: air outside a soft-tissue cylinder with noise and a dense blob."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = size
    z, y, x = np.ogrid[:nz, :ny, :nx]
    body = (x - nx / 2) ** 2 + (y - ny / 2) ** 2 <= (0.45 * nx) ** 2
    array = np.where(body, 40.0, -1000.0) + rng.normal(0, 25, size=(nz, ny, nx))
    array += 300.0 * (((x - 20) ** 2 + (y - 40) ** 2) <= 30)
    image = sitk.GetImageFromArray(np.round(array).astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin((-25.0, -30.0, 100.0))
    return image


def ball_mask(reference: sitk.Image, centre_xyz, radius_voxels: float) -> sitk.Image:
    nx, ny, nz = reference.GetSize()
    z, y, x = np.ogrid[:nz, :ny, :nx]
    inside = (x - centre_xyz[0]) ** 2 + (y - centre_xyz[1]) ** 2 + ((z - centre_xyz[2]) * 3) ** 2 <= radius_voxels**2
    mask = sitk.GetImageFromArray(inside.astype(np.uint8))
    mask.CopyInformation(reference)
    return mask


def write_image_and_masks(folder: Path, image: sitk.Image, masks: dict[str, sitk.Image]) -> tuple[Path, Path]:
    """``folder/ct.nrrd`` and one ``folder/masks/<name>.nrrd`` per mask (the `mirv --image/--lesions` layout)."""
    image_path = folder / "ct.nrrd"
    sitk.WriteImage(image, str(image_path))
    masks_folder = folder / "masks"
    masks_folder.mkdir()
    for name, mask in masks.items():
        sitk.WriteImage(mask, str(masks_folder / f"{name}.nrrd"))
    return image_path, masks_folder
