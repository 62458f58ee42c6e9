"""Static checks of the MIRV module's GUI layer (no Slicer needed): the Widget only uses widgets that exist in
its .ui file and Logic methods that exist, parameter-node bindings name real fields, and the module's
CMakeLists lists every script of the module."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "MIRV" / "MIRV.py"
UI = REPO / "Resources" / "UI" / "MIRV.ui"


def _ui_widgets() -> dict[str, ET.Element]:
    return {w.get("name"): w for w in ET.parse(UI).getroot().iter("widget")}


def _attribute_uses(tree: ast.AST, owner: str) -> set[str]:
    """Names used as ``self.<owner>.<name>`` anywhere in the module."""
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                and node.value.attr == owner and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"):
            names.add(node.attr)
    return names


def _class(tree: ast.AST, name: str) -> ast.ClassDef:
    return next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)


def test_every_ui_name_the_widget_uses_exists_in_the_ui_file():
    used = _attribute_uses(ast.parse(MODULE.read_text(encoding="utf-8")), "ui")
    widgets = _ui_widgets()
    assert len(used) > 20
    assert sorted(used - set(widgets)) == []


def test_every_logic_method_the_widget_calls_exists_on_MIRVLogic():
    used = _attribute_uses(ast.parse(MODULE.read_text(encoding="utf-8")), "logic")
    logic = _class(ast.parse((REPO / "MIRV" / "MIRVLogic" / "patient.py").read_text(encoding="utf-8")), "MIRVLogic")
    methods = {n.name for n in logic.body if isinstance(n, ast.FunctionDef)}
    assert {"extractFeatures", "computeMIRV", "showDissimilarityOverlay", "hideDissimilarityOverlay",
            "saveMatrixImage", "exportPatientRow", "jumpSlicesToPair"} <= used
    assert sorted(used - methods) == []


def test_parameter_bindings_name_fields_of_the_parameter_node():
    root = ET.parse(UI).getroot()
    bound = {p.findtext("string") for p in root.iter("property") if p.get("name") == "SlicerParameterName"}
    parameters = _class(ast.parse(MODULE.read_text(encoding="utf-8")), "MIRVParameterNode")
    fields = {n.target.id for n in parameters.body if isinstance(n, ast.AnnAssign)}
    assert bound and sorted(bound - fields) == []


def test_cmake_lists_every_module_script():
    cmake = (REPO / "MIRV" / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+([\w/]+\.py)\s*$", cmake, flags=re.M)) | {"MIRV.py"}
    on_disk = {str(p.relative_to(REPO / "MIRV")) for p in (REPO / "MIRV").rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(on_disk - listed) == [] and sorted(listed - on_disk) == []
    assert "WITH_GENERIC_TESTS" in cmake and "slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)" in cmake
