"""A stand-in for ``slicer.parameterNodeWrapper`` (pure Python in Slicer, not shipped in slicer-core).

It keeps what the MIRV modules rely on, with Slicer's storage format and rules (Base/Python/slicer/
parameterNodeWrapper at 5.8, unchanged in these points up to main):

- serializers.py: int/float are ``SetParameter(name, str(value))`` and read back with the type; str as is; bool as
  "True"/"False"; a MRML node as a node reference (with an empty parameter of the same name). The value written
  must be of the declared type (``IsInstance``).
- validators.py: ``WithinRange`` raises ValueError when a value outside is written (the modules use no other
  validator).
- wrapper.py: defaults (class attribute, else 0 / "" / False / None) are written into the node when wrapped;
  ``connectGui`` binds every widget with the dynamic property ``SlicerParameterName``; widget → parameter on the
  widget's change signal, parameter node Modified → every bound widget.
- guiConnectors.py: which widget type binds which value type (exact widget types, as ``type(widget) in ...``),
  and that a QSpinBox bound to an int gets its range from ``WithinRange``, else ±2**31 (Slicer also reads
  Minimum/Maximum) — overriding the range in the .ui file (lines 250–270 at 5.8). QDoubleSpinBox likewise with
  ±inf. qMRMLNodeComboBox gets ``nodeTypes`` from the annotated node class.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass
from typing import Any, Callable

import slicer
import vtk

from slicer_gui import mrml_widgets, qt_widgets

SlicerParameterNamePropertyName = "SlicerParameterName"


@dataclass(frozen=True)
class WithinRange:
    minimum: Any
    maximum: Any

    def validate(self, value: Any) -> None:
        if not self.minimum <= value <= self.maximum:
            raise ValueError(f"Value must be within range [{self.minimum}, {self.maximum}], is {value}")


def _is_node_type(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, slicer.vtkMRMLNode)


class _Parameter:
    def __init__(self, name: str, kind: type, validators: list, default: Any) -> None:
        if kind not in (int, float, str, bool) and not _is_node_type(kind):
            raise TypeError(f"parameter {name}: no serializer for {kind}")
        self.name, self.kind, self.validators, self.default = name, kind, validators, default

    def write(self, node: Any, value: Any) -> None:
        expected = (int, float) if self.kind is float else self.kind
        if value is not None and not isinstance(value, expected) or value is None and not _is_node_type(self.kind):
            raise TypeError(f"parameter {self.name}: value must be of type {self.kind}, is {type(value)} {value!r}")
        for validator in self.validators:
            validator.validate(value)
        if _is_node_type(self.kind):
            node.SetParameter(self.name, "")
            node.SetNodeReferenceID(self.name, value.GetID() if value is not None else None)
        elif self.kind is bool:
            node.SetParameter(self.name, "True" if value else "False")
        else:
            node.SetParameter(self.name, str(value))

    def read(self, node: Any) -> Any:
        if _is_node_type(self.kind):
            return node.GetNodeReference(self.name)
        text = node.GetParameter(self.name)
        return text == "True" if self.kind is bool else self.kind(text)


class _Connector:
    """One widget bound to one parameter (guiConnectors.py)."""

    def __init__(self, widget: Any, parameter: _Parameter) -> None:
        self.widget, self.parameter = widget, parameter
        kind, qt = parameter.kind, qt_widgets
        if kind is int and type(widget) is qt.QSpinBox:
            self.signal, self.attribute = "valueChanged(int)", "value"
            self._set_range(-(2**31), 2**31 - 1)
        elif kind is float and type(widget) is qt.QDoubleSpinBox:
            self.signal, self.attribute = "valueChanged(double)", "value"
            self._set_range(-math.inf, math.inf)
        elif kind is bool and type(widget) is qt.QCheckBox:
            self.signal, self.attribute = "stateChanged(int)", "checked"
        elif kind is str and type(widget) is qt.QLineEdit:
            self.signal, self.attribute = "textChanged(QString)", "text"
        elif _is_node_type(kind) and type(widget) is mrml_widgets.qMRMLNodeComboBox:
            self.signal, self.attribute = "currentNodeChanged(vtkMRMLNode*)", ""
            widget.nodeTypes = [kind.__name__]
        else:
            raise RuntimeError(f"no GUI connector for {widget.qt_class()} {widget.objectName} and {kind}")

    def _set_range(self, lowest: Any, highest: Any) -> None:
        bounds = next((v for v in self.parameter.validators if isinstance(v, WithinRange)), None)
        self.widget.setRange(*((bounds.minimum, bounds.maximum) if bounds else (lowest, highest)))

    def read(self) -> Any:
        return self.widget.currentNode() if not self.attribute else getattr(self.widget, self.attribute)

    def write(self, value: Any) -> None:
        if self.attribute:
            setattr(self.widget, self.attribute, value)
        else:
            self.widget.setCurrentNode(value)


def _parameters(cls: type) -> dict[str, _Parameter]:
    defaults = {int: 0, float: 0.0, str: "", bool: False}
    parameters = {}
    for name, hint in typing.get_type_hints(cls, include_extras=True).items():
        kind, validators = hint, []
        if typing.get_origin(hint) is typing.Annotated:
            kind, *validators = typing.get_args(hint)
        default = getattr(cls, name) if hasattr(cls, name) else defaults.get(kind)
        parameters[name] = _Parameter(name, kind, validators, default)
    return parameters


def parameterNodeWrapper(cls: type) -> type:  # noqa: N802 - Slicer's name
    parameters = _parameters(cls)

    def __init__(self, parameterNode: Any) -> None:
        self.parameterNode = parameterNode
        self._guis: dict[int, dict[str, _Connector]] = {}
        self._observers: dict[int, int] = {}
        self._updating = False
        for parameter in parameters.values():
            if not parameterNode.HasParameter(parameter.name):
                parameter.write(parameterNode, parameter.default)

    def make_property(parameter: _Parameter) -> property:
        def write(self, value: Any) -> None:
            with slicer.util.NodeModify(self.parameterNode):
                parameter.write(self.parameterNode, value)

        return property(lambda self: parameter.read(self.parameterNode), write)

    def connectGui(self, gui: Any) -> int:  # noqa: N802
        bound = {widget.property(SlicerParameterNamePropertyName): widget for widget in vars(gui).values()
                 if widget.property(SlicerParameterNamePropertyName)}
        unknown = sorted(set(bound) - set(parameters))
        if unknown:
            raise ValueError(f"Cannot find a param with the given name: {unknown[0]}")
        connectors = {name: _Connector(widget, parameters[name]) for name, widget in bound.items()}
        tag = max(self._guis, default=-1) + 1
        self._guis[tag] = connectors
        for name, connector in connectors.items():
            connector.write(getattr(self, name))
            connector.callback = self._toParameter(name, connector)
            connector.widget.connect(connector.signal, connector.callback)
        self._observers[tag] = self.parameterNode.AddObserver(vtk.vtkCommand.ModifiedEvent, lambda *_: self._toGui())
        return tag

    def _toParameter(self, name: str, connector: _Connector) -> Callable[[], None]:
        def callback() -> None:
            if not self._updating:
                setattr(self, name, connector.read())
        return callback

    def _toGui(self) -> None:
        if self._updating:
            return
        self._updating = True
        try:
            for connectors in self._guis.values():
                for name, connector in connectors.items():
                    connector.write(getattr(self, name))
        finally:
            self._updating = False

    def disconnectGui(self, tag: int) -> None:  # noqa: N802
        for connector in self._guis.pop(tag, {}).values():
            connector.widget.disconnect(connector.signal, connector.callback)
        if tag in self._observers:
            self.parameterNode.RemoveObserver(self._observers.pop(tag))

    members: dict[str, Any] = {  # what the widgets call (VTKObservationMixin observes the wrapper itself)
        "__init__": __init__, "connectGui": connectGui, "disconnectGui": disconnectGui,
        "_toParameter": _toParameter, "_toGui": _toGui,
        "AddObserver": lambda self, event, callback, priority=0.0: self.parameterNode.AddObserver(event, callback, priority),
        "RemoveObserver": lambda self, tag: self.parameterNode.RemoveObserver(tag),
    }
    members.update({name: make_property(parameter) for name, parameter in parameters.items()})
    return type(cls.__name__, (), {**members, "__module__": cls.__module__, "__doc__": cls.__doc__})
