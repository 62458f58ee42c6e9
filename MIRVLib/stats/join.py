"""Assemble the analysis table: patient rows + clinical tables joined on a patient ID, typed, with derived columns.

Every cohort brings its own clinical columns, so nothing here knows a column name: the user names the ID
column, the types are detected (and can be overridden), and derived columns (``AGE>=65``, a median split)
are written as small expressions rather than edited into the CSV by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from MIRVLib.options import BINARY, CATEGORICAL, COLUMN_TYPES, CONTINUOUS


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV with header cleanup: a UTF-8 byte-order mark and stray blanks around names are common in exports."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"cannot read table {path}: {error}") from error
    frame.columns = [str(c).strip() for c in frame.columns]
    frame.attrs["source"] = str(path)
    return frame


def parse_id_columns(id_column: str | Sequence[str]) -> list[str]:
    """``"PatientID,USUBJID"`` → candidate names; each table uses the first one it has."""
    names = id_column.split(",") if isinstance(id_column, str) else list(id_column)
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise ValueError("an ID column name is required")
    return names


@dataclass
class JoinResult:
    """The joined table plus what the join threw away, so a report can say which patients were not analysed."""

    frame: pd.DataFrame
    id_column: str
    unmatched: dict[str, list[str]] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def unmatched_table(self) -> pd.DataFrame:
        rows = [{"table": t, self.id_column: i} for t, ids in self.unmatched.items() for i in ids]
        return pd.DataFrame(rows, columns=["table", self.id_column])


def _table_name(frame: pd.DataFrame, position: int) -> str:
    source = frame.attrs.get("source")
    return Path(source).stem if source else f"table{position + 1}"


def _normalise_ids(frame: pd.DataFrame, candidates: list[str], name: str) -> pd.DataFrame:
    present = [c for c in candidates if c in frame.columns]
    if not present:
        raise ValueError(f"table '{name}' has none of the ID columns {candidates}; its columns: {list(frame.columns)[:12]}")
    frame = frame.rename(columns={present[0]: candidates[0]})
    ids = frame[candidates[0]]
    if ids.isna().any():
        raise ValueError(f"table '{name}' has {int(ids.isna().sum())} rows without an ID in column '{present[0]}'")
    frame[candidates[0]] = ids.astype(str).str.strip()
    duplicated = frame[candidates[0]][frame[candidates[0]].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"table '{name}' has duplicated IDs in '{present[0]}': {', '.join(duplicated[:5])}")
    return frame


def _same_values(a: pd.Series, b: pd.Series) -> bool:
    """Equal as numbers when both are numeric (1 == 1.0), else as text; missing equals missing."""
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
        return bool(np.array_equal(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True))
    return a.astype(str).equals(b.astype(str))


def join_tables(
    tables: Sequence[pd.DataFrame], id_column: str | Sequence[str] = "PatientID", names: Sequence[str] | None = None
) -> JoinResult:
    """Inner join on the patient ID; IDs missing from any table are reported, not silently lost.

    A column appearing in several tables is kept once when the values agree on the shared patients
    (clinical exports repeat survival columns) and suffixed with the table name when they do not.
    """
    if not tables:
        raise ValueError("at least one table is required")
    candidates = parse_id_columns(id_column)
    key = candidates[0]
    names = list(names) if names else [_table_name(t, i) for i, t in enumerate(tables)]
    frames = [_normalise_ids(t.copy(), candidates, n) for t, n in zip(tables, names)]
    common = set(frames[0][key])
    for frame in frames[1:]:
        common &= set(frame[key])
    unmatched = {n: sorted(set(f[key]) - common) for f, n in zip(frames, names)}
    result = frames[0]
    renamed: dict[str, str] = {}
    for frame, name in zip(frames[1:], names[1:]):
        overlap = [c for c in frame.columns if c != key and c in result.columns]
        merged = result.merge(frame, on=key, how="inner", suffixes=("", f".{name}"))
        for column in overlap:
            other = f"{column}.{name}"
            if _same_values(merged[column], merged[other]):
                merged = merged.drop(columns=other)
            else:
                renamed[other] = column
        result = merged
    result = result.sort_values(key, kind="stable").reset_index(drop=True)
    return JoinResult(result, key, {n: ids for n, ids in unmatched.items() if ids}, renamed)


def detect_types(frame: pd.DataFrame, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """continuous / binary / categorical per column: two distinct values → binary, text → categorical.

    Numeric codes such as ECOG 0–3 look continuous; the caller overrides them to categorical.
    """
    overrides = dict(overrides or {})
    for column, kind in overrides.items():
        if kind not in COLUMN_TYPES:
            raise ValueError(f"unknown type '{kind}' for column '{column}'; use one of {COLUMN_TYPES}")
        if column not in frame.columns:
            raise ValueError(f"type override for unknown column '{column}'")
    types: dict[str, str] = {}
    for column in frame.columns:
        if column in overrides:
            types[column] = overrides[column]
            continue
        values = frame[column].dropna()
        if values.nunique() == 2:
            types[column] = BINARY
        elif pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            types[column] = CONTINUOUS
        else:
            types[column] = CATEGORICAL
    return types


_DERIVE = re.compile(r"^\s*(?:(?P<name>[^=<>!]+?)\s*=(?!=))?\s*(?P<column>.+?)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<value>.+?)\s*$")
_OPERATORS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less, "==": np.equal, "!=": np.not_equal}


def derive_column(frame: pd.DataFrame, expression: str) -> tuple[str, pd.Series, dict[str, object]]:
    """Evaluate ``[NAME=]COLUMN OP VALUE`` → a 0/1 column (missing stays missing).

    VALUE is a number, ``median``/``mean`` of the column over the rows present, or a text level
    (``CPCELL==Leiomyosarcoma``). The resolved cut-off is returned so reports state it.
    """
    match = _DERIVE.match(expression)
    if not match:
        raise ValueError(f"cannot parse derived column '{expression}'; expected e.g. 'AGE>=65' or 'HIGH=MIRVMaxDistance>=median'")
    column, op, value_text = match["column"].strip(), match["op"], match["value"].strip()
    if column not in frame.columns:
        raise ValueError(f"derived column '{expression}': unknown column '{column}'")
    name = (match["name"] or "").strip() or f"{column}{op}{value_text}"
    source = frame[column]
    value: object
    if value_text.lower() in {"median", "mean"}:
        numeric = pd.to_numeric(source, errors="coerce")
        value = float(numeric.median() if value_text.lower() == "median" else numeric.mean())
        source = numeric
    else:
        try:
            value = float(value_text)
            source = pd.to_numeric(source, errors="coerce")
        except ValueError:
            value = value_text.strip("'\"")
            if op not in {"==", "!="}:
                raise ValueError(f"derived column '{expression}': '{value_text}' is not a number") from None
    missing = source.isna()
    if isinstance(value, str):
        equal = source.astype(str).str.strip() == value
        result = (equal if op == "==" else ~equal).astype(float)
    else:
        result = pd.Series(_OPERATORS[op](source.to_numpy(dtype=float), value), index=frame.index).astype(float)
    result[missing] = np.nan
    return name, result, {"expression": expression, "column": column, "operator": op, "value": value}


def add_derived(frame: pd.DataFrame, expressions: Sequence[str]) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Append every derived column; later expressions may use earlier ones."""
    frame = frame.copy()
    records = []
    for expression in expressions:
        name, values, record = derive_column(frame, expression)
        frame[name] = values
        records.append({"name": name, **record})
    return frame, records


