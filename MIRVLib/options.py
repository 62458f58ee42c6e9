"""Choices and defaults of MIRV's options, importable without pandas or SciPy.

The `mirv` parsers need them (``choices=``, defaults, help) for every command when `mirv --help` is built;
the modules that implement the options import them from here, so each value is defined once and building
the parser does not load the numerical stack (~0.8 s).
"""

from __future__ import annotations

import argparse
from typing import Any, Literal, get_args

# MIRVLib.lesion_table: what to do with NaN/±inf feature values.
NonFinitePolicy = Literal["fail", "drop-feature", "drop-lesion"]
NONFINITE_POLICIES: tuple[str, ...] = get_args(NonFinitePolicy)

# MIRVLib.reduction: the feature reduction presets.
Preset = Literal["paper", "reference"]
PRESETS: tuple[str, ...] = get_args(Preset)
# ... and its thresholds (the paper's): variance quantile kept, |Spearman ρ| with volume, redundancy |r|.
DEFAULT_VARIANCE_QUANTILE = 0.5
DEFAULT_VOLUME_CORRELATION = 0.1
DEFAULT_FEATURE_CORRELATION = 0.7

# MIRVLib.response: % volume change below which a lesion responds; an empty follow-up volume's meaning.
DEFAULT_RESPONSE_THRESHOLD = 33.0
# ... and which of the paper's two readings of that threshold (docs/methods.md): the Methods' "change does not
# exceed +33 %" or the Results' "met a 33 % reduction" (change <= -33 %).
ResponseReading = Literal["methods", "results"]
RESPONSE_READINGS: tuple[str, ...] = get_args(ResponseReading)
DEFAULT_RESPONSE_READING: ResponseReading = "methods"
MissingFollowUp = Literal["unmeasured", "disappeared"]
MISSING_FOLLOWUP_POLICIES: tuple[str, ...] = get_args(MissingFollowUp)

# MIRVLib.colour_scale: a matrix's colour scale — the fixed full range, or the model's reference-cohort percentiles.
SCALE_MODES = ("full", "reference-percentiles")

# MIRVLib.stats.join: column types of the analysis table.
CONTINUOUS, BINARY, CATEGORICAL = "continuous", "binary", "categorical"
COLUMN_TYPES = (CONTINUOUS, BINARY, CATEGORICAL)

# MIRVLib.stats.simulate: sampling strategies simulated by default; k of the recovery curve; the recovery %
# the curve must reach; the sites RECIST-like sampling skips (Henry et al. 2022).
DEFAULT_STRATEGIES = ("random:2", "random:3", "per-site:2", "per-site:3", "recist-like", "recist")
CURVE_K = tuple(range(2, 16))
RECOVERY_TARGET = 75.0
RECIST_EXCLUDED_SITES = ("bone",)

# MIRVLib.robustness: agreement between original and perturbed features; ICC 0.75 is the lower bound of
# "good" reliability (Koo & Li 2016), CCC 0.8 is Henry et al.'s.
AGREEMENTS = ("ccc", "icc2", "icc3")
DEFAULT_AGREEMENT_THRESHOLDS = {"ccc": 0.8, "icc2": 0.75, "icc3": 0.75}


def add_nonfinite_option(parser: Any, default: str = "drop-lesion") -> None:
    """``--nonfinite``: what a lesion feature table's NaN/±inf values do (MIRVLib.lesion_table)."""
    reported = ", reported" if default != "fail" else ""
    parser.add_argument("--nonfinite", choices=NONFINITE_POLICIES, default=default,
                        help=f"what to do with NaN/inf feature values (default: {default}{reported})")


ENGINES = ("native", "pyradiomics")
DEFAULT_ENGINE = "native"


def add_engine_option(parser: Any) -> None:
    """``--engine``: which code computes the PyRadiomics features (same names and values either way)."""
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULT_ENGINE,
                        help="feature engine: native (default; NumPy, installs from wheels) or pyradiomics "
                        "(PyRadiomics itself; needs mirv[pyradiomics]); values agree within relative 1e-9")


def add_reduction_thresholds(parser: Any, when: str = "") -> None:
    """The thresholds of a fitted feature reduction as options (``mirv cohort``, ``mirv batch``, MIRVBatch.py);
    ``when`` prefixes their help (e.g. "with --fit")."""
    prefix = f"{when}: " if when else ""
    parser.add_argument("--variance-quantile", type=float, default=DEFAULT_VARIANCE_QUANTILE,
                        help=f"{prefix}keep features with variance >= this quantile (default %(default)s)")
    parser.add_argument("--volume-correlation", type=float, default=DEFAULT_VOLUME_CORRELATION,
                        help=f"{prefix}Spearman threshold with tumour volume (default %(default)s)")
    parser.add_argument("--feature-correlation", type=float, default=DEFAULT_FEATURE_CORRELATION,
                        help=f"{prefix}redundancy threshold between features (default %(default)s)")


def add_response_reading(parser: Any) -> None:
    """``--response-reading``: which of the paper's wordings of the TSRC threshold (``mirv cohort``, ``mirv batch``,
    MIRVBatch.py)."""
    parser.add_argument("--response-reading", choices=RESPONSE_READINGS, default=DEFAULT_RESPONSE_READING,
                        help="complete tumour response: every lesion's volume change is below +33 %% ('methods', the "
                        "paper's Methods; default) or a reduction of at least 33 %% ('results', its Results); "
                        "33 is --response-threshold where the command has it")


def add_dicom_output(parser: Any) -> None:
    """``--dicom-out``/``--dicom-seed`` of ``mirv batch`` and MIRVBatch.py: each patient's DICOM SEG + TID 1500 SR,
    named and built as ``mirv cohort --dicom-out`` writes them (`MIRVLib.dicom.results`)."""
    parser.add_argument("--dicom-out", metavar="DIR", default=None,
                        help="also write per scored patient a DICOM SEG of its lesions and a TID 1500 SR with the "
                        "selected features and MIRV values, <patient>_seg.dcm and <patient>_sr.dcm, into DIR (every "
                        "image must be a DICOM series folder; pip install 'mirv[dicom]')")
    parser.add_argument("--dicom-seed", metavar="TEXT", default=None,
                        help="with --dicom-out: derive the DICOM UIDs from TEXT (reproducible files; default random)")


def reduction_thresholds(args: argparse.Namespace) -> dict[str, float]:
    """The parsed :func:`add_reduction_thresholds` options as ``ReductionSettings`` keyword arguments."""
    return {"variance_quantile": args.variance_quantile, "volume_correlation": args.volume_correlation,
            "feature_correlation": args.feature_correlation}
