"""PyRadiomics parameter sets, validated completely before any lesion runs.

A parameter set (YAML: ``imageType``, ``featureClass``, ``setting``) is checked key by key against what
PyRadiomics accepts and what this engine implements. Anything it cannot honour — a typo, an unknown image
type, feature class or feature, a value of the wrong type or range, LBP filters, voxel-based settings — is an
error naming the key, never silently ignored.
"""

from __future__ import annotations

import difflib
import importlib
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

# Feature class name (PyRadiomics' spelling) -> module of this package that computes it.
FEATURE_CLASS_MODULES = {
    "firstorder": "firstorder", "glcm": "glcm", "gldm": "gldm", "glrlm": "glrlm", "glszm": "glszm",
    "ngtdm": "ngtdm", "shape": "shape", "shape2D": "shape2d",
}
SHAPE_CLASSES = ("shape", "shape2D")
IMAGE_TYPES = ("Original", "Wavelet", "LoG", "Square", "SquareRoot", "Logarithm", "Exponential", "Gradient")
UNSUPPORTED_IMAGE_TYPES = ("LBP2D", "LBP3D")

INTERPOLATORS = (
    "sitkNearestNeighbor", "sitkLinear", "sitkBSpline", "sitkGaussian", "sitkLabelGaussian",
    "sitkHammingWindowedSinc", "sitkCosineWindowedSinc", "sitkWelchWindowedSinc", "sitkLanczosWindowedSinc",
    "sitkBlackmanWindowedSinc",
)
WEIGHTING_NORMS = ("euclidean", "manhattan", "infinity", "no_weighting")
RESEGMENT_MODES = ("absolute", "relative", "sigma")

# PyRadiomics' extractor defaults (RadiomicsFeatureExtractor._getDefaultSettings).
DEFAULT_SETTINGS: dict[str, Any] = {
    "minimumROIDimensions": 2, "minimumROISize": None, "normalize": False, "normalizeScale": 1,
    "removeOutliers": None, "resampledPixelSpacing": None, "interpolator": "sitkBSpline", "preCrop": False,
    "padDistance": 5, "distances": [1], "force2D": False, "force2Ddimension": 0, "resegmentRange": None,
    "label": 1, "additionalInfo": True,
}


class ParameterError(ValueError):
    """A parameter set this engine cannot run as written."""


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_interpolator(value: Any) -> str | None:
    if value is None or value in INTERPOLATORS or (_integer(value) and 1 <= value <= 10):
        return None
    return f"must be one of {', '.join(INTERPOLATORS)} or an integer 1-10"


def _check_wavelet(value: Any) -> str | None:
    import pywt

    if isinstance(value, str) and value in pywt.wavelist():
        return None
    return "must be a PyWavelets wavelet name (e.g. coif1, haar, db2)"


def _check_weighting(value: Any) -> str | None:
    return None if value is None or value in WEIGHTING_NORMS else f"must be one of {', '.join(WEIGHTING_NORMS)}"


def _check_resegment_mode(value: Any) -> str | None:
    return None if value in RESEGMENT_MODES else f"must be one of {', '.join(RESEGMENT_MODES)}"


def _check_resegment_range(value: Any) -> str | None:
    if isinstance(value, Sequence) and not isinstance(value, str) and 1 <= len(value) <= 2 and all(map(_number, value)):
        return None
    return "must be a list of one or two numbers"


def _scalar(kind: str, low: float | None = None, high: float | None = None, low_open: bool = False):
    """A checker for one number: ``kind`` int/float/bool, optional bounds (``low_open``: strictly above ``low``)."""

    def check(value: Any) -> str | None:
        if kind == "bool":
            return None if isinstance(value, bool) else "must be true or false"
        if not (_integer(value) if kind == "int" else _number(value)):
            return "must be an integer" if kind == "int" else "must be a number"
        if low is not None and (value <= low if low_open else value < low):
            return f"must be {'>' if low_open else '>='} {low:g}"
        if high is not None and value > high:
            return f"must be <= {high:g}"
        return None

    return check


def _sequence(item: Callable[[Any], str | None]):
    def check(value: Any) -> str | None:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            return "must be a list"
        for element in value:
            problem = item(element)
            if problem:
                return f"every element {problem}"
        return None

    return check


# Every setting PyRadiomics' schema accepts that this engine implements, with its check.
SETTING_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "minimumROIDimensions": _scalar("int", 1, 3),
    "minimumROISize": lambda v: None if v is None else _scalar("int", 0, low_open=True)(v),
    "geometryTolerance": _scalar("float", 0, low_open=True),
    "correctMask": _scalar("bool"),
    "additionalInfo": _scalar("bool"),
    "label": _scalar("int", 0, low_open=True),
    "label_channel": _scalar("int", 0),
    "binWidth": _scalar("float", 0, low_open=True),
    "binCount": lambda v: None if v is None else _scalar("int", 0, low_open=True)(v),
    "normalize": _scalar("bool"),
    "normalizeScale": _scalar("float", 0, low_open=True),
    "removeOutliers": lambda v: None if v is None else _scalar("float", 0, low_open=True)(v),
    "resampledPixelSpacing": lambda v: None if v is None else _sequence(_scalar("float", 0))(v),
    "interpolator": _check_interpolator,
    "padDistance": _scalar("int", 0),
    "distances": _sequence(_scalar("int", 0, low_open=True)),
    "force2D": _scalar("bool"),
    "force2Ddimension": _scalar("int", 0, 2),
    "resegmentRange": lambda v: None if v is None else _check_resegment_range(v),
    "resegmentMode": _check_resegment_mode,
    "resegmentShape": _scalar("bool"),
    "preCrop": _scalar("bool"),
    "sigma": _sequence(_scalar("float", 0, low_open=True)),
    "start_level": _scalar("int", 0),
    "level": _scalar("int", 0, low_open=True),
    "wavelet": _check_wavelet,
    "gradientUseSpacing": _scalar("bool"),
    "voxelArrayShift": _scalar("int"),
    "symmetricalGLCM": _scalar("bool"),
    "weightingNorm": _check_weighting,
    "gldm_a": _scalar("int", 0),
}
UNSUPPORTED_SETTINGS = (
    "lbp2DRadius", "lbp2DSamples", "lbp2DMethod", "lbp3DLevels", "lbp3DIcosphereRadius", "lbp3DIcosphereSubdivision",
)


