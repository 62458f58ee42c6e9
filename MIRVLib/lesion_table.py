"""The lesion feature table: one row per lesion, PyRadiomics-named features, validated once on entry.

Every other part of MIRV (reduction, metrics, Slicer module, batch runs) takes a `LesionTable`, so bad
input is caught here with an error naming the file, patient, lesion and feature instead of surfacing as a
wrong number later. Column order is preserved because the ``reference`` reduction depends on it.
"""

from __future__ import annotations

import gzip
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from MIRVLib.lesion_columns import (  # noqa: F401  (the table's column names, re-exported)
    ID_COLUMNS,
    LESION_ID,
    METADATA_COLUMNS,
    PATIENT_ID,
    SEGMENT_ID,
    SITE,
    STATUS,
    STATUS_OK,
)
from MIRVLib.options import NONFINITE_POLICIES, NonFinitePolicy
from MIRVLib.provenance import atomic_write_csv, sha256_frame

log = logging.getLogger(__name__)

VOLUME_FEATURE = "original_shape_VoxelVolume"
# PyRadiomics writes provenance columns (versions, hashes, image info); they describe, they are not features.
METADATA_PREFIXES = ("diagnostics_",)


class LesionTableError(ValueError):
    """The lesion table cannot be used as given; the message names where and why."""


@dataclass(frozen=True)
class NonFiniteValue:
    """One NaN or ±inf feature value, kept so the user sees exactly which lesion/feature was affected."""

    patient_id: str
    lesion_id: str
    feature: str
    value: float

    def __str__(self) -> str:
        return f"patient {self.patient_id} lesion {self.lesion_id}: {self.feature} = {self.value}"