def require_columns(frame: pd.DataFrame, columns: Sequence[str], purpose: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{purpose}: column(s) {missing} not in the table; available: {list(frame.columns)}")


def missing_report(
    frame: pd.DataFrame, columns: Sequence[str] | None = None, types: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Per column: type, values present, missing and % missing — the first thing a reviewer asks."""
    columns = list(columns) if columns is not None else list(frame.columns)
    require_columns(frame, columns, "missing-value report")
    types = dict(types) if types is not None else detect_types(frame[columns])
    rows = []
    for column in columns:
        missing = int(frame[column].isna().sum())
        rows.append({"column": column, "type": types.get(column, ""), "n": int(len(frame) - missing),
                     "missing": missing, "missing_percent": 100.0 * missing / len(frame) if len(frame) else np.nan})
    return pd.DataFrame(rows, columns=["column", "type", "n", "missing", "missing_percent"])


def complete_cases(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Listwise deletion over the columns one analysis uses (each analysis reports its own n)."""
    require_columns(frame, columns, "analysis")
    return frame.dropna(subset=list(columns))


def numeric_columns(frame: pd.DataFrame, columns: Sequence[str], purpose: str) -> pd.DataFrame:
    """Columns as floats; text that is not a number is an error naming the column and a bad value."""
    require_columns(frame, columns, purpose)
    out = pd.DataFrame(index=frame.index)
    for column in columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            values = values.astype(float)
        converted = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & converted.isna()
        if bad.any():
            raise ValueError(f"{purpose}: column '{column}' is not numeric (e.g. value {values[bad].iloc[0]!r}); "
                             "declare it categorical or derive a numeric column")
        out[column] = converted.astype(float)
    return out


@dataclass
class AnalysisTable:
    """The joined, derived, typed table every analysis starts from, with what a report must say about it."""

    frame: pd.DataFrame
    id_column: str
    types: dict[str, str]
    unmatched: pd.DataFrame
    derived: list[dict[str, object]]
    sources: dict[str, str]
    suffixed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, object]:
        """JSON-ready summary for provenance records."""
        return {"idColumn": self.id_column, "patients": int(len(self.frame)), "sources": self.sources,
                "unmatchedIds": int(len(self.unmatched)), "derived": self.derived, "suffixedColumns": self.suffixed}


def prepare_table(
    tables: Sequence[pd.DataFrame],
    id_column: str | Sequence[str] = "PatientID",
    derive: Sequence[str] = (),
    types: Mapping[str, str] | None = None,
    names: Sequence[str] | None = None,
) -> AnalysisTable:
    """Join, add derived columns, detect types — the shared first step of the CLI and the Slicer module."""
    names = list(names) if names else [_table_name(t, i) for i, t in enumerate(tables)]
    joined = join_tables(tables, id_column, names)
    frame, derived = add_derived(joined.frame, derive)
    sources = {name: str(t.attrs.get("source", "")) for name, t in zip(names, tables)}
    return AnalysisTable(frame, joined.id_column, detect_types(frame, types), joined.unmatched_table(), derived, sources,
                         joined.renamed)


def load_tables(paths: Sequence[str | Path], id_column: str | Sequence[str] = "PatientID", derive: Sequence[str] = (),
                types: Mapping[str, str] | None = None) -> AnalysisTable:
    """``prepare_table`` on CSV files (names = file stems, made unique)."""
    frames = [read_table(p) for p in paths]
    names: list[str] = []
    for path in paths:
        stem = Path(path).stem
        names.append(stem if stem not in names else f"{stem}{len(names) + 1}")
    return prepare_table(frames, id_column, derive, types, names)
