"""Lesion-subsampling simulation (Henry et al. 2022, Table 3 and Figure 6; docs/methods.md, Lesion subsampling).

How much of a patient's inter-lesion heterogeneity does a study see when it segments only some lesions?
Ground truth = the two heterogeneity indexes over *all* lesions (average heterogeneity = mean pairwise
cosine dissimilarity, maximal divergence = max). Each strategy draws lesions at random, 500 times by
default, and reports the % of the ground truth recovered; a sample with fewer than two lesions recovers 0 %.
A sample's *average* dissimilarity is an unbiased estimate of the exhaustive one, so it can exceed it; the
recovered percentage is capped at 100 % (an over-estimate does not recover more than all of the
heterogeneity — Henry et al.'s intervals end at 100 %). ``cap=False`` gives the raw ratio.

Pairwise dissimilarities come from ``MIRVLib.metrics.patient_mirv`` once per patient; a simulated sample is
then just a sub-matrix, so all simulations of a patient are drawn and evaluated as one array operation.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from MIRVLib.metrics import patient_mirv
from MIRVLib.options import CURVE_K, DEFAULT_STRATEGIES, RECIST_EXCLUDED_SITES, RECOVERY_TARGET  # noqa: F401

INDEXES = ("AverageHeterogeneity", "MaximalDivergence")
UNKNOWN_SITE = "unknown"


@dataclass(frozen=True)
class Strategy:
    """A sampling rule: at most ``per_site`` lesions per site, at most ``total`` overall, some sites excluded."""

    name: str
    per_site: int | None = None
    total: int | None = None
    exclude_sites: tuple[str, ...] = ()

    def sample(self, rng: np.random.Generator, sites: np.ndarray, simulations: int) -> np.ndarray:
        """Lesion indices drawn for every simulation (simulations × m; m is the same for all of them)."""
        excluded = {s.lower() for s in self.exclude_sites}
        eligible = np.array([i for i, site in enumerate(sites) if str(site).lower() not in excluded], dtype=int)
        if self.per_site is None:
            pool = [eligible]
            limits = [len(eligible) if self.total is None else min(self.total, len(eligible))]
        else:
            pool = [eligible[sites[eligible] == site] for site in np.unique(sites[eligible])]
            limits = [min(self.per_site, len(members)) for members in pool]
        picks = [rng.permuted(np.tile(members, (simulations, 1)), axis=1)[:, :limit] for members, limit in zip(pool, limits)]
        drawn = np.concatenate(picks, axis=1) if picks else np.zeros((simulations, 0), dtype=int)
        if self.per_site is not None and self.total is not None and drawn.shape[1] > self.total:
            drawn = rng.permuted(drawn, axis=1)[:, : self.total]
        return drawn


def parse_strategy(spec: str, exclude_sites: Sequence[str] = RECIST_EXCLUDED_SITES) -> Strategy:
    """``all``, ``random:K``, ``per-site:K``, ``recist-like`` (≤ 2 per site, no bone — Henry et al.),
    ``recist`` (RECIST 1.1: also ≤ 5 in total)."""
    text = spec.strip().lower()
    if text in {"all", "exhaustive"}:
        return Strategy("all")
    if text == "recist-like":
        return Strategy("recist-like", per_site=2, exclude_sites=tuple(exclude_sites))
    if text == "recist":
        return Strategy("recist", per_site=2, total=5, exclude_sites=tuple(exclude_sites))
    match = re.fullmatch(r"(random|per-site):(\d+)", text)
    if not match or int(match[2]) < 1:
        raise ValueError(f"unknown sampling strategy '{spec}'; use all, random:K, per-site:K, recist-like or recist")
    k = int(match[2])
    return Strategy(text, per_site=k) if match[1] == "per-site" else Strategy(text, total=k)


def _indexes(dissimilarity: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """(simulations × 2) average and maximal pairwise dissimilarity of each sample; 0 when < 2 lesions."""
    m = samples.shape[1]
    if m < 2:
        return np.zeros((samples.shape[0], 2))
    rows, cols = np.triu_indices(m, k=1)
    pairs = dissimilarity[samples[:, rows], samples[:, cols]]
    defined = np.isfinite(pairs)
    count = defined.sum(axis=1)
    total = np.where(defined, pairs, 0.0).sum(axis=1)
    mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    maximum = np.where(defined, pairs, -np.inf).max(axis=1)
    return np.column_stack([mean, np.where(count > 0, maximum, 0.0)])


@dataclass
class PatientTruth:
    patient_id: str
    sites: np.ndarray
    dissimilarity: np.ndarray
    truth: np.ndarray  # exhaustive (AverageHeterogeneity, MaximalDivergence)


def patient_truths(vectors: pd.DataFrame, sites: pd.Series | None = None) -> tuple[list[PatientTruth], pd.DataFrame]:
    """Exhaustive indexes per patient; patients without a usable ground truth are listed with the reason."""
    if vectors.index.nlevels != 2:
        raise ValueError("simulate: lesion vectors must be indexed by (PatientID, LesionID)")
    site_values = (sites.reindex(vectors.index) if sites is not None else pd.Series(index=vectors.index, dtype=object))
    site_values = site_values.fillna(UNKNOWN_SITE).astype(str).str.strip().replace("", UNKNOWN_SITE)
    truths, rows = [], []
    for patient_id, positions in sorted(vectors.groupby(level=0, sort=False).indices.items(), key=lambda kv: str(kv[0])):
        block = vectors.iloc[positions]
        mirv = patient_mirv(str(patient_id), block.to_numpy(dtype=float), [str(i) for i in block.index.get_level_values(1)])
        patient_sites = site_values.iloc[positions].to_numpy()
        truth = _indexes(mirv.dissimilarity, np.arange(len(positions))[None, :])[0]
        row = {"PatientID": str(patient_id), "NumLesions": len(positions), "NumSites": len(np.unique(patient_sites)),
               INDEXES[0]: truth[0], INDEXES[1]: truth[1], "included": False, "note": ""}
        if len(positions) < 2:
            row.update({INDEXES[0]: np.nan, INDEXES[1]: np.nan}, note="fewer than two lesions")
        elif not np.all(truth > 0):
            row["note"] = "exhaustive heterogeneity is zero or undefined"
        else:
            row["included"] = True
            truths.append(PatientTruth(str(patient_id), patient_sites, mirv.dissimilarity, truth))
        rows.append(row)
    return truths, pd.DataFrame(rows)


def _generator(seed: int, name: str) -> np.random.Generator:
    """One stream per strategy, so adding or removing a strategy never changes another's results."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def recovery(truths: Sequence[PatientTruth], strategy: Strategy, simulations: int, seed: int, cap: bool = True) -> np.ndarray:
    """% of each patient's exhaustive indexes recovered: simulations × patients × 2."""
    rng = _generator(seed, strategy.name)
    out = np.empty((simulations, len(truths), len(INDEXES)))
    for p, patient in enumerate(truths):
        samples = strategy.sample(rng, patient.sites, simulations)
        out[:, p, :] = 100.0 * _indexes(patient.dissimilarity, samples) / patient.truth
    # Summation order differs between sample sizes (numpy's SIMD/pairwise sums): round away the last-ulp noise
    # so that drawing every lesion is exactly 100 %, not 99.99999999999999 %.
    out = np.round(out, 9)
    return np.minimum(out, 100.0) if cap else out


