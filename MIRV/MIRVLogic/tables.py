"""DataFrame ↔ ``vtkMRMLTableNode``: the one conversion every MIRV module logic uses (no Qt, works on slicer-core).

Numbers become double arrays (NaN = missing), everything else text. Reading back, text columns that hold only
numbers (a CSV read by Slicer's table storage node is all text) become numeric again — except the columns the
caller names as text, such as patient and lesion ids (``001`` must stay ``001``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import pandas as pd
import vtk
from vtk.util import numpy_support

SOURCE_ATTRIBUTE = "MIRV.Source"


def dataframe_from_table_node(node, text_columns: Collection[str] = ()) -> pd.DataFrame:
    """Table node → DataFrame; numeric-looking text columns become numbers unless listed in ``text_columns``."""
    table = node.GetTable()
    columns = {}
    for index in range(table.GetNumberOfColumns()):
        array = table.GetColumn(index)
        name = array.GetName() or node.GetColumnName(index)
        if isinstance(array, vtk.vtkDataArray):
            columns[name] = numpy_support.vtk_to_numpy(array).copy()
            continue
        values = pd.Series([array.GetValue(i) for i in range(array.GetNumberOfValues())], dtype=object)
        if name in text_columns:
            columns[name] = values
            continue
        values = values.where(values != "", np.nan)
        numeric = pd.to_numeric(values, errors="coerce")
        columns[name] = numeric if numeric.notna().sum() == values.notna().sum() else values
    frame = pd.DataFrame(columns)
    frame.attrs["source"] = node.GetAttribute(SOURCE_ATTRIBUTE) or node.GetName()
    return frame


def update_table_node(node, frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None,
                      units: Mapping[str, str] | None = None) -> None:
    """DataFrame → table node columns: numbers as double arrays (NaN = missing), everything else as text.

    ``descriptions``/``units`` are stored as the table's column properties, which Slicer's table view shows
    as tooltips and saves in the ``.schema.csv`` next to the table (as Segment Statistics does).
    """
    table = vtk.vtkTable()
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            array = numpy_support.numpy_to_vtk(pd.to_numeric(values).astype(float).to_numpy(), deep=True,
                                               array_type=vtk.VTK_DOUBLE)
        else:
            array = vtk.vtkStringArray()
            for value in values:
                array.InsertNextValue("" if pd.isna(value) else str(value))
        array.SetName(str(column))
        table.AddColumn(array)
    node.SetAndObserveTable(table)
    for column, text in (descriptions or {}).items():
        if column in frame.columns:
            node.SetColumnDescription(str(column), text)
    for column, text in (units or {}).items():
        if column in frame.columns:
            node.SetColumnUnitLabel(str(column), text)
    node.Modified()


def new_table_node(scene, name: str, frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None,
                   units: Mapping[str, str] | None = None):
    """A new table node in ``scene`` holding ``frame``."""
    node = scene.AddNewNodeByClass("vtkMRMLTableNode", name)
    update_table_node(node, frame, descriptions, units)
    return node


def result_table_node(scene, name: str, frame: pd.DataFrame, attribute: str, value: str,
                      descriptions: Mapping[str, str] | None = None, units: Mapping[str, str] | None = None):
    """The table node of a result: the node named ``name`` whose ``attribute`` is ``value``, updated (a re-run
    keeps one copy in the scene), or a new one so marked."""
    collection = scene.GetNodesByClassByName("vtkMRMLTableNode", name)
    for index in range(collection.GetNumberOfItems()):
        node = collection.GetItemAsObject(index)
        if node.GetAttribute(attribute) == value:
            update_table_node(node, frame, descriptions, units)
            return node
    node = new_table_node(scene, name, frame, descriptions, units)
    node.SetAttribute(attribute, value)
    return node
