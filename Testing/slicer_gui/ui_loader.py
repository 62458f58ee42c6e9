"""``QUiLoader`` for the stand-ins: a Qt Designer ``.ui`` file → widgets with the right names and properties.

Every class must have a stand-in and every property must be one the class has (QUiLoader would only warn and
drop it); ``stdset="0"`` properties (``SlicerParameterName``) become dynamic properties. Layout items become
children of the widget owning the layout, tab pages are added with their titles, table columns get their header
texts, and the ``<connections>`` are made through ``connect``, so a misspelled signal fails here too.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

from slicer_gui import ctk_widgets, mrml_widgets, qt_widgets
from slicer_gui.qt_widgets import QLayout, QObject, QTableWidget, QTabWidget, QWidget

CLASSES = {**qt_widgets.CLASSES, **ctk_widgets.CLASSES, **mrml_widgets.CLASSES}


def _value(element: ET.Element) -> Any:
    """The value of a ``<property>`` (its single child element)."""
    child = next(iter(element))
    if child.tag == "string":
        return child.text or ""
    if child.tag == "bool":
        return child.text == "true"
    if child.tag == "number":
        return int(child.text)
    if child.tag == "double":
        return float(child.text)
    if child.tag == "stringlist":
        return [item.text or "" for item in child.findall("string")]
    if child.tag in ("size", "rect"):
        return tuple(int(part.text) for part in child)
    if child.tag in ("set", "enum"):
        return child.text
    raise AssertionError(f"unsupported .ui property type <{child.tag}>")


def _create(element: ET.Element, widgets: dict[str, QObject], attach: Callable[[Any], None] = lambda _: None) -> QObject:
    """A widget or layout with its properties, ``attach``-ed to its parent before its own children are made (so
    layout items find the widget that owns the layout)."""
    class_name = element.get("class")
    if class_name not in CLASSES:
        raise AssertionError(f"no stand-in for {class_name} (widget {element.get('name')})")
    instance = CLASSES[class_name]()
    instance.objectName = element.get("name", "")
    widgets[instance.objectName] = instance
    for prop in element.findall("property"):
        name = prop.get("name")
        if prop.get("stdset") == "0":
            instance.setProperty(name, _value(prop))
        elif name in instance.known_properties():
            setattr(instance, name, _value(prop))
        else:
            raise AssertionError(f"{class_name} {instance.objectName} has no property {name}")
    if isinstance(instance, QTableWidget):
        headers = [_value(column.find("property")) for column in element.findall("column")]
        if headers:
            instance.setColumnCount(len(headers))
            instance.setHorizontalHeaderLabels(headers)
    attach(instance)
    if isinstance(instance, QWidget):
        _fill_widget(instance, element, widgets)
    else:
        _fill_layout(instance, element, widgets)
    return instance


def _fill_widget(widget: QWidget, element: ET.Element, widgets: dict[str, QObject]) -> None:
    layout = element.find("layout")
    if layout is not None:
        _create(layout, widgets, widget.setLayout)
    for child in element.findall("widget"):
        if isinstance(widget, QTabWidget):
            title = child.find("attribute[@name='title']")
            label = _value(title) if title is not None else ""
            _create(child, widgets, lambda page, label=label: widget.addTab(page, label))
        else:
            _create(child, widgets, lambda page: page.setParent(widget))


def _fill_layout(layout: QLayout, element: ET.Element, widgets: dict[str, QObject]) -> None:
    for item in element.findall("item"):
        for child in item:
            if child.tag == "widget":
                _create(child, widgets, layout.addWidget)
            elif child.tag == "layout":
                _create(child, widgets, layout.addLayout)


def load_ui(path: Path) -> QWidget:
    root = ET.parse(path).getroot()
    widgets: dict[str, QObject] = {}
    top = _create(root.find("widget"), widgets)
    for connection in root.iter("connection"):
        sender, receiver = widgets[connection.findtext("sender")], widgets[connection.findtext("receiver")]
        slot = connection.findtext("slot")
        method = getattr(receiver, slot.split("(", 1)[0], None)
        if not callable(method):
            raise AssertionError(f"{receiver.qt_class()} {receiver.objectName} has no slot {slot}")
        sender.connect(connection.findtext("signal"), method)
    return top
