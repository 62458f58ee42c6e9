"""Where MIRV's shipped resources (parameter presets, fitted models, sample data) live.

The repository keeps them in the top-level ``Resources/`` folder; a wheel carries them as
``MIRVLib/Resources`` and a Slicer extension build copies them next to the module. All three layouts
are searched so callers never hard-code a path.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resources_dir() -> Path:
    """The Resources folder (``MIRV_RESOURCES`` overrides the search)."""
    candidates = [Path(os.environ["MIRV_RESOURCES"])] if os.environ.get("MIRV_RESOURCES") else []
    candidates += [_PACKAGE_DIR / "Resources", _PACKAGE_DIR.parent / "Resources"]
    for candidate in candidates:
        if (candidate / "Presets").is_dir():
            return candidate
    raise FileNotFoundError(f"MIRV resources not found; looked in: {', '.join(map(str, candidates))}")


def list_presets() -> list[str]:
    return sorted(p.stem for p in (resources_dir() / "Presets").glob("*.yaml"))


def preset_path(preset: str | os.PathLike[str]) -> Path:
    """A shipped preset by name (``MIRV-CT``, ``Henry2022``) or any PyRadiomics YAML file."""
    candidate = Path(preset)
    if candidate.suffix.lower() in {".yaml", ".yml"} and candidate.is_file():
        return candidate
    shipped = resources_dir() / "Presets" / f"{preset}.yaml"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"unknown preset '{preset}': not a YAML file and not one of {list_presets()}")


def list_models() -> list[str]:
    return sorted(p.stem for p in (resources_dir() / "Models").glob("*.json"))


def model_path(model: str | os.PathLike[str]) -> Path:
    """A shipped MIRV model by name (``SARC021-lung-paper``) or any model JSON file."""
    candidate = Path(model)
    if candidate.suffix.lower() == ".json" and candidate.is_file():
        return candidate
    shipped = resources_dir() / "Models" / f"{model}.json"
    if shipped.is_file():
        return shipped
    raise FileNotFoundError(f"unknown model '{model}': not a JSON file and not one of {list_models()}")
