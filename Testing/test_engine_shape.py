"""MIRVLib.engine.shape / shape2d against PyRadiomics' ``shape`` / ``shape2D``, both run in the test on the same crop.

Inputs: the sdist's five real cases (3D; and for shape2D their largest slice along each axis with ``force2D`` and
``force2Ddimension`` 0/1/2, and as genuinely 2D images), the seeded random cases (shapes, 1-voxel plates,
minimum-size lesions, border-touching ROIs, anisotropic spacing), synthetic shapes whose diameters tie across
many planes or vertex pairs (box, sphere, shell, two blobs, a line), random thin/checkered 2D masks, the
deprecated features requested by name, and PyRadiomics' errors for shape2D input it refuses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from engine_cases import SDIST_CASES, compare_class, random_cases, region_of, sdist_crop
from scipy import ndimage

from MIRVLib.engine import shape, shape2d
from MIRVLib.engine.region import Region

logging.getLogger("radiomics").setLevel(logging.CRITICAL)

MODULES = {"shape": shape, "shape2D": shape2d}


def _compare(class_name: str, image, mask, settings: dict[str, Any], names: Sequence[str] | None, context: str):
    """PyRadiomics' class and the engine on the same crop; ``names=None``: PyRadiomics' default (all non-deprecated)."""
    compare_class(MODULES[class_name], class_name, image, mask, settings, context, names)


def _image(array: np.ndarray, spacing, dtype=np.float32) -> sitk.Image:
    image = sitk.GetImageFromArray(array.astype(dtype))
    image.SetSpacing(tuple(float(s) for s in spacing))
    return image


# ------------------------------------------------------------------ 3D shape
# Deprecated features requested by name, in a scrambled order (PyRadiomics computes them when named).
SHAPE_NAMED = [
    "Maximum2DDiameterRow", "Compactness1", "SurfaceArea", "Flatness", "SphericalDisproportion", "MeshVolume",
    "Compactness2", "Maximum3DDiameter", "LeastAxisLength", "Maximum2DDiameterSlice", "Maximum2DDiameterColumn",
]


@pytest.mark.parametrize("case", SDIST_CASES)
def test_shape_sdist(case):
    image, mask = sdist_crop(case)
    _compare("shape", image, mask, {"label": 1}, None, f"{case} default")
    _compare("shape", image, mask, {"label": 1}, SHAPE_NAMED, f"{case} named")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_shape_random_cases(seed):
    for name, image, mask, settings in random_cases(seed):
        _compare("shape", image, mask, settings, list(shape.FEATURES), f"seed {seed} {name}")


def _synthetic_masks():
    z, y, x = np.mgrid[-9:10, -9:10, -9:10]
    radius2 = z * z + y * y + x * x
    box = np.zeros((12, 14, 16), dtype=bool)
    box[2:10, 3:11, 2:14] = True
    yield "box", box, (1.0, 1.0, 1.0)
    yield "sphere", radius2 <= 8.2**2, (1.0, 1.0, 1.0)
    yield "sphere_anisotropic", radius2 <= 7**2, (0.6, 0.6, 2.0)
    yield "shell", (radius2 <= 8**2) & (radius2 >= 6**2), (0.9, 1.1, 1.3)
    two = np.zeros((10, 30, 12), dtype=bool)
    two[2:6, 2:7, 3:8] = two[4:8, 21:27, 4:9] = True
    yield "two_blobs", two, (1.2, 0.8, 0.8)
    line = np.zeros((5, 20, 5), dtype=bool)
    line[2, 2:18, 2] = True
    yield "line", line, (1.0, 0.7, 2.0)
    ellipsoid = (z / 4.0) ** 2 + (y / 9.0) ** 2 + (x / 6.5) ** 2 <= 1
    yield "ellipsoid", ellipsoid, (0.7, 0.7, 2.5)
    rng = np.random.default_rng(7)
    noise = ndimage.gaussian_filter(rng.random((24, 24, 24)), 2.0)
    yield "blobs", noise > np.quantile(noise, 0.7), (0.8, 0.8, 1.5)


@pytest.mark.parametrize("name,array,spacing", list(_synthetic_masks()), ids=lambda v: v if isinstance(v, str) else "")
def test_shape_synthetic(name, array, spacing):
    """Many planes and vertex pairs tie for the maximum diameters: the pruning must not lose the maximum."""
    settings = {"label": 1, "minimumROIDimensions": 1}
    image = _image(np.random.default_rng(0).normal(0, 50, array.shape), spacing)
    _compare("shape", image, _image(array, spacing, np.uint32), settings, list(shape.FEATURES), name)


def test_shape_rejects_2d_input():
    region = region_of(_image(np.ones((5, 6)), (1, 1)), _image(np.ones((5, 6)), (1, 1), np.uint32), {"label": 1})
    with pytest.raises(ValueError):
        shape.compute(region, ["MeshVolume"])


# ------------------------------------------------------------------ shape2D
def _largest_slice(image: sitk.Image, mask: sitk.Image, axis: int) -> tuple[sitk.Image, sitk.Image]:
    """The mask reduced to its largest slice across numpy axis ``axis`` (z, y, x), image unchanged."""
    array = sitk.GetArrayFromImage(mask) == 1
    others = tuple(a for a in range(3) if a != axis)
    index = [slice(None)] * 3
    index[axis] = int(np.argmax(array.sum(axis=others)))
    kept = np.zeros_like(array)
    kept[tuple(index)] = array[tuple(index)]
    reduced = sitk.GetImageFromArray(kept.astype(np.uint32))
    reduced.CopyInformation(mask)
    return image, reduced


SHAPE2D_NAMED = ["SphericalDisproportion", "Perimeter", "MaximumDiameter", "Elongation", "MeshSurface"]


@pytest.mark.parametrize("case", SDIST_CASES)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_shape2d_sdist_force2d(case, axis):
    image, mask = _largest_slice(*sdist_crop(case), axis)
    settings = {"label": 1, "force2D": True, "force2Ddimension": axis}
    _compare("shape2D", image, mask, settings, None, f"{case} force2Ddimension {axis}")
    _compare("shape2D", image, mask, settings, SHAPE2D_NAMED, f"{case} force2Ddimension {axis} named")


@pytest.mark.parametrize("case", SDIST_CASES)
def test_shape2d_sdist_genuinely_2d(case):
    image, mask = sdist_crop(case)
    array = sitk.GetArrayFromImage(mask) == 1
    z = int(np.argmax(array.sum(axis=(1, 2))))
    image2d, mask2d = image[:, :, z], mask[:, :, z]
    assert mask2d.GetDimension() == 2
    _compare("shape2D", image2d, mask2d, {"label": 1}, list(shape2d.FEATURES), f"{case} 2D slice {z}")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_shape2d_random_plates(seed):
    """The random cases' 1-voxel plates, with force2D across their thin axis."""
    for name, image, mask, settings in random_cases(seed):
        if name.startswith("plate_axis"):
            axis = int(name[-1])
            settings = {**settings, "force2D": True, "force2Ddimension": axis}
            _compare("shape2D", image, mask, settings, list(shape2d.FEATURES), f"seed {seed} {name}")


