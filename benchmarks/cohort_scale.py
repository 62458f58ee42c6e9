"""How the cohort step scales: fit the reduction and score synthetic cohorts of 1k and 10k patients.

Each patient has 5 lesions × 1218 features (the MIRV-CT feature count); half of the features are
independent noise with feature-specific scales, half come in correlated blocks, so the reduction has real
work to do. Prints wall time per stage (validate the table, fit the reduction, score every patient) and
the 10k/1k ratio: linear cost in patients gives ≈ 10. Fitting ranks every feature for Spearman's ρ, an
n log n sort, so its ratio sits slightly above 10.

    .venv/bin/python benchmarks/cohort_scale.py [--patients 1000 10000] [--lesions 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from MIRVLib.cli_options import add_renamed
from MIRVLib.cohort import score_cohort
from MIRVLib.lesion_table import VOLUME_FEATURE, LesionTable
from MIRVLib.options import PRESETS
from MIRVLib.reduction import FeatureReduction, ReductionSettings

N_FEATURES = 1218


def synthetic_frame(patients: int, lesions: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = patients * lesions
    independent = N_FEATURES // 2
    blocks = 20
    scale = np.exp(rng.uniform(-3, 6, N_FEATURES))
    values = np.empty((n, N_FEATURES))
    values[:, :independent] = rng.standard_normal((n, independent))
    factors = rng.standard_normal((n, blocks))
    block_of = rng.integers(0, blocks, N_FEATURES - independent)
    values[:, independent:] = factors[:, block_of] + 0.3 * rng.standard_normal((n, N_FEATURES - independent))
    values *= scale
    names = [f"synthetic_f{i:04d}" for i in range(N_FEATURES - 1)] + [VOLUME_FEATURE]
    values[:, -1] = rng.lognormal(7, 1.2, n)
    frame = pd.DataFrame(values, columns=names)
    frame.insert(0, "LesionID", [f"L{i % lesions + 1:02d}" for i in range(n)])
    frame.insert(0, "PatientID", [f"P{i // lesions:06d}" for i in range(n)])
    return frame


def measure(patients: int, lesions: int, preset: str, repeats: int) -> dict[str, float]:
    """Best of `repeats` runs per stage: the machine is shared, the minimum is the least disturbed time."""
    runs = [_measure_once(patients, lesions, preset) for _ in range(repeats)]
    best = {stage: min(run[stage] for run in runs) for stage in runs[0]}
    print(f"{patients:>6} patients × {lesions} lesions × {N_FEATURES} features ({preset}), best of {repeats}: "
          + ", ".join(f"{k} {v:.2f} s" for k, v in best.items()), flush=True)
    return best


def _measure_once(patients: int, lesions: int, preset: str) -> dict[str, float]:
    frame = synthetic_frame(patients, lesions)
    times: dict[str, float] = {}
    start = time.perf_counter()
    table = LesionTable.from_frame(frame, source=f"synthetic-{patients}")
    times["validate"] = time.perf_counter() - start
    reduction = FeatureReduction(ReductionSettings(preset=preset))
    start = time.perf_counter()
    reduction.fit(table)
    times["fit"] = time.perf_counter() - start
    start = time.perf_counter()
    result = score_cohort(table, reduction)
    times["score"] = time.perf_counter() - start
    times["total"] = times["validate"] + times["fit"] + times["score"]
    assert len(result.patients) == patients and reduction.step_counts["selected"] > 0
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, nargs=2, default=[1000, 10000], help="the two cohort sizes compared")
    parser.add_argument("--lesions", type=int, default=5, help="lesions per synthetic patient")
    add_renamed(parser, "--reduction", old=["--preset"], choices=PRESETS, default="reference",
                help="feature reduction fitted (default reference)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per size; the fastest counts")
    args = parser.parse_args()
    small, large = (measure(p, args.lesions, args.reduction, args.repeats) for p in args.patients)
    factor = args.patients[1] / args.patients[0]
    print(f"ratio {args.patients[1]}/{args.patients[0]} patients (linear = {factor:.0f}): "
          + ", ".join(f"{k} {large[k] / small[k]:.1f}×" for k in small))


if __name__ == "__main__":
    main()
