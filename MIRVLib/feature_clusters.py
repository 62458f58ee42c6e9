"""Hierarchical-clustering feature selection (Henry et al. 2022): one representative per correlated cluster.

Henry et al. clustered the correlation matrix of the segmentation-robust features and kept one feature per
cluster, "the most understandable one ... or the first one by lexicographic sorting". Their paper names
neither the coefficient nor the linkage, and cut the tree by eye; here the cut is explicit: distance
1 − |r| (Pearson, or Spearman ρ), ``average`` linkage by default, clusters = the tree cut at ``threshold``
(0.3: features that correlate by |r| ≥ 0.7 on average end up together). The representative is either the
first feature by lexicographic sorting (Henry's rule for features that are hard to conceptualise) or the
most ``central`` one (highest mean |r| with the other members of its cluster; ties within 1e-10 by name).
Fit/transform like :class:`MIRVLib.reduction.FeatureReduction`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

CORRELATIONS = ("pearson", "spearman")
LINKAGES = ("average", "complete", "single")
REPRESENTATIVES = ("lexicographic", "central")
DEFAULT_CLUSTER_DISTANCE = 0.3
TIE_TOLERANCE = 1e-10


@dataclass
class ClusterSelection:
    """Cluster features on 1 − |correlation| and keep one per cluster."""

    threshold: float = DEFAULT_CLUSTER_DISTANCE
    correlation: str = "pearson"
    method: str = "average"
    representative: str = "lexicographic"
    selected: list[str] = field(default_factory=list)
    clusters: pd.DataFrame = field(default_factory=pd.DataFrame)  # Feature, Cluster, MeanAbsCorrelation, Selected
    linkage_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    features: list[str] = field(default_factory=list)  # the features clustered, in table order

    def __post_init__(self) -> None:
        for name, value, allowed in (("correlation", self.correlation, CORRELATIONS), ("linkage", self.method, LINKAGES),
                                     ("representative", self.representative, REPRESENTATIVES)):
            if value not in allowed:
                raise ValueError(f"cluster selection: {name} must be one of {allowed}, got {value!r}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"cluster selection: the distance threshold 1 - |r| must be in [0, 1], got {self.threshold}")

    def fit(self, frame: pd.DataFrame, features: Sequence[str] | None = None) -> ClusterSelection:
        """Cluster the numeric ``features`` (default: every column) of a lesion table (rows = lesions)."""
        names = list(frame.columns if features is None else features)
        unknown = [n for n in names if n not in frame.columns]
        if unknown:
            raise ValueError(f"cluster selection: {len(unknown)} feature(s) not in the table, e.g. {unknown[:5]}")
        values = frame[names].apply(pd.to_numeric, errors="coerce")
        incomplete = [n for n in names if not np.isfinite(values[n].to_numpy(dtype=float)).all()]
        if incomplete:
            raise ValueError(f"cluster selection: feature(s) with missing or non-numeric values, e.g. {incomplete[:5]}")
        constant = [n for n in names if values[n].nunique() < 2]
        names = [n for n in names if n not in constant]
        if len(names) < 2 or len(values) < 3:
            raise ValueError(f"cluster selection needs at least 2 non-constant features and 3 lesions, got "
                             f"{len(names)} features ({len(constant)} constant) and {len(values)} lesions")
        similarity = values[names].corr(method=self.correlation).abs().to_numpy()
        distance = np.clip(1.0 - similarity, 0.0, None)
        np.fill_diagonal(distance, 0.0)
        self.linkage_matrix = linkage(squareform(distance, checks=False), method=self.method)
        labels = fcluster(self.linkage_matrix, t=self.threshold, criterion="distance")
        mean_similarity = np.full(len(names), np.nan)
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            if len(members) > 1:
                block = similarity[np.ix_(members, members)]
                mean_similarity[members] = (block.sum(axis=1) - 1.0) / (len(members) - 1)
        clusters = pd.DataFrame({"Feature": names, "Cluster": labels, "MeanAbsCorrelation": mean_similarity})
        chosen = {self._pick(group) for _, group in clusters.groupby("Cluster")}
        clusters["Selected"] = clusters["Feature"].isin(chosen)
        self.features, self.clusters = names, clusters
        self.selected = [n for n in names if n in chosen]
        return self

    def _pick(self, group: pd.DataFrame) -> str:
        if self.representative == "central" and len(group) > 1:
            best = group["MeanAbsCorrelation"].max()  # ties (duplicated features) within rounding go by name
            group = group[group["MeanAbsCorrelation"] >= best - TIE_TOLERANCE]
        return str(min(group["Feature"]))

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The selected features of ``frame`` (same rows)."""
        if not self.selected:
            raise ValueError("cluster selection is not fitted")
        missing = [n for n in self.selected if n not in frame.columns]
        if missing:
            raise ValueError(f"cluster selection: selected feature(s) not in the table: {missing[:5]}")
        return frame[self.selected]

    def settings(self) -> dict:
        return {"threshold": self.threshold, "correlation": self.correlation, "linkage": self.method,
                "representative": self.representative, "distance": "1 - |correlation|"}
