"""The image types ("filters") of PyRadiomics, each a generator like ``imageoperations.get<Type>Image``.

Every generator takes ``(image, mask, **settings)`` and yields ``(filtered sitk.Image, image type name,
settings for that image)`` in PyRadiomics' order and with its names (``original``, ``wavelet-LLH``,
``wavelet2-HLL``, ``log-sigma-3-0-mm-3D``, ``square``, ...). The filtered voxels are PyRadiomics' own: the
same SimpleITK filters, the same PyWavelets calls and the same NumPy arithmetic, so the outputs are
bit-identical (the tests check ``np.array_equal``).

The functions are pure on the image they are given: they filter all of it. PyRadiomics filters the whole
image it receives; the caller decides what to hand over (a resampled lesion crop is exactly what PyRadiomics
filters after ``resampleImage``). Note that Wavelet (periodic padding), LoG (recursive Gaussian) and
Gradient depend on the image border, and the point-wise filters on the image's largest ``|value|``: for a crop
of a larger image, pass that image's maximum to :func:`square` & co. (``max_abs``) to reproduce PyRadiomics'
whole-image result on the crop.

LBP2D and LBP3D are not provided (they need scikit-image / trimesh).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pywt
import SimpleITK as sitk

log = logging.getLogger(__name__)

FilterOutput = tuple[sitk.Image, str, dict[str, Any]]

# Smallest image size (voxels, every axis) on which PyRadiomics applies its LoG filter.
LOG_MINIMUM_SIZE = 4


def _image_like(array: np.ndarray, reference: sitk.Image) -> sitk.Image:
    """``array`` (z, y, x) as an image with ``reference``'s geometry."""
    image = sitk.GetImageFromArray(array)
    image.CopyInformation(reference)
    return image


def _float_voxels(image: sitk.Image) -> np.ndarray:
    """The voxels as float64 (PyRadiomics' point-wise filters work in double)."""
    return sitk.GetArrayFromImage(image).astype(np.float64)


def _max_abs(values: np.ndarray) -> np.float64:
    return np.max(np.abs(values))


# ---------------------------------------------------------------- point-wise filters on arrays
def square(values: np.ndarray, max_abs: float | None = None) -> np.ndarray:
    """``(x / sqrt(M))**2`` with ``M`` the largest ``|x|`` (of ``values`` unless given): result in ``[0, M]``."""
    values = np.asarray(values, dtype=np.float64)
    coefficient = 1 / np.sqrt(_max_abs(values) if max_abs is None else np.float64(max_abs))
    return (coefficient * values) ** 2


def square_root(values: np.ndarray, max_abs: float | None = None) -> np.ndarray:
    """``sign(x) * sqrt(|x| * M)``: the square root rescaled onto the original range, sign kept."""
    values = np.asarray(values, dtype=np.float64)
    coefficient = _max_abs(values) if max_abs is None else np.float64(max_abs)
    # sqrt(-x * M) for negative x equals sqrt(|x| * M) bit for bit (negation is exact)
    return np.copysign(np.sqrt(np.abs(values) * coefficient), values)


def logarithm(values: np.ndarray, max_abs: float | None = None) -> np.ndarray:
    """``sign(x) * log(|x| + 1)`` rescaled so the largest magnitude is ``M`` again.

    PyRadiomics divides by the largest ``|log(|x| + 1)|`` of the image. Without ``max_abs`` that maximum is
    taken over ``values`` exactly as PyRadiomics does; with the maximum ``M`` of a larger image given, it is
    ``log(M + 1)`` (the same number, ``log`` being monotonic), so a crop is filtered as the whole image is.
    """
    values = np.asarray(values, dtype=np.float64)
    largest = _max_abs(values) if max_abs is None else np.float64(max_abs)
    # log(-(x - 1)) for negative x is log(|x| + 1) bit for bit (x - 1 rounds symmetrically to -(|x| + 1))
    result = np.copysign(np.log(np.abs(values) + 1), values)
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero image gives NaN, as in PyRadiomics
        if max_abs is None:
            return result * (largest / _max_abs(result))
        return result * (largest / np.log(np.array([largest + 1]))[0])


def exponential(values: np.ndarray, max_abs: float | None = None) -> np.ndarray:
    """``exp(x * log(M) / M)``: the exponential rescaled so ``x = M`` maps onto ``M``."""
    values = np.asarray(values, dtype=np.float64)
    largest = _max_abs(values) if max_abs is None else np.float64(max_abs)
    with np.errstate(divide="ignore", invalid="ignore"):
        coefficient = np.log(largest) / largest
    return np.exp(coefficient * values)


# ---------------------------------------------------------------- image types
def original(image: sitk.Image, mask: sitk.Image, **settings: Any) -> Iterator[FilterOutput]:
    """The unfiltered image (``original``)."""
    yield image, "original", settings


def _point_wise(function: Callable[[np.ndarray], np.ndarray], name: str):
    def generator(image: sitk.Image, mask: sitk.Image, **settings: Any) -> Iterator[FilterOutput]:
        with np.errstate(divide="ignore", invalid="ignore"):
            filtered = function(_float_voxels(image))
        yield _image_like(filtered, image), name, settings

    generator.__name__ = f"{name}_image"
    generator.__doc__ = f"``{name}``: :func:`{function.__name__}` of the voxels (float64 image)."
    return generator


square_image = _point_wise(square, "square")
square_root_image = _point_wise(square_root, "squareroot")
logarithm_image = _point_wise(logarithm, "logarithm")
exponential_image = _point_wise(exponential, "exponential")