@pytest.mark.parametrize("seed", [0, 1])
def test_shape2d_random_masks(seed):
    """Random 2D masks: blobs, noise, checkerboards, lines, minimum sizes; 2D images and 3D with force2D."""
    rng = np.random.default_rng(seed)
    spacings = [0.5, 0.7, 1.0, 1.3, 2.5, 0.976562]
    for index in range(40):
        shape_2d = tuple(int(n) for n in rng.integers(1, 20, size=2))
        noise = rng.random(shape_2d)
        kind = index % 4
        if kind == 0 and min(shape_2d) > 2:
            smooth = ndimage.gaussian_filter(noise, 1.2)
            array = smooth > np.quantile(smooth, rng.uniform(0.3, 0.8))
        elif kind == 1:
            array = noise < rng.uniform(0.1, 0.9)
        elif kind == 2:
            array = (np.indices(shape_2d).sum(axis=0) % 2 == 0) | (noise < 0.1)
        else:
            array = np.zeros(shape_2d, dtype=bool)
            array[rng.integers(0, shape_2d[0]), :] = True
        if array.sum() < 2:
            continue
        spacing = tuple(float(s) for s in rng.choice(spacings, 3))
        axis = int(rng.integers(0, 4))
        settings: dict[str, Any] = {"label": 1, "minimumROIDimensions": 1}
        if axis == 3:
            image, mask = _image(noise * 100, spacing[:2]), _image(array, spacing[:2], np.uint32)
        else:
            shape_3d = list(shape_2d)
            shape_3d.insert(axis, 3)
            volume = np.zeros(shape_3d, dtype=bool)
            volume[(slice(None),) * axis + (1,)] = array
            image, mask = _image(rng.random(shape_3d) * 100, spacing), _image(volume, spacing, np.uint32)
            settings.update(force2D=True, force2Ddimension=axis)
        _compare("shape2D", image, mask, settings, list(shape2d.FEATURES), f"seed {seed} mask {index} axis {axis}")


