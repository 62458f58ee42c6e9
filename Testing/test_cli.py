"""The `mirv` entry point: help, version and resource discovery work from the installed package."""

from __future__ import annotations

import json
import subprocess
import sys

from fresh_interpreter import modules_loaded_by

import MIRVLib
from MIRVLib.cli import main


def test_version_matches_package(capsys):
    try:
        main(["--version"])
    except SystemExit as stop:
        assert stop.code == 0
    assert capsys.readouterr().out.strip() == f"mirv {MIRVLib.__version__}"


def test_info_lists_shipped_presets(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert {"MIRV-CT", "Henry2022"} <= set(info["presets"])
    assert info["versions"]["pyradiomics-bhklab"] == "3.1.4"


def test_console_script_help_runs():
    result = subprocess.run([sys.executable, "-m", "MIRVLib", "--help"],
                            capture_output=True, text=True, encoding="utf-8", check=True)
    assert "usage: mirv" in result.stdout


def test_mirvlib_imports_without_slicer():
    code = (
        "import sys, importlib, pkgutil, MIRVLib\n"
        "sys.modules['slicer'] = None; sys.modules['qt'] = None\n"
        "for m in pkgutil.walk_packages(MIRVLib.__path__, 'MIRVLib.'):\n"
        "    m.name.endswith('__main__') or importlib.import_module(m.name)\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_a_command_imports_only_its_own_module():
    """`mirv info` must not pay for SciPy/Matplotlib start-up that only other commands need."""
    code = "from MIRVLib.cli import main\nmain(['info', '--json'])"
    assert modules_loaded_by(code, ["MIRVLib.commands.", "matplotlib"]) == ["MIRVLib.commands.info"]


def test_help_lists_every_command(capsys):
    try:
        main(["--help"])
    except SystemExit as stop:
        assert stop.code == 0
    listed = capsys.readouterr().out
    for command in ("batch", "cohort", "extract", "info", "robustness", "stats"):
        assert f"    {command}" in listed


def test_full_parser_imports_no_numerical_stack():
    """`mirv --help`, `mirv --version` and bare `mirv` build every command's parser: ~0.1 s, not ~0.9 s."""
    code = "from MIRVLib.cli import build_parser\nbuild_parser()"
    assert modules_loaded_by(code, ["pandas", "scipy", "matplotlib", "dask"]) == []
    version = subprocess.run([sys.executable, "-m", "MIRVLib", "--version"], capture_output=True, text=True,
                             encoding="utf-8", check=True)
    assert version.stdout.strip() == f"mirv {MIRVLib.__version__}"