def gradient(image: sitk.Image, mask: sitk.Image, **settings: Any) -> Iterator[FilterOutput]:
    """Gradient magnitude (``gradient``), in physical units unless ``gradientUseSpacing`` is False."""
    magnitude = sitk.GradientMagnitudeImageFilter()
    magnitude.SetUseImageSpacing(settings.get("gradientUseSpacing", True))
    yield magnitude.Execute(image), "gradient", settings


def log_name(sigma: Any) -> str:
    """PyRadiomics' LoG image type name: ``str(sigma)`` with dots as dashes (3.0 → ``log-sigma-3-0-mm-3D``)."""
    return "log-sigma-{}-mm-3D".format(str(sigma).replace(".", "-"))


def laplacian_of_gaussian(image: sitk.Image, mask: sitk.Image, **settings: Any) -> Iterator[FilterOutput]:
    """One scale-normalised Laplacian of Gaussian per ``sigma`` (mm), in the given order.

    As PyRadiomics: nothing for an image smaller than 4 voxels along any axis; a sigma is skipped (with a
    warning) when it is not positive or when ``ceil(sigma / spacing) + 1`` exceeds the image size on an axis.
    """
    size = np.array(image.GetSize())
    spacing = np.array(image.GetSpacing())
    if np.min(size) < LOG_MINIMUM_SIZE:
        log.warning("image too small for the LoG filter (size %s, at least %d voxels per axis)", size, LOG_MINIMUM_SIZE)
        return
    for sigma in settings.get("sigma", []):
        if not sigma > 0.0:
            log.warning("LoG sigma must be greater than 0 (got %g): skipped", sigma)
            continue
        if not np.all(size >= np.ceil(sigma / spacing) + 1):
            log.warning("LoG sigma %g mm is too large for image size %s at spacing %s: skipped", sigma, size, spacing)
            continue
        laplacian = sitk.LaplacianRecursiveGaussianImageFilter()
        laplacian.SetNormalizeAcrossScale(True)
        laplacian.SetSigma(sigma)
        yield laplacian.Execute(image), log_name(sigma), settings


def _wavelet_axes(ndim: int, settings: dict[str, Any]) -> tuple[int, ...]:
    """Array axes transformed, x first (PyRadiomics' order); the ``force2Ddimension`` axis is left out in 2D mode."""
    axes = list(range(ndim - 1, -1, -1))
    if settings.get("force2D", False):
        axes.remove(settings.get("force2Ddimension", 0))
    return tuple(axes)


def _single_level(data: np.ndarray, wavelet: pywt.Wavelet, axes: tuple[int, ...]) -> dict[str, np.ndarray]:
    """One undecimated level (always PyWavelets' level-0 filters: PyRadiomics restarts at level 0 each time)."""
    return pywt.swtn(data, wavelet, level=1, start_level=0, axes=axes)[0]


def _approximation(data: np.ndarray, wavelet: pywt.Wavelet, axes: tuple[int, ...]) -> np.ndarray:
    """The all-low-pass band of :func:`_single_level` only (``swtn`` filters every band along every axis).

    ``swtn`` builds the approximation by low-passing along each axis in turn with the same routine, so the
    result is identical while skipping the detail bands' work.
    """
    for axis in axes:
        data = pywt.swt(data, wavelet, level=1, start_level=0, axis=axis)[0][0]
    return data


def wavelet(image: sitk.Image, mask: sitk.Image, **settings: Any) -> Iterator[FilterOutput]:
    """Undecimated wavelet bands: every detail combination per level, then the final approximation.

    Settings: ``wavelet`` (default ``coif1``), ``level`` (1), ``start_level`` (0; levels skipped by keeping
    only their approximation). Odd-sized axes get one wrapped voxel appended (the transform needs even
    lengths), removed again from every output. Names: ``wavelet-<bands>`` for the first level kept,
    ``wavelet<n>-<bands>`` for later ones (``L`` low-, ``H`` high-pass, x first), the approximation last.
    """
    name = settings.get("wavelet", "coif1")
    level = settings.get("level", 1)
    start_level = settings.get("start_level", 0)
    kernel = name if isinstance(name, pywt.Wavelet) else pywt.Wavelet(name)

    axes = _wavelet_axes(image.GetDimension(), settings)
    data = np.asarray(sitk.GetArrayFromImage(image))
    shape = data.shape
    data = np.pad(data, [(0, n % 2) for n in shape], "wrap")
    unpad = tuple(slice(None, -1 if n % 2 else None) for n in shape)
    approximation_key = "a" * len(axes)

    for _ in range(start_level):
        data = _approximation(data, kernel, axes)
    levels = 0
    for index in range(1, level + 1):
        bands = _single_level(data, kernel, axes)
        data = bands.pop(approximation_key)
        prefix = "wavelet" if index == 1 else f"wavelet{index}"
        for key, band in bands.items():
            band_name = key.replace("a", "L").replace("d", "H")
            yield _image_like(np.ascontiguousarray(band[unpad]), image), f"{prefix}-{band_name}", settings
        levels = index
    prefix = "wavelet" if levels == 1 else f"wavelet{levels}"
    yield _image_like(np.ascontiguousarray(data[unpad]), image), f"{prefix}-{'L' * len(axes)}", settings


# PyRadiomics' image type names (as in a parameter file's ``imageType``) → generator.
IMAGE_TYPES: dict[str, Callable[..., Iterator[FilterOutput]]] = {
    "Original": original,
    "Wavelet": wavelet,
    "LoG": laplacian_of_gaussian,
    "Square": square_image,
    "SquareRoot": square_root_image,
    "Logarithm": logarithm_image,
    "Exponential": exponential_image,
    "Gradient": gradient,
}
