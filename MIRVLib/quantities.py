"""Names, units and human-readable formats of the per-patient quantities MIRV reports.

One table for every display (readout, HTML report, Slicer table-node column descriptions and units, as
Segment Statistics does), so a quantity is called the same and carries the same unit everywhere. In particular
``VolumeChangeRange`` is the spread of the per-lesion % changes (percentage points), not a change of tumour
volume; the change of the total tumour burden is ``TotalBurdenChangePercent``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MM3_PER_ML = 1000.0
# Columns holding 0/1 flags: shown as yes/no to people, kept 0/1 in CSV files.
FLAG_COLUMNS = ("CompleteTumorResponse",)

# column → (description, unit)
QUANTITIES: dict[str, tuple[str, str]] = {
    "NumLesions": ("Number of lesions scored", ""),
    "MIRVMaxDissimilarity": ("MIRV(max): largest pairwise cosine dissimilarity (0 = same direction … 2 = opposite)", ""),
    "MIRVMeanDissimilarity": ("Mean pairwise cosine dissimilarity", ""),
    "MIRVMedianDissimilarity": ("Median pairwise cosine dissimilarity", ""),
    "MIRVStdDissimilarity": ("Population SD of the pairwise cosine dissimilarities", ""),
    "MIRVMaxDistance": ("MIRV(max): largest pairwise Euclidean distance", "SD units"),
    "MIRVMeanDistance": ("Mean pairwise Euclidean distance", "SD units"),
    "MIRVMedianDistance": ("Median pairwise Euclidean distance", "SD units"),
    "MIRVStdDistance": ("Population SD of the pairwise Euclidean distances", "SD units"),
    "MIRVMaxDissimilarityPercentile": ("Percentile of MIRV(max) dissimilarity in the model's reference cohort", "%"),
    "MIRVMaxDistancePercentile": ("Percentile of MIRV(max) distance in the model's reference cohort", "%"),
    "BaselineVolumeTotal": ("Total tumour burden at baseline (sum of lesion volumes)", "mm3"),
    "BaselineVolumeRange": ("Largest minus smallest baseline lesion volume", "mm3"),
    "BaselineVolumeStdDev": ("SD of the baseline lesion volumes (ddof 1)", "mm3"),
    "FollowUpVolumeTotal": ("Total tumour burden at follow-up (sum of lesion volumes, new lesions included)", "mm3"),
    "TotalBurdenChangePercent": ("Total-burden change: sum follow-up / sum baseline - 1", "%"),
    "VolumeChangeRange": ("Spread of per-lesion volume changes: largest minus smallest lesion % change "
                          "(the paper's 'Delta Volume'; not a change of tumour volume)", "percentage points"),
    "CompleteTumorResponse": ("Complete tumour response (TSRC): every lesion's change below the threshold; 1 = yes",
                              ""),
    "VolumeBaseline": ("Lesion volume at baseline", "mm3"),
    "VolumeFollowUp": ("Lesion volume at follow-up", "mm3"),
    "PercentChange": ("Lesion volume change: follow-up / baseline - 1", "%"),
}


def descriptions(columns) -> dict[str, str]:
    return {c: QUANTITIES[c][0] for c in columns if c in QUANTITIES}


def units(columns) -> dict[str, str]:
    return {c: QUANTITIES[c][1] for c in columns if c in QUANTITIES and QUANTITIES[c][1]}


def is_missing(value: Any) -> bool:
    """None, NaN or NA (text never counts as missing)."""
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def format_volume(mm3: Any) -> str:
    """'73,238 mm³ (73.24 mL)'; 'n/a' when unknown."""
    if is_missing(mm3):
        return "n/a"
    return f"{float(mm3):,.0f} mm³ ({float(mm3) / MM3_PER_ML:.2f} mL)"


def yes_no(flag: Any) -> str:
    return "n/a" if is_missing(flag) else "yes" if int(flag) == 1 else "no"


def human_value(column: str, value: Any) -> str:
    """A patients.csv value as a person should read it: flags as yes/no, volumes with mm³ and mL, units added."""
    if column in FLAG_COLUMNS:
        return yes_no(value)
    if is_missing(value) or value == "":
        return "–"
    unit = QUANTITIES.get(column, ("", ""))[1]
    if unit == "mm3":
        return format_volume(value)
    if isinstance(value, (float, np.floating)):
        text = f"{float(value):.4g}"
        return f"{text} {unit}" if unit else text
    return str(value)