def feature_class_module(name: str) -> ModuleType:
    """The module computing PyRadiomics feature class ``name`` (imported on first use)."""
    return importlib.import_module(f"{__package__}.{FEATURE_CLASS_MODULES[name]}")


def _unknown(kind: str, name: Any, known: Sequence[str], where: str) -> ParameterError:
    close = difflib.get_close_matches(str(name), list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(known)}"
    return ParameterError(f"{where}: unknown {kind} '{name}'{hint}")


def _validate_settings(settings: Any, where: str) -> dict[str, Any]:
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise ParameterError(f"{where}: must be a mapping of setting names to values")
    for key, value in settings.items():
        if key in UNSUPPORTED_SETTINGS:
            raise ParameterError(f"{where}: setting '{key}' belongs to the LBP filters, which the native engine does "
                                 "not implement (use --engine pyradiomics)")
        check = SETTING_CHECKS.get(key)
        if check is None:
            raise _unknown("setting", key, sorted(SETTING_CHECKS), where)
        problem = check(value)
        if problem:
            raise ParameterError(f"{where}: setting '{key}' = {value!r} {problem}")
    return dict(settings)


@dataclass(frozen=True)
class Parameters:
    """A validated parameter set: settings (PyRadiomics defaults filled in), image types and feature classes.

    ``image_types`` maps each enabled image type to its own settings; ``feature_classes`` maps each enabled
    class to the feature names to compute, in output order.
    """

    settings: dict[str, Any]
    image_types: dict[str, dict[str, Any]]
    feature_classes: dict[str, list[str]]

    def names(self, feature_class: str) -> list[str]:
        return self.feature_classes[feature_class]


def _feature_names(class_name: str, requested: Any, where: str) -> list[str]:
    module = feature_class_module(class_name)
    known: Mapping[str, bool] = module.FEATURES
    if requested is None or (isinstance(requested, Sequence) and not isinstance(requested, str) and not requested):
        # PyRadiomics' order: its feature methods sorted by name (so "MeanAbsoluteDeviation" precedes "Mean")
        return sorted((name for name, deprecated in known.items() if not deprecated),
                      key=lambda name: f"get{name}FeatureValue")
    if isinstance(requested, str) or not isinstance(requested, Sequence):
        raise ParameterError(f"{where}: feature class '{class_name}' must list feature names (or be empty for all)")
    for name in requested:
        if name not in known:
            raise _unknown(f"{class_name} feature", name, sorted(known), where)
    return list(dict.fromkeys(requested))


def validate(params: Any, source: str = "parameters") -> Parameters:
    """Check a whole PyRadiomics parameter mapping; raise :class:`ParameterError` naming ``source`` and the key."""
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(f"{source}: expected a mapping with imageType, featureClass and setting")
    for key in params:
        if key not in ("imageType", "featureClass", "setting", "voxelSetting"):
            raise _unknown("section", key, ["imageType", "featureClass", "setting"], source)
    if params.get("voxelSetting"):
        raise ParameterError(f"{source}: voxelSetting: voxel-based extraction is not supported (MIRV extracts "
                             "one value per lesion)")
    settings = {**DEFAULT_SETTINGS, **_validate_settings(params.get("setting"), f"{source}: setting")}

    image_types: dict[str, dict[str, Any]] = {}
    enabled_types = params.get("imageType")
    if enabled_types is not None and not isinstance(enabled_types, Mapping):
        raise ParameterError(f"{source}: imageType must be a mapping of image type names to their settings")
    for name, custom in (enabled_types or {}).items():
        if name in UNSUPPORTED_IMAGE_TYPES:
            raise ParameterError(f"{source}: imageType '{name}' (local binary patterns) is not implemented by the "
                                 "native engine (use --engine pyradiomics)")
        if name not in IMAGE_TYPES:
            raise _unknown("image type", name, IMAGE_TYPES, f"{source}: imageType")
        image_types[name] = _validate_settings(custom, f"{source}: imageType {name}")
    if not image_types:
        image_types = {"Original": {}}

    classes = params.get("featureClass")
    if classes is not None and not isinstance(classes, Mapping):
        raise ParameterError(f"{source}: featureClass must be a mapping of feature classes to feature lists")
    if not classes:
        classes = {name: None for name in FEATURE_CLASS_MODULES}
    feature_classes: dict[str, list[str]] = {}
    for name, requested in classes.items():
        if name not in FEATURE_CLASS_MODULES:
            raise _unknown("feature class", name, list(FEATURE_CLASS_MODULES), f"{source}: featureClass")
        feature_classes[name] = _feature_names(name, requested, f"{source}: featureClass {name}")
    return Parameters(settings, image_types, feature_classes)