def _raised(function) -> type | None:
    try:
        function()
    except Exception as error:  # noqa: BLE001 - the exception type is what is compared
        return type(error)
    return None


@pytest.mark.parametrize(
    "settings",
    [
        {"label": 1},
        {"label": 1, "force2D": True, "force2Ddimension": 0},
        {"label": 1, "force2D": True, "force2Ddimension": 2},
    ],
)
def test_shape2d_refuses_what_pyradiomics_refuses(settings):
    """3D input without force2D, or thicker than one voxel along force2Ddimension: ValueError in both."""
    image, mask = sdist_crop("lung1")  # 3 slices thick in z, several voxels in x
    from radiomics import getFeatureClasses

    expected = _raised(lambda: getFeatureClasses()["shape2D"](image, mask, **settings))
    assert expected is ValueError
    region = region_of(image, mask, settings)
    assert _raised(lambda: shape2d.compute(region, list(shape2d.FEATURES))) is expected


def test_shape2d_contour_matches_pyradiomics_on_all_small_masks():
    """Perimeter and surface of every mask up to 3x3 (and all 2x4/4x2), straight against PyRadiomics' C code."""
    from radiomics import cShape

    spacing = np.array([0.7, 1.3])
    for height, width in [(1, 1), (1, 2), (2, 1), (2, 2), (1, 3), (3, 1), (2, 3), (3, 2), (3, 3), (2, 4), (4, 2)]:
        for bits in range(1, 1 << (height * width)):
            array = np.array([(bits >> k) & 1 for k in range(height * width)], dtype=bool).reshape(height, width)
            padded = np.pad(array, 1)
            perimeter, surface, diameter = cShape.calculate_coefficients2D(padded, spacing)
            native = shape2d.contour_perimeter_surface(padded, spacing)
            assert native == pytest.approx((perimeter, surface), rel=1e-12, abs=1e-12), array.astype(int).tolist()


# ------------------------------------------------------------------ maximum diameters: exact, without SciPy
# PyRadiomics' C code (cShape) compares every pair of mesh vertices: the engine's pruned searches must give the
# very same doubles, not just values within tolerance.
DIAMETERS_3D = ["Maximum2DDiameterSlice", "Maximum2DDiameterColumn", "Maximum2DDiameterRow", "Maximum3DDiameter"]


def _brute_force_max_squared_distance(points: np.ndarray) -> float:
    """All pairs, squared differences summed in coordinate order (as PyRadiomics' C loop)."""
    best = 0.0
    for start in range(0, len(points), 256):
        block = points[start : start + 256]
        total = sum((block[:, None, k] - points[None, :, k]) ** 2 for k in range(points.shape[1]))
        best = max(best, float(total.max()))
    return best


