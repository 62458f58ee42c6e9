"""Build MIRV's bundled sample patient (baseline + follow-up CT with six lung/liver/bone/node/soft-tissue lesions).

The CT is PyRadiomics' real sample chest CT ``lung2`` (BSD-3-Clause, from the pyradiomics-bhklab 3.1.4 source
archive), cropped to the body and averaged 2×2 in-plane so the patient fits in a few MB. Its real lung tumour is
lesion 1; five synthetic metastases with deliberately different textures are implanted in other organs, so MIRV
has something to find. The follow-up CT re-implants the lesions with new sizes (some respond, some progress).

Run once by a developer; the outputs are committed. Deterministic (fixed seed), so re-running gives the
same files:

    python Resources/SampleData/make_sample_patient.py [--source-dir DIR_WITH_lung2_image.nrrd]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk
import slicerio
from scipy import ndimage

HERE = Path(__file__).resolve().parent
SDIST = "pyradiomics-bhklab==3.1.4"
CROP_Y, CROP_X = slice(48, 480), slice(16, 496)  # body outline of lung2 at full resolution
SEED = 20251121


@dataclass(frozen=True)
class SyntheticLesion:
    name: str
    site: str
    centre_zyx: tuple[int, int, int]  # index in the downsampled CT
    radii_mm: tuple[float, float, float]  # x, y, z
    texture: str
    follow_up_scale: float  # radius factor at follow-up
    color: tuple[float, float, float]


LESIONS = (
    SyntheticLesion("Lung nodule R", "lung", (36, 126, 62), (9.0, 8.0, 10.0), "part-solid", 0.7, (0.85, 0.55, 0.25)),
    SyntheticLesion("Liver met", "liver", (8, 76, 72), (15.0, 13.0, 15.0), "hypodense-rim", 1.25, (0.25, 0.6, 0.85)),
    SyntheticLesion("Vertebral met", "bone", (30, 151, 124), (7.0, 6.0, 8.0), "sclerotic", 1.0, (0.9, 0.85, 0.3)),
    SyntheticLesion("Axillary node L", "lymph node", (42, 126, 212), (9.0, 8.0, 10.0), "homogeneous", 1.2, (0.55, 0.85, 0.4)),
    SyntheticLesion("Paraspinal mass", "soft tissue", (16, 184, 82), (11.0, 9.0, 12.0), "necrotic", 0.85, (0.75, 0.35, 0.75)),
)
REAL_TUMOUR = ("Lung primary-like L", "lung", (0.9, 0.3, 0.3))


def source_dir(explicit: Path | None) -> Path:
    """Folder holding lung2_image.nrrd / lung2_label.nrrd; fetched from the sdist with pip when not given."""
    if explicit:
        return explicit
    target = Path(tempfile.mkdtemp(prefix="mirv-sample-"))
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pyradiomics-bhklab",
                    SDIST, "-d", str(target)], check=True)
    with tarfile.open(next(target.glob("*.tar.gz"))) as archive:
        for member in archive.getmembers():
            if Path(member.name).name in {"lung2_image.nrrd", "lung2_label.nrrd"}:
                (target / Path(member.name).name).write_bytes(archive.extractfile(member).read())
    return target


def downsample(image: sitk.Image, is_mask: bool) -> sitk.Image:
    """Crop to the body and average 2×2 in-plane (majority for the mask), keeping physical alignment."""
    array = sitk.GetArrayFromImage(image)[:, CROP_Y, CROP_X].astype(np.float64)
    z, y, x = array.shape
    blocks = array.reshape(z, y // 2, 2, x // 2, 2).mean(axis=(2, 4))
    out_array = (blocks >= 0.5).astype(np.uint8) if is_mask else np.round(blocks).astype(np.int16)
    out = sitk.GetImageFromArray(out_array)
    spacing = np.array(image.GetSpacing())
    corner = image.TransformIndexToPhysicalPoint((CROP_X.start, CROP_Y.start, 0))
    out.SetSpacing((spacing[0] * 2, spacing[1] * 2, spacing[2]))
    # the centre of a 2×2 block sits half an input voxel past its first voxel
    out.SetOrigin((corner[0] + spacing[0] / 2, corner[1] + spacing[1] / 2, corner[2]))
    out.SetDirection(image.GetDirection())
    return out


def ellipsoid(shape: tuple[int, ...], spacing: np.ndarray, centre: tuple[int, int, int], radii_mm: tuple[float, float, float],
              rng: np.random.Generator) -> np.ndarray:
    """A slightly lobulated ellipsoid (radius modulated by smooth noise), as metastases rarely are spheres."""
    zz, yy, xx = np.indices(shape, dtype=np.float64)
    dz, dy, dx = ((zz - centre[0]) * spacing[2], (yy - centre[1]) * spacing[1], (xx - centre[2]) * spacing[0])
    radius = np.sqrt((dx / radii_mm[0]) ** 2 + (dy / radii_mm[1]) ** 2 + (dz / radii_mm[2]) ** 2)
    lobulation = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(1, 4, 4))
    lobulation *= 0.12 / (np.abs(lobulation).max() + 1e-9)
    return radius < 1.0 + lobulation


def texture(
    kind: str, mask: np.ndarray, spacing: np.ndarray, centre: tuple[int, int, int], rng: np.random.Generator
) -> np.ndarray:
    """HU values inside a lesion; each kind differs in mean, contrast and grain so the radiomic vectors differ."""
    shape = mask.shape
    fine = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0.5, 0.8, 0.8))
    coarse = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(1.0, 3.0, 3.0))
    fine /= fine.std() + 1e-9
    coarse /= coarse.std() + 1e-9
    inner = ndimage.binary_erosion(mask, iterations=2)
    if kind == "part-solid":
        values = -350 + 260 * coarse + 60 * fine
        values[ndimage.binary_erosion(mask, iterations=3)] += 300
    elif kind == "hypodense-rim":
        values = 15 + 10 * fine
        values[mask & ~inner] = 95 + 15 * fine[mask & ~inner]
    elif kind == "sclerotic":
        values = 650 + 280 * coarse + 80 * fine
    elif kind == "homogeneous":
        values = 38 + 6 * fine
    elif kind == "necrotic":
        values = 55 + 20 * fine
        core = ndimage.binary_erosion(mask, iterations=3)
        values[core] = 5 + 25 * coarse[core]
    else:
        raise ValueError(f"unknown texture '{kind}'")
    return values


def implant(ct: np.ndarray, spacing: np.ndarray, lesion: SyntheticLesion, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    radii = tuple(r * scale for r in lesion.radii_mm)
    mask = ellipsoid(ct.shape, spacing, lesion.centre_zyx, radii, rng)
    values = texture(lesion.texture, mask, spacing, lesion.centre_zyx, rng)
    ct[mask] = np.clip(np.round(values[mask]), -1024, 3071).astype(ct.dtype)
    return mask


def write_time_point(folder: Path, name: str, ct: sitk.Image, masks: list[tuple[str, str, tuple, np.ndarray]]) -> None:
    sitk.WriteImage(ct, str(folder / f"{name}_CT.nrrd"), useCompression=True)
    ijk_to_lps = np.eye(4)
    direction = np.array(ct.GetDirection()).reshape(3, 3)
    ijk_to_lps[:3, :3] = direction * np.array(ct.GetSpacing())
    ijk_to_lps[:3, 3] = ct.GetOrigin()
    segmentation = slicerio.create_segmentation(ct.GetSize(), ijk_to_lps)
    for index, (lesion_name, site, color, mask_zyx) in enumerate(masks):
        slicerio.add_segment(segmentation, np.transpose(mask_zyx, (2, 1, 0)), {
            "id": f"Lesion_{index + 1}", "name": lesion_name, "color": list(color), "tags": {"Site": site},
        })
    slicerio.write_segmentation(str(folder / f"{name}_lesions.seg.nrrd"), segmentation)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source-dir", type=Path, help="folder with lung2_image.nrrd and lung2_label.nrrd")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    src = source_dir(args.source_dir)
    ct = downsample(sitk.ReadImage(str(src / "lung2_image.nrrd")), is_mask=False)
    tumour = sitk.GetArrayFromImage(downsample(sitk.ReadImage(str(src / "lung2_label.nrrd")), is_mask=True)).astype(bool)
    spacing = np.array(ct.GetSpacing())
    base = sitk.GetArrayFromImage(ct)

    baseline, follow_up = base.copy(), base.copy()
    rng = np.random.default_rng(SEED)
    # follow-up: the real tumour shrinks by ~2 mm all round; freed voxels become aerated lung
    shrunk = ndimage.binary_erosion(tumour, structure=ndimage.generate_binary_structure(3, 1), iterations=2)
    freed = tumour & ~shrunk
    follow_up[freed] = np.round(-860 + 40 * rng.normal(size=freed.sum())).astype(np.int16)
    baseline_masks = [(REAL_TUMOUR[0], REAL_TUMOUR[1], REAL_TUMOUR[2], tumour)]
    follow_up_masks = [(REAL_TUMOUR[0], REAL_TUMOUR[1], REAL_TUMOUR[2], shrunk)]
    for index, lesion in enumerate(LESIONS):
        seed = SEED + 100 * (index + 1)
        baseline_masks.append((lesion.name, lesion.site, lesion.color, implant(baseline, spacing, lesion, 1.0, seed)))
        follow_up_masks.append((lesion.name, lesion.site, lesion.color,
                                implant(follow_up, spacing, lesion, lesion.follow_up_scale, seed + 1)))

    args.out.mkdir(parents=True, exist_ok=True)
    for name, array, masks in (("baseline", baseline, baseline_masks), ("followup", follow_up, follow_up_masks)):
        image = sitk.GetImageFromArray(array)
        image.CopyInformation(ct)
        write_time_point(args.out, name, image, masks)
    for name, _, _, mask in baseline_masks:
        print(f"{name:>22}: {int(mask.sum()):6d} voxels at baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
