"""The MIRV model file's schema, checked before a model is used, naming the file and the field.

A model is trusted to z-score every lesion of a patient, so a damaged one must not be half-used: without
this check ``features: []`` made the reduction quietly re-fit (while provenance said ``fitted: false``), a
NaN mean emptied every MIRV, a negative std was treated as 1, a JSON list raised AttributeError and text
where numbers belong gave a bare conversion error. :func:`model_problems` lists every problem; the model
loader (:meth:`MIRVLib.reduction.FeatureReduction.from_dict`, used by every command and the Slicer module)
refuses the file with all of them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

REQUIRED = ("format", "preset", "features")
SETTINGS_NUMBERS = ("variance_quantile", "volume_correlation", "feature_correlation")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    return _number(value) and math.isfinite(value)


def model_problems(payload: Any) -> list[str]:
    """Every way ``payload`` (a parsed model JSON) breaks the schema, each naming the field; [] when valid."""
    if not isinstance(payload, Mapping):
        return [f"the file holds a JSON {type(payload).__name__}, not an object with the model's fields"]
    problems = [f"field '{key}' is missing" for key in REQUIRED if key not in payload]
    if "formatVersion" in payload and not (isinstance(payload["formatVersion"], int)
                                           and not isinstance(payload["formatVersion"], bool)):
        problems.append(f"field 'formatVersion' must be an integer, got {payload['formatVersion']!r}")
    settings = payload.get("settings", {})
    if not isinstance(settings, Mapping):
        problems.append(f"field 'settings' must be an object, got {type(settings).__name__}")
    else:
        problems += [f"field 'settings.{key}' must be a finite number, got {settings[key]!r}"
                     for key in SETTINGS_NUMBERS if key in settings
                     and not _finite(settings[key])]
    features = payload.get("features")
    if "features" in payload:
        if not isinstance(features, list):
            problems.append(f"field 'features' must be a list, got {type(features).__name__}")
        elif not features:
            problems.append("field 'features' is empty: the model selects no feature, so it cannot score lesions")
        else:
            problems += _feature_problems(features)
    reference = payload.get("referenceCohort", {})
    if not isinstance(reference, Mapping):
        problems.append(f"field 'referenceCohort' must be an object, got {type(reference).__name__}")
    else:
        for metric, values in reference.items():
            if not isinstance(values, list) or not all(_finite(v) for v in values):
                problems.append(f"field 'referenceCohort.{metric}' must be a list of finite numbers")
    harmonisation = payload.get("harmonisation")
    if harmonisation is not None:  # absent or null in models fitted without harmonisation (and in older files)
        found = harmonisation_problems(harmonisation)
        problems += [f"field 'harmonisation': {p}" for p in found]
        if not found and isinstance(features, list):
            names = {f.get("name") for f in features if isinstance(f, Mapping)}
            absent = sorted(names - set(harmonisation["features"]), key=str)
            if absent:
                problems.append(f"field 'harmonisation' has no ComBat parameters for selected feature(s) {absent[:5]}")
    return problems


def _numbers(values: Any, size: int, positive: bool = False) -> bool:
    return (isinstance(values, list) and len(values) == size
            and all(_finite(v) and (v > 0 if positive else True) for v in values))


def harmonisation_problems(payload: Any) -> list[str]:
    """Every way a ComBat parameter object (``MIRVLib.harmonisation.ComBat.to_dict``) is broken; [] when valid."""
    if not isinstance(payload, Mapping):
        return [f"must be an object with the ComBat parameters, got {type(payload).__name__}"]
    keys = ("batchColumn", "covariates", "categoricalLevels", "features", "grandMean", "pooledVariance", "coefficients",
            "batches")
    problems = [f"field '{key}' is missing" for key in keys if key not in payload]
    if problems:
        return problems
    features, levels, covariates = payload["features"], payload["categoricalLevels"], payload["covariates"]
    if not (isinstance(features, list) and features and all(isinstance(f, str) for f in features)):
        return ["field 'features' must be a non-empty list of feature names"]
    if not (isinstance(covariates, list) and isinstance(levels, Mapping) and set(levels) <= set(covariates)
            and all(isinstance(v, list) and v for v in levels.values())):
        return ["fields 'covariates' (a list) and 'categoricalLevels' (covariate -> levels) do not fit together"]
    n = len(features)
    if not _numbers(payload["grandMean"], n):
        problems.append(f"field 'grandMean' must be {n} finite numbers")
    if not _numbers(payload["pooledVariance"], n, positive=True):
        problems.append(f"field 'pooledVariance' must be {n} finite numbers > 0")
    columns = sum(len(v) - 1 for v in levels.values()) + len(covariates) - len(levels)
    rows = payload["coefficients"]
    if not (isinstance(rows, list) and len(rows) == columns and all(_numbers(r, n) for r in rows)):
        problems.append(f"field 'coefficients' must be {columns} rows (one per design column) of {n} finite numbers")
    batches = payload["batches"]
    if not (isinstance(batches, list) and len(batches) >= 2):
        return [*problems, "field 'batches' must list at least 2 batches"]
    for i, batch in enumerate(batches):
        if not (isinstance(batch, Mapping) and isinstance(batch.get("name"), str) and _number(batch.get("lesions"))
                and _numbers(batch.get("gammaStar"), n) and _numbers(batch.get("deltaStar"), n, positive=True)):
            problems.append(f"field 'batches[{i}]' must have a name, lesions, {n} gammaStar and {n} deltaStar (> 0) values")
    return problems


def _feature_problems(features: list[Any]) -> list[str]:
    problems, seen = [], set()
    for i, feature in enumerate(features):
        where = f"features[{i}]"
        if not isinstance(feature, Mapping):
            problems.append(f"field '{where}' must be an object with name, mean and std, got {feature!r}")
            continue
        name = feature.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"field '{where}.name' must be a feature name, got {name!r}")
        elif name in seen:
            problems.append(f"field '{where}.name': feature '{name}' is listed twice")
        else:
            seen.add(name)
            where = f"{where} ({name})"
        mean, std = feature.get("mean"), feature.get("std")
        if not _finite(mean):
            problems.append(f"field '{where}.mean' must be a finite number, got {mean!r}")
        if not (_finite(std) and std >= 0):  # 0: constant in the cohort, only centred
            problems.append(f"field '{where}.std' must be a finite number >= 0, got {std!r}")
    return problems
