"""The native engine's extraction of one ROI: PyRadiomics' ``RadiomicsFeatureExtractor.execute``, step by step.

Mask check, optional normalisation / resampling / pre-crop / resegmentation, shape on the unfiltered crop,
then every image type filtered once, cropped to the ROI and binned once (:class:`~MIRVLib.engine.region.Region`),
with each feature class computed from it. Output names and order are PyRadiomics':
``<imageType>_<featureClass>_<feature>``, shape first.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import SimpleITK as sitk

from MIRVLib.engine import filters, preprocessing
from MIRVLib.engine.params import SHAPE_CLASSES, Parameters, feature_class_module, validate
from MIRVLib.engine.region import Region

ENGINE_NAME = "native"


def box_slices(box: np.ndarray) -> tuple[slice, ...]:
    """NumPy (z, y, x) slices of a bounding box in :func:`~MIRVLib.engine.preprocessing.check_mask`'s layout
    (lower and upper index per SimpleITK axis): ``cropToTumorMask`` without padding, as array views."""
    return tuple(slice(int(low), int(high) + 1) for low, high in zip(box[0::2][::-1], box[1::2][::-1]))


def _region(image: sitk.Image, crop: tuple[slice, ...], roi: np.ndarray, settings: Mapping[str, Any]) -> Region:
    """The :class:`Region` of ``image`` cropped to the ROI's box (the mask is cropped once per lesion)."""
    return Region(np.array(sitk.GetArrayViewFromImage(image)[crop]), roi, tuple(image.GetSpacing()), settings)


class NativeExtractor:
    """Features of one ROI with PyRadiomics' names, order and values, computed by :mod:`MIRVLib.engine`.

    ``params`` is a PyRadiomics parameter mapping (or a YAML path), validated here as a whole before any
    image is touched; :attr:`settings` are the settings with PyRadiomics' defaults filled in.
    """

    def __init__(self, params: Mapping[str, Any] | str | os.PathLike[str] | None = None, source: str = "parameters"):
        if isinstance(params, (str, os.PathLike)):
            import yaml

            source = str(params)
            with open(params, encoding="utf-8") as handle:
                params = yaml.safe_load(handle) or {}
        self.parameters: Parameters = validate(params, source)
        self.settings: dict[str, Any] = dict(self.parameters.settings)

    def execute(self, image: sitk.Image, mask: sitk.Image, label: int | None = None) -> dict[str, float]:
        """``{feature name: value}`` for the ROI ``label`` of ``mask`` on ``image``, as PyRadiomics would compute it."""
        settings = dict(self.settings)
        if label is not None:
            settings["label"] = int(label)
        mask = preprocessing.get_mask(mask, **settings)
        if settings.get("normalize"):
            image = preprocessing.normalize_image(image, **settings)
        if settings.get("interpolator") is not None and settings.get("resampledPixelSpacing") is not None:
            image, mask = preprocessing.resample_image(image, mask, **settings)
        elif settings.get("preCrop"):
            box, corrected = preprocessing.check_mask(image, mask, **settings)
            if corrected is not None:
                mask = corrected
            image, mask = preprocessing.crop_to_mask(image, mask, box, **settings)
        box, corrected = preprocessing.check_mask(image, mask, **settings)
        if corrected is not None:
            mask = corrected
        resegmented = None
        if settings.get("resegmentRange") is not None:
            resegmented = preprocessing.resegment_mask(image, mask, **settings)
            box, _ = preprocessing.check_mask(image, resegmented, **settings)
        shape_mask = resegmented if resegmented is not None and settings.get("resegmentShape") else mask
        if resegmented is not None:
            mask = resegmented

        features: dict[str, float] = {}
        crop = box_slices(box)
        features.update(self._shape(image, shape_mask, box, crop, settings))
        classes = [
            (name, feature_class_module(name), self.parameters.names(name))
            for name in self.parameters.feature_classes
            if name not in SHAPE_CLASSES
        ]
        if not classes:
            return features
        roi = sitk.GetArrayViewFromImage(mask)[crop] == settings["label"]
        for type_name, custom in self.parameters.image_types.items():
            type_settings = {**settings, **custom}
            for filtered, name, filtered_settings in filters.IMAGE_TYPES[type_name](image, mask, **type_settings):
                region = _region(filtered, crop, roi, filtered_settings)
                for class_name, module, names in classes:
                    values = module.compute(region, names)
                    features.update((f"{name}_{class_name}_{feature}", value) for feature, value in values.items())
        return features

    def _shape(self, image: sitk.Image, mask: sitk.Image, box: np.ndarray, crop: tuple[slice, ...],
               settings: dict[str, Any]) -> dict[str, float]:
        """Shape (3D) and shape2D features of the unfiltered crop, under PyRadiomics' conditions for each."""
        enabled = [name for name in SHAPE_CLASSES if name in self.parameters.feature_classes]
        if not enabled:
            return {}
        dimension = mask.GetDimension()
        region = _region(image, crop, sitk.GetArrayViewFromImage(mask)[crop] == settings["label"], settings)
        features: dict[str, float] = {}
        for class_name in enabled:
            if class_name == "shape" and dimension != 3:
                continue
            if class_name == "shape2D" and dimension == 3:
                size = box[1::2] - box[0::2] + 1
                if not settings.get("force2D") or not size[int(settings.get("force2Ddimension", 0))] > 1:
                    continue
            values = feature_class_module(class_name).compute(region, self.parameters.names(class_name))
            features.update((f"original_{class_name}_{feature}", value) for feature, value in values.items())
        return features