def summarise(recovered: np.ndarray) -> dict[str, dict[str, float]]:
    """Mean and 95 % interval pooled over patients × simulations (Henry et al.'s spread), plus the 95 %
    interval of the cohort mean across simulations (how stable the cohort-level estimate is)."""
    out = {}
    for i, name in enumerate(INDEXES):
        values = recovered[:, :, i]
        cohort = values.mean(axis=1)
        out[name] = {"mean": float(values.mean()), "lower_95": float(np.percentile(values, 2.5)),
                     "upper_95": float(np.percentile(values, 97.5)),
                     "cohort_mean_lower_95": float(np.percentile(cohort, 2.5)),
                     "cohort_mean_upper_95": float(np.percentile(cohort, 97.5))}
    return out


@dataclass
class SimulationResult:
    summary: pd.DataFrame   # strategy × index
    curve: pd.DataFrame     # k × index
    lesions_needed: pd.DataFrame  # smallest k reaching the target, per index
    patients: pd.DataFrame  # exhaustive ground truth per patient
    settings: dict


def simulate_sampling(
    vectors: pd.DataFrame,
    sites: pd.Series | None = None,
    strategies: Sequence[str] = DEFAULT_STRATEGIES,
    simulations: int = 500,
    seed: int = 0,
    curve_k: Sequence[int] = CURVE_K,
    target: float = RECOVERY_TARGET,
    exclude_sites: Sequence[str] = RECIST_EXCLUDED_SITES,
    cap: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> SimulationResult:
    """Run every strategy and the random-k recovery curve on the patients with ≥ 2 lesions.

    ``vectors``: reduced, z-scored lesion vectors indexed by (PatientID, LesionID) (``FeatureReduction.transform``);
    ``sites``: the lesions' metastatic site on the same index (missing → one ``unknown`` site).
    """
    if simulations < 1:
        raise ValueError("simulate: simulations must be ≥ 1")
    parsed = [parse_strategy(s, exclude_sites) for s in strategies]
    truths, patients = patient_truths(vectors, sites)
    if not truths:
        raise ValueError("simulate: no patient has two or more lesions with a non-zero heterogeneity")
    steps = len(parsed) + len(curve_k)
    rows = []
    for step, strategy in enumerate(parsed, start=1):
        for index, stats in summarise(recovery(truths, strategy, simulations, seed, cap)).items():
            rows.append({"strategy": strategy.name, "index": index, **stats})
        if progress:
            progress(step, steps, strategy.name)
    curve_rows = []
    for step, k in enumerate(curve_k, start=len(parsed) + 1):
        for index, stats in summarise(recovery(truths, Strategy(f"random:{k}", total=k), simulations, seed, cap)).items():
            curve_rows.append({"k": k, "index": index, **stats})
        if progress:
            progress(step, steps, f"random:{k}")
    curve = pd.DataFrame(curve_rows, columns=["k", "index", "mean", "lower_95", "upper_95",
                                              "cohort_mean_lower_95", "cohort_mean_upper_95"])
    needed = []
    for index in INDEXES:
        reached = curve[(curve["index"] == index) & (curve["mean"] >= target)]
        needed.append({"index": index, "target_percent": target,
                       "lesions_needed": int(reached["k"].min()) if len(reached) else np.nan,
                       "note": "" if len(reached) else f"not reached for k ≤ {max(curve_k, default=0)}"})
    settings = {"strategies": [s.name for s in parsed], "simulations": simulations, "seed": seed,
                "curve_k": list(curve_k), "target_percent": target, "exclude_sites": list(exclude_sites), "cap_at_100": cap,
                "patients_included": len(truths), "patients_total": int(len(patients))}
    return SimulationResult(pd.DataFrame(rows), curve, pd.DataFrame(needed), patients, settings)