@dataclass(frozen=True)
class LesionTable:
    """Validated lesions: ``PatientID``, ``LesionID``, optional ``SegmentID``/``Site``, then float features in order.

    Rows of a `mirv extract` table whose ``Status`` is not ``ok`` have no features; they are kept out and listed
    in ``failed_lesions`` (patient, lesion, reason) so a failed lesion never blocks scoring the others.
    """

    frame: pd.DataFrame
    source: str = "<table>"
    nonfinite: tuple[NonFiniteValue, ...] = field(default=())
    dropped_features: tuple[str, ...] = field(default=())
    dropped_lesions: tuple[tuple[str, str], ...] = field(default=())
    failed_lesions: tuple[tuple[str, str, str], ...] = field(default=())

    @property
    def feature_names(self) -> list[str]:
        return [c for c in self.frame.columns if c not in METADATA_COLUMNS]

    @property
    def features(self) -> pd.DataFrame:
        """Feature values indexed by (PatientID, LesionID)."""
        return self.frame.set_index(list(ID_COLUMNS))[self.feature_names]

    @property
    def patient_ids(self) -> list[str]:
        return list(dict.fromkeys(self.frame[PATIENT_ID]))

    @property
    def num_lesions(self) -> int:
        return len(self.frame)

    def content_hash(self) -> str:
        return sha256_frame(self.frame)

    def subset(self, patient_ids: list[str]) -> LesionTable:
        """The lesions of some patients, e.g. one patient scored with a shipped model."""
        rows = self.frame[self.frame[PATIENT_ID].isin(patient_ids)].reset_index(drop=True)
        return replace(self, frame=rows)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, source: str = "<table>", nonfinite: NonFinitePolicy = "fail"
    ) -> LesionTable:
        """Validate a table (ids, duplicates, numeric features, NaN/inf) and apply the non-finite policy."""
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f"nonfinite policy must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
        missing = [c for c in ID_COLUMNS if c not in frame.columns]
        if missing:
            raise LesionTableError(f"{source}: missing id column(s) {missing}; columns start with {list(frame.columns[:5])}")
        frame = frame.reset_index(drop=True)
        ids = validated_ids(frame[list(ID_COLUMNS)], source, LesionTableError)
        frame, ids, failed = _without_failed_extractions(frame, ids, source)
        meta = [c for c in frame.columns if str(c).startswith(METADATA_PREFIXES)]
        feature_cols = [c for c in frame.columns if c not in METADATA_COLUMNS and c not in meta]
        if not feature_cols:
            raise LesionTableError(f"{source}: no feature columns after {list(ID_COLUMNS)}")
        features = _numeric_features(frame[feature_cols], ids, source)
        head = ids.copy()
        for column in (SEGMENT_ID, SITE):
            if column in frame.columns:
                head[column] = frame[column].astype("string").fillna("")
        table = pd.concat([head, features], axis=1)
        validated = _apply_nonfinite_policy(table, feature_cols, source, nonfinite)
        return replace(validated, failed_lesions=failed) if failed else validated

    @classmethod
    def read_csv(cls, path: str | os.PathLike[str], *, nonfinite: NonFinitePolicy = "fail") -> LesionTable:
        """Read a CSV (optionally .gz) with '.' decimals and full float precision, whatever the locale."""
        return cls.from_frame(read_lesion_frame(path), source=str(path), nonfinite=nonfinite)

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically with round-trip float precision; reading it back gives identical values."""
        return atomic_write_csv(path, self.frame)


def read_lesion_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The lesion CSV as read, before validation (so a caller can take non-feature columns, e.g. a batch, out)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lesion feature table not found: {path}")
    nul = nul_lines(path)
    if nul:
        raise LesionTableError(f"{path}: NUL character on line(s) {nul[:10]}; IDs would be cut at it")
    try:
        frame = pd.read_csv(
            path, dtype={PATIENT_ID: str, LESION_ID: str, SITE: str}, float_precision="round_trip", keep_default_na=True,
        )
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise LesionTableError(f"{path}: not a readable CSV ({error})") from error
    if len(frame.columns) == 1 and ";" in str(frame.columns[0]):
        raise LesionTableError(
            f"{path}: looks semicolon-separated; MIRV reads comma-separated CSV with '.' decimals in every locale"
        )
    return frame


def nul_lines(path: str | os.PathLike[str]) -> list[int]:
    """Line numbers (1-based) of a CSV (optionally .gz) holding a NUL character.

    pandas' parser ends a field at a NUL without a word, so "P1\\0x" would be read as "P1" and two IDs merge;
    such files are refused instead (a UTF-16 export, all NULs, is refused the same way).
    """
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        return [number for number, line in enumerate(handle, start=1) if b"\x00" in line]


def validated_ids(ids: pd.DataFrame, source: str, error: type[ValueError] = LesionTableError) -> pd.DataFrame:
    """PatientID/LesionID as stripped text; empty or duplicate (PatientID, LesionID) raise ``error``.

    Shared by every lesion-keyed table (features, volumes) so they reject the same inputs the same way.
    """
    if ids.isna().any(axis=None):
        lines = (ids.isna().any(axis=1)).to_numpy().nonzero()[0] + 2
        raise error(f"{source}: empty PatientID/LesionID on line(s) {lines[:10].tolist()}")
    ids = ids.astype(str).apply(lambda column: column.str.strip())
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        pairs = sorted({f"{p}/{lid}" for p, lid in ids[duplicated].itertuples(index=False)})
        raise error(f"{source}: duplicate (PatientID, LesionID): {', '.join(pairs[:10])}")
    return ids


def _without_failed_extractions(
    frame: pd.DataFrame, ids: pd.DataFrame, source: str
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[tuple[str, str, str], ...]]:
    """Rows whose ``Status`` is not ``ok`` (extraction failed) carry no features: set aside, reported, kept out."""
    if STATUS not in frame.columns:
        return frame, ids, ()
    status = frame[STATUS].fillna(STATUS_OK).astype(str).str.strip()
    failed_rows = status != STATUS_OK
    if not failed_rows.any():
        return frame, ids, ()
    failed = tuple(
        (pid, lid, reason) for (pid, lid), reason in zip(ids[failed_rows].itertuples(index=False), status[failed_rows])
    )
    log.warning("%s: %d lesion(s) without features (extraction failed), left out: %s", source, len(failed),
                "; ".join(f"patient {p} lesion {lid}: {r}" for p, lid, r in failed[:5]))
    keep = ~failed_rows
    return frame[keep].reset_index(drop=True), ids[keep].reset_index(drop=True), failed


def _numeric_features(features: pd.DataFrame, ids: pd.DataFrame, source: str) -> pd.DataFrame:
    """Float features; any text value is an error naming patient, lesion, feature and the offending text."""
    text = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if not text:
        return features.astype(float, copy=False)
    converted = features.copy()
    converted[text] = features[text].apply(pd.to_numeric, errors="coerce")
    converted = converted.astype(float)
    bad = converted.isna() & features.notna()
    if bad.to_numpy().any():
        rows, cols = np.nonzero(bad.to_numpy())
        examples = [
            f"patient {ids.iat[r, 0]} lesion {ids.iat[r, 1]}: {features.columns[c]} = {features.iat[r, c]!r}"
            for r, c in zip(rows[:5], cols[:5])
        ]
        raise LesionTableError(f"{source}: {len(rows)} non-numeric feature value(s), e.g. " + "; ".join(examples))
    return converted


def _apply_nonfinite_policy(
    table: pd.DataFrame, feature_cols: list[str], source: str, policy: NonFinitePolicy
) -> LesionTable:
    values = table[feature_cols].to_numpy()
    mask = ~np.isfinite(values)
    if not mask.any():
        return LesionTable(table, source)
    rows, cols = np.nonzero(mask)
    report = tuple(
        NonFiniteValue(table.iat[r, 0], table.iat[r, 1], feature_cols[c], float(values[r, c]))
        for r, c in zip(rows, cols)
    )
    summary = f"{source}: {len(report)} NaN/inf feature value(s): " + "; ".join(map(str, report[:5]))
    if policy == "fail":
        raise LesionTableError(summary + (" ..." if len(report) > 5 else "") + " (choose a policy: drop-feature or drop-lesion)")
    log.warning("%s -> %s", summary, policy)
    if policy == "drop-feature":
        bad = sorted({feature_cols[c] for c in cols}, key=feature_cols.index)
        return LesionTable(table.drop(columns=bad), source, report, dropped_features=tuple(bad))
    bad_rows = sorted(set(rows.tolist()))
    dropped = tuple((table.iat[r, 0], table.iat[r, 1]) for r in bad_rows)
    kept = table.drop(index=table.index[bad_rows]).reset_index(drop=True)
    return LesionTable(kept, source, report, dropped_lesions=dropped)
