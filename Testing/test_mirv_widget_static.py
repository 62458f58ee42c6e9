"""Static checks of both Slicer modules (no Slicer needed): the widgets use only names that exist in their .ui
files and logic methods that exist, every signal they connect exists on the widget's class (Slicer's and CTK's
headers, see `slicer_gui.signals`), parameter bindings name real fields with the ranges Slicer's spin-box connector
needs, the CMake files install and test every script and carry Slicer's metadata conventions, and no module-level
code builds a ``X | Y`` type at run time (TypeError on Python 3.9, i.e. Slicer 5.8)."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from slicer_gui.signals import class_signals, normalize

REPO = Path(__file__).resolve().parent.parent
MODULES = {  # module script → (.ui file, attribute holding the Qt-free logic, its file and class)
    "MIRV": ("MIRV.ui", "logic", "patient.py", "MIRVLogic"),
    "MIRVCohort": ("MIRVCohort.ui", "cohort", "cohort.py", "MIRVCohortLogic"),
}
OTHER_CONNECTED = {"_timer": "QTimer"}  # widgets the module creates itself


def _tree(module: str) -> ast.AST:
    return ast.parse((REPO / "MIRV" / f"{module}.py").read_text(encoding="utf-8"))


def _ui(module: str) -> ET.Element:
    return ET.parse(REPO / "Resources" / "UI" / MODULES[module][0]).getroot()


def _ui_classes(module: str) -> dict[str, str]:
    return {w.get("name"): w.get("class") for w in _ui(module).iter("widget")}


def _attribute_uses(tree: ast.AST, owner: str) -> set[str]:
    """Names used as ``self.<owner>.<name>`` anywhere in the module, or through a local ``x = self.<owner>``."""
    def is_owner(node: ast.expr) -> bool:
        return isinstance(node, ast.Attribute) and node.attr == owner and \
            isinstance(node.value, ast.Name) and node.value.id == "self"

    aliases = {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and is_owner(node.value)
               for target in node.targets if isinstance(target, ast.Name)}
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and (
        is_owner(node.value) or isinstance(node.value, ast.Name) and node.value.id in aliases)}


def _class(tree: ast.AST, name: str) -> ast.ClassDef:
    return next(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef) and n.name == name)


def _parameter_fields(module: str) -> dict[str, ast.expr]:
    parameters = _class(_tree(module), f"{module}ParameterNode")
    return {n.target.id: n.annotation for n in parameters.body if isinstance(n, ast.AnnAssign)}


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_name_the_widget_uses_exists_in_the_ui_file(module):
    used = _attribute_uses(_tree(module), "ui")
    assert len(used) > 15
    assert sorted(used - set(_ui_classes(module))) == []


@pytest.mark.parametrize("module", MODULES)
def test_every_logic_method_the_widget_calls_exists(module):
    _, owner, path, name = MODULES[module]
    used = _attribute_uses(_tree(module), owner)
    logic = _class(ast.parse((REPO / "MIRV" / "MIRVLogic" / path).read_text(encoding="utf-8")), name)
    members = {n.name for n in logic.body if isinstance(n, ast.FunctionDef)}
    members |= {n.attr for n in ast.walk(logic) if isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store)
                and isinstance(n.value, ast.Name) and n.value.id == "self"}
    assert len(used) >= 5 and sorted(used - members) == []


@pytest.mark.parametrize("module", MODULES)
def test_every_connected_signal_exists_on_the_widget_class(module):
    classes = {**_ui_classes(module), **OTHER_CONNECTED}
    connections = []
    for node in ast.walk(_tree(module)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect"
                and node.args and isinstance(node.args[0], ast.Constant)):
            target = node.func.value
            widget = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            connections.append((widget, node.args[0].value))
    for connection in _ui(module).iter("connection"):
        connections.append((connection.findtext("sender"), connection.findtext("signal")))
    assert len(connections) > 5
    where = {"app": "qSlicerApplication", "combo": "QComboBox"}  # slicer.app; the lesion table's site combo boxes
    for widget, signal in connections:
        qt_class = classes.get(widget) or where[widget]
        assert normalize(signal) in class_signals(qt_class), f"{widget} ({qt_class}) has no signal {signal}"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_bindings_name_fields_and_spin_boxes_get_a_range(module):
    """Slicer's spin-box connector replaces the .ui range by the parameter's (±2**31 when it has none); the
    modules give it as WithinRange (what the harness' parameterNodeWrapper stand-in reads)."""
    fields = _parameter_fields(module)
    bound = {}
    for widget in _ui(module).iter("widget"):
        for prop in widget.findall("property"):
            if prop.get("name") == "SlicerParameterName":
                bound[prop.findtext("string")] = widget.get("class")
    assert bound and sorted(set(bound) - set(fields)) == []
    for name, qt_class in bound.items():
        if qt_class in ("QSpinBox", "QDoubleSpinBox"):
            assert "WithinRange(" in ast.unparse(fields[name]), name


def test_cmake_lists_every_module_script_and_registers_both_self_tests():
    cmake = (REPO / "MIRV" / "CMakeLists.txt").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\s+([\w/]+\.py)\s*$", cmake, flags=re.M)) | {"MIRV.py"}
    on_disk = {str(p.relative_to(REPO / "MIRV")) for p in (REPO / "MIRV").rglob("*.py") if "__pycache__" not in p.parts}
    assert sorted(on_disk - listed) == [] and sorted(listed - on_disk) == []
    assert "WITH_GENERIC_TESTS" in cmake
    assert {"${MODULE_NAME}.py", "MIRVCohort.py"} == set(re.findall(r"slicer_add_python_unittest\(SCRIPT (\S+)\)", cmake))
    for pattern in ("Resources/UI/*.ui", "Resources/Icons/*.png", "Resources/SampleData/*", "Resources/requirements.txt"):
        assert pattern in cmake, pattern
    for icon in ("MIRV.png", "MIRVCohort.png", "MIRVSample.png"):
        assert (REPO / "Resources" / "Icons" / icon).read_bytes()[:4] == b"\x89PNG", icon


def test_extension_metadata_follows_slicers_conventions():
    cmake = (REPO / "CMakeLists.txt").read_text(encoding="utf-8")
    low, high = re.search(r"cmake_minimum_required\(VERSION ([\d.]+)\.\.\.([\d.]+)", cmake).groups()
    version = lambda text: tuple(int(part) for part in text.split("."))  # noqa: E731
    assert version(low) <= (3, 16, 3)  # Slicer 5.8 builds with that
    assert version(high) >= (3, 28, 0)  # the policies of the 5.12 / main extension template
    contributors = re.search(r'set\(EXTENSION_CONTRIBUTORS "([^"]+)"\)', cmake).group(1)
    assert re.fullmatch(r"[^,()]+ \([^()]+\)(, [^,()]+ \([^()]+\))*", contributors)  # "Name (Affiliation), ..."
    mirv = _tree("MIRV")
    [assignment] = [n for n in mirv.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CONTRIBUTORS"]
    assert ast.literal_eval(assignment.value) == tuple(contributors.split(", "))
    placeholder = re.search(r"# PLACEHOLDER.*\n.*\nset\(MIRV_REPOSITORY_URL \"([^\"]+)\"\)", cmake)
    assert placeholder, "the repository URL must be marked as a placeholder"
    for variable in ("EXTENSION_HOMEPAGE", "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS"):
        value = re.search(rf'set\({variable} "([^"]+)"\)', cmake).group(1)
        assert value.startswith("${MIRV_REPOSITORY_URL}"), variable


def _runtime_unions(tree: ast.AST) -> list[int]:
    """Lines where a module-level statement (not an annotation) applies ``|`` to a type-like operand."""
    def type_like(node: ast.expr) -> bool:
        return isinstance(node, ast.Subscript) or (isinstance(node, ast.Constant) and node.value is None) or \
            (isinstance(node, ast.Name) and node.id in {"int", "float", "str", "bool", "bytes", "list", "dict",
                                                         "tuple", "set", "type", "object"})

    lines = []
    for statement in tree.body:
        values = [statement.value] if isinstance(statement, (ast.Assign, ast.AnnAssign)) and statement.value else []
        for value in values:
            for node in ast.walk(value):
                if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr) and \
                        (type_like(node.left) or type_like(node.right)):
                    lines.append(node.lineno)
    return lines


def test_no_runtime_type_unions_for_python_3_9():
    files = sorted([*(REPO / "MIRVLib").rglob("*.py"), *(REPO / "MIRV").rglob("*.py")])
    found = {str(f.relative_to(REPO)): _runtime_unions(ast.parse(f.read_text(encoding="utf-8"))) for f in files}
    assert len(files) > 40
    assert {name: lines for name, lines in found.items() if lines} == {}