def _diameter_masks_3d(seed: int):
    """Shapes whose farthest pairs tie, hide among many hull points, or escape simple pruning."""
    rng = np.random.default_rng(seed)
    spacings = [(1.0, 1.0, 1.0), (0.7, 0.7, 2.5), (0.5, 1.3, 3.0), (2.0, 2.0, 0.8), (0.976562, 0.976562, 5.0)]

    def spacing():
        return spacings[int(rng.integers(len(spacings)))]

    r = int(rng.integers(9, 15))
    z, y, x = np.mgrid[-r : r + 1, -r : r + 1, -r : r + 1].astype(float)
    radius = np.sqrt(x * x + y * y + z * z)
    yield "sphere", radius <= r - 1.3, (1.0, 1.0, 1.0)
    yield "sphere_spacing", radius <= r - 1, spacing()
    yield "hemisphere", (radius <= r - 1) & (z >= rng.integers(-2, 3)), spacing()
    yield "shell", (radius <= r - 1) & (radius >= r - 3), spacing()
    yield "cone", (np.sqrt(x * x + y * y) <= (r - 1 - z) / 2) & (z >= -r + 1), spacing()
    yield "tetrahedron", (x >= -r + 1) & (y >= -r + 1) & (z >= -r + 1) & (x + y + z <= r // 2), spacing()
    yield "triangular_prism", (x >= -r + 1) & (y >= -r + 1) & (x + y <= 0) & (np.abs(z) < 4), spacing()
    yield "torus", (np.sqrt(x * x + y * y) - r / 2) ** 2 + z * z <= (r / 4) ** 2, spacing()
    for index in range(3):
        inside = np.ones(x.shape, dtype=bool)
        for normal in rng.normal(size=(int(rng.integers(4, 14)), 3)):
            inside &= x * normal[0] + y * normal[1] + z * normal[2] <= rng.uniform(3, r - 1) * np.linalg.norm(normal)
        yield f"polytope{index}", inside, spacing()
    box = np.zeros(tuple(int(n) for n in rng.integers(4, 16, size=3)), dtype=bool)
    box[1:-1, 1:-1, 1:-1] = True
    yield "box", box, spacing()
    for axis in range(3):  # 1-voxel plates: a disc and a triangle
        disc = np.moveaxis((x * x + y * y <= (r - 1) ** 2)[:1], 0, axis)
        yield f"disc_plate_axis{axis}", disc, spacing()
        triangle = np.moveaxis(((x >= -r + 1) & (y >= -r + 1) & (x + y <= 0))[:1], 0, axis)
        yield f"triangle_plate_axis{axis}", triangle, spacing()
    two = np.zeros((8, 40, 10), dtype=bool)
    two[1:4, 1:6, 2:7] = two[4:7, 30:38, 3:9] = True
    yield "two_distant_blobs", np.moveaxis(two, 1, int(rng.integers(3))), spacing()
    line = np.zeros((5, 5, 30), dtype=bool)
    line[2, 2, 1 : int(rng.integers(3, 29))] = True
    yield "line", np.moveaxis(line, 2, int(rng.integers(3))), spacing()
    diagonal = np.zeros((12, 12, 12), dtype=bool)
    diagonal[np.arange(1, 11), np.arange(1, 11), np.arange(10, 0, -1)] = True
    yield "diagonal_voxels", diagonal, spacing()
    single = np.zeros((3, 3, 3), dtype=bool)
    single[1, 1, 1] = True
    yield "single_voxel", single, spacing()
    apart = np.zeros((3, 20, 25), dtype=bool)
    apart[1, 1, 1] = apart[1, 18, 23] = True
    yield "two_voxels", apart, spacing()
    y2, x2 = np.mgrid[-90:91, -90:91].astype(float)
    triangle = (y2 >= -45) & (np.abs(x2) <= (45 - y2) / 1.732)  # large planes: the in-plane search runs
    triangle = triangle[triangle.any(axis=1)][:, triangle.any(axis=0)]
    yield "large_triangle_plate", np.moveaxis(triangle[None], 0, seed % 3), (0.7 + 0.3 * seed,) * 3
    yield "speckle", rng.random(tuple(int(n) for n in rng.integers(8, 20, size=3))) < rng.uniform(0.05, 0.5), spacing()
    for index in range(2):
        noise = ndimage.gaussian_filter(rng.random((2 * r,) * 3), rng.uniform(1.0, 3.5))
        yield f"noise_blob{index}", noise > np.quantile(noise, rng.uniform(0.5, 0.9)), spacing()


def _spy_directional_search(monkeypatch) -> list:
    """Records the dimension of every directional farthest-pair search (to check the tests reach it)."""
    searched: list = []
    search = shape._directional_max_squared_distance

    def spy(points, best):
        searched.append(points.shape[1])
        return search(points, best)

    monkeypatch.setattr(shape, "_directional_max_squared_distance", spy)
    return searched


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shape_diameters_equal_brute_force_over_all_vertices(monkeypatch, seed):
    """All four diameters, bit for bit, against PyRadiomics' C brute force over every mesh vertex pair."""
    from radiomics import cShape

    searched = _spy_directional_search(monkeypatch)
    for name, mask, spacing in _diameter_masks_3d(seed):
        assert mask.any(), name
        padded = np.pad(mask, 1)
        expected = [float(v) for v in cShape.calculate_coefficients(padded, np.array(spacing[::-1]))[2]]
        region = Region(image=mask.astype(float), mask=mask, spacing=spacing, settings={})
        assert list(shape.compute(region, DIAMETERS_3D).values()) == expected, f"seed {seed} {name} {spacing}"
    assert {2, 3} <= set(searched)  # both the 3D search and the in-plane one ran


def _diameter_masks_2d(seed: int):
    rng = np.random.default_rng(seed)
    r = int(rng.integers(30, 60))
    y, x = np.mgrid[-r : r + 1, -r : r + 1].astype(float)
    radius = np.sqrt(x * x + y * y)
    yield "disc", radius <= r - 1
    yield "half_disc", (radius <= r - 1) & (y >= rng.integers(-3, 4))
    yield "ring", (radius <= r - 1) & (radius >= r - 4)
    yield "triangle", (x >= -r + 1) & (y >= -r + 1) & (x + y <= rng.integers(-5, 5))
    inside = np.ones(x.shape, dtype=bool)
    for normal in rng.normal(size=(int(rng.integers(3, 9)), 2)):
        inside &= x * normal[0] + y * normal[1] <= rng.uniform(5, r - 1) * np.linalg.norm(normal)
    yield "polygon", inside
    yield "noise", rng.random((int(rng.integers(10, 60)), int(rng.integers(10, 60)))) < rng.uniform(0.05, 0.6)
    smooth = ndimage.gaussian_filter(rng.random((2 * r, 2 * r)), rng.uniform(1.0, 4.0))
    yield "blobs", smooth > np.quantile(smooth, rng.uniform(0.4, 0.9))
    line = np.zeros((3, 70), dtype=bool)
    line[1, 1 : int(rng.integers(2, 69))] = True
    yield "line", line


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shape2d_diameter_equals_brute_force_over_all_vertices(monkeypatch, seed):
    """shape2D's MaximumDiameter, bit for bit, against PyRadiomics' C brute force over every contour vertex."""
    from radiomics import cShape

    searched = _spy_directional_search(monkeypatch)
    rng = np.random.default_rng(seed)
    for name, mask in _diameter_masks_2d(seed):
        spacing = tuple(float(s) for s in rng.choice([0.5, 0.7, 0.976562, 1.0, 1.3, 2.5], 2))
        expected = float(cShape.calculate_coefficients2D(np.pad(mask, 1), np.array(spacing[::-1]))[2])
        region = Region(image=mask.astype(float), mask=mask, spacing=spacing, settings={})
        assert shape2d.compute(region, ["MaximumDiameter"])["MaximumDiameter"] == expected, f"seed {seed} {name}"
    assert 2 in searched


def _point_clouds(seed: int, ndim: int):
    """Point sets that defeat the centre pruning (round, flat, tied) or stress rounding (far from the origin)."""
    rng = np.random.default_rng(seed)
    count = int(rng.integers(300, 2500))
    gauss = rng.normal(size=(count, ndim))
    sphere = gauss / np.sqrt((gauss * gauss).sum(axis=1, keepdims=True))
    yield "sphere", sphere * rng.uniform(1, 80)
    half = sphere.copy()
    half[:, -1] = np.abs(half[:, -1])
    yield "half_sphere", half * rng.uniform(1, 80)
    yield "ball", sphere * rng.random((count, 1)) ** (1 / ndim) * 30
    yield "gaussian", gauss * rng.uniform(0.5, 40, size=ndim)
    yield "far_from_origin", sphere * 1e-3 + rng.uniform(-1e3, 1e3, size=ndim)
    yield "lattice_sphere", np.round(sphere * 40) / 2
    yield "cube_corners", np.clip(gauss * 3, -1, 1) * rng.uniform(1, 30, size=ndim)
    simplex = rng.dirichlet(np.ones(ndim + 1), size=count) @ rng.normal(size=(ndim + 1, ndim)) * 20
    yield "simplex", simplex
    yield "collinear", np.outer(rng.random(count), rng.normal(size=ndim)) + rng.normal(size=ndim)
    yield "identical", np.repeat(rng.normal(size=(1, ndim)), count, axis=0)
    yield "two_clusters", np.concatenate([gauss[: count // 2], gauss[count // 2 :] + 25 * sphere[0]])
    flat = sphere.copy()
    flat[:, -1] *= 1e-6
    yield "flattened", flat * 50


@pytest.mark.parametrize("ndim", [2, 3])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_max_squared_distance_equals_brute_force(monkeypatch, seed, ndim):
    """The exact farthest-pair search on arbitrary (also non-lattice) point sets; the directional search runs."""
    searched = _spy_directional_search(monkeypatch)
    for name, points in _point_clouds(seed, ndim):
        points = points[np.random.default_rng(seed).permutation(len(points))]
        assert shape.max_squared_distance(points) == _brute_force_max_squared_distance(points), f"{ndim}D {name}"
    assert searched


@pytest.mark.parametrize("ndim", [2, 3])
def test_search_directions_cover_every_line(ndim):
    """Every direction is within the stated angle of a search direction (the bound the exactness rests on)."""
    directions, cos_theta = shape._search_directions(ndim)
    assert np.allclose((directions * directions).sum(axis=0), 1)
    rng = np.random.default_rng(5)
    samples = rng.normal(size=(50_000, ndim))
    samples /= np.sqrt((samples * samples).sum(axis=1, keepdims=True))
    closest = np.abs(samples @ directions).max(axis=1)
    assert closest.min() >= cos_theta
    assert closest.min() < cos_theta + 0.02  # and the bound is not loose
