"""`mirv info`: versions, shipped presets and models — what a bug report or methods section needs."""

from __future__ import annotations

import argparse
import json

from MIRVLib.options import DEFAULT_ENGINE
from MIRVLib.provenance import library_versions, pyradiomics_version
from MIRVLib.resources import list_models, list_presets, resources_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="show versions, presets and shipped models")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(func=run)


def _engines(versions: dict[str, str]) -> dict[str, str]:
    """Feature engines and whether they can run here (PyRadiomics is an optional extra)."""
    pyradiomics = pyradiomics_version(versions)
    return {
        "native": f"MIRVLib.engine {versions['mirv']}" + (" (default)" if DEFAULT_ENGINE == "native" else ""),
        "pyradiomics": f"PyRadiomics {pyradiomics}" if pyradiomics else "not installed (pip install 'mirv[pyradiomics]')",
    }


def run(args: argparse.Namespace) -> int:
    versions = library_versions()
    info = {
        "versions": versions,
        "engines": _engines(versions),
        "resources": str(resources_dir()),
        "presets": list_presets(),
        "models": list_models(),
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for name, version in info["versions"].items():
        print(f"{name:>20}  {version}")
    for name, state in info["engines"].items():
        print(f"{'engine ' + name:>20}  {state}")
    print(f"{'resources':>20}  {info['resources']}")
    print(f"{'presets':>20}  {', '.join(info['presets'])}")
    print(f"{'models':>20}  {', '.join(info['models']) or '(none)'}")
    return 0
