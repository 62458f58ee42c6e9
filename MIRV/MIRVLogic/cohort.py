"""Qt-free logic of the MIRVCohort Slicer module: table nodes in, MIRVLib.stats analyses, table nodes out.

The module adds nothing statistical: tables are converted to DataFrames, passed to the same
``MIRVLib.stats.analyses.run_*`` functions as ``mirv stats``, and each result table comes back as a
``vtkMRMLTableNode`` (reused by name on a re-run, so the scene does not fill up with stale copies).
It needs only MRML (works on slicer-core without Qt), so it is tested headless.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import slicer

from MIRVLib.feature_clusters import DEFAULT_CLUSTER_DISTANCE, ClusterSelection
from MIRVLib.harmonisation import lesions_with_batch
from MIRVLib.lesion_table import LESION_ID, PATIENT_ID, SITE, LesionTable
from MIRVLib.metrics import ProgressCallback
from MIRVLib.options import CURVE_K
from MIRVLib.stats import analyses, prediction, variability
from MIRVLib.stats.combat import run_combat
from MIRVLib.stats.icc import DEFAULT_TARGET
from MIRVLib.stats.join import AnalysisTable, parse_id_columns, prepare_table, read_table
from MIRVLib.stats.report import build_report
from MIRVLib.stats.variation import DEFAULT_CV_THRESHOLD, DEFAULT_OLIGO_MAX, lesion_groups, variation_table
from MIRVLogic.tables import SOURCE_ATTRIBUTE, dataframe_from_table_node, new_table_node, result_table_node

LESION_TEXT_COLUMNS = (PATIENT_ID, LESION_ID, SITE)
RESULT_ATTRIBUTE = "MIRVCohort.Result"


@dataclass
class CohortAnalysisResult:
    """One analysis run: MIRVLib's output (files, provenance) plus the table nodes shown in the module."""

    output: analyses.AnalysisOutput
    tableNodes: dict[str, object] = field(default_factory=dict)

    @property
    def figures(self) -> list[Path]:
        return self.output.figures

    @property
    def summary(self) -> str:
        """The console summary `mirv stats` prints (n, estimates with CI, p, FDR), for the module's status area."""
        return self.output.summary


class MIRVCohortLogic:
    """Load tables, join them, run one analysis, publish its tables as nodes. No GUI, no Qt."""

    def __init__(self, scene=None) -> None:
        self.scene = scene if scene is not None else slicer.mrmlScene
        self.outputDirectory: Path | None = None

    # ----- tables -----
    def loadTable(self, path: str | Path, name: str | None = None):
        """A patient-level CSV as a table node (BOM-safe, typed columns, source path kept as attribute)."""
        node = new_table_node(self.scene, name or Path(path).stem, read_table(path))
        node.SetAttribute(SOURCE_ATTRIBUTE, str(path))
        return node

    def analysisTable(self, tableNodes: Sequence, idColumn: str = "PatientID", derive: Sequence[str] = (),
                      types: Mapping[str, str] | None = None) -> AnalysisTable:
        """Join the selected table nodes exactly as ``mirv stats`` joins CSV files."""
        if not tableNodes:
            raise ValueError("select at least one table")
        names = [node.GetName() for node in tableNodes]
        if len(set(names)) != len(names):
            names = [f"{n}_{i + 1}" for i, n in enumerate(names)]
        ids = parse_id_columns(idColumn)  # IDs stay text: '001' must not become 1
        return prepare_table([dataframe_from_table_node(n, ids) for n in tableNodes], idColumn, derive, types, names)

    def columnTypes(self, tableNodes: Sequence, idColumn: str = "PatientID", derive: Sequence[str] = ()) -> dict[str, str]:
        """Column → detected type of the joined table (what the module offers in its column lists)."""
        table = self.analysisTable(tableNodes, idColumn, derive)
        return {c: t for c, t in table.types.items() if c != table.id_column}

    def _outputDir(self, outputDir: str | Path | None) -> Path:
        if outputDir:
            return Path(outputDir)
        if self.outputDirectory is None:
            self.outputDirectory = Path(tempfile.mkdtemp(prefix="MIRVCohort-"))
        return self.outputDirectory

    def _publish(self, output: analyses.AnalysisOutput) -> CohortAnalysisResult:
        result = CohortAnalysisResult(output)
        for stem, frame in output.tables.items():
            node = result_table_node(self.scene, f"MIRVCohort {stem}", frame, RESULT_ATTRIBUTE, stem)
            node.SetAttribute(SOURCE_ATTRIBUTE, str(output.table_path(stem)))
            result.tableNodes[stem] = node
        return result

    # ----- analyses (parameters as in `mirv stats`) -----
    def runCorrelate(self, tableNodes: Sequence, columns: Sequence[str], outputDir: str | Path | None = None, *,
                     idColumn: str = "PatientID", derive: Sequence[str] = (), missing: str = "listwise",
                     alpha: float = 0.05) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(analyses.run_correlate(table, columns, self._outputDir(outputDir), missing=missing, alpha=alpha))

    def runCox(self, tableNodes: Sequence, duration: str, event: str, covariates: Sequence[str],
               outputDir: str | Path | None = None, *, idColumn: str = "PatientID", derive: Sequence[str] = (),
               interactions: Sequence[str] = (), categorical: Sequence[str] = (),
               reference: Mapping[str, object] | None = None, standardize: bool = False,
               penalizer: float = 0.0, ordinal: Mapping[str, Sequence[str]] | None = None) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(analyses.run_cox(table, duration, event, covariates, self._outputDir(outputDir),
                                              interactions=interactions, categorical=categorical, reference=reference,
                                              standardize=standardize, penalizer=penalizer, ordinal=ordinal))

    def runKaplanMeier(self, tableNodes: Sequence, duration: str, event: str, metrics: Sequence[str],
                       outputDir: str | Path | None = None, *, idColumn: str = "PatientID", derive: Sequence[str] = (),
                       groupBy: str | None = None, cutoff: float | Mapping[str, float] | None = None,
                       univariableCox: bool = False, timeUnit: str | None = None) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(analyses.run_km(table, duration, event, metrics, self._outputDir(outputDir),
                                             group_by=groupBy or None, cutoff=cutoff, univariable_cox=univariableCox,
                                             time_unit=timeUnit))

    def runCompare(self, tableNodes: Sequence, metrics: Sequence[str], group: str, outputDir: str | Path | None = None,
                   *, idColumn: str = "PatientID", derive: Sequence[str] = ()) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(analyses.run_compare(table, metrics, group, self._outputDir(outputDir)))

    def runRoc(self, tableNodes: Sequence, outcome: str, predictors: Sequence[str], outputDir: str | Path | None = None,
               *, idColumn: str = "PatientID", derive: Sequence[str] = (), ci: str = "delong", resamples: int = 2000,
               seed: int = 0) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(prediction.run_roc(table, outcome, predictors, self._outputDir(outputDir), ci=ci,
                                                resamples=resamples, seed=seed))

    def runModel(self, tableNodes: Sequence, sets: Mapping[str, Sequence[str]], outputDir: str | Path | None = None, *,
                 idColumn: str = "PatientID", derive: Sequence[str] = (), outcome: str | None = None,
                 duration: str | None = None, event: str | None = None, folds: int = 5, repeats: int = 10, seed: int = 0,
                 C: float | None = None, penalizer: float = 0.0, times: Sequence[float] | None = None) -> CohortAnalysisResult:
        table = self.analysisTable(tableNodes, idColumn, derive)
        return self._publish(prediction.run_model(table, sets, self._outputDir(outputDir), outcome=outcome, duration=duration,
                                                  event=event, folds=folds, repeats=repeats, seed=seed, C=C,
                                                  penalizer=penalizer, times=times))

    def runIcc(self, featuresNode, rater: str, outputDir: str | Path | None = None, *,
               target: Sequence[str] = DEFAULT_TARGET, features: Sequence[str] | None = None,
               threshold: float | None = None) -> CohortAnalysisResult:
        """Long lesion table node (one row per lesion per rater) → ICC(2,1), ICC(3,1) per feature."""
        frame = dataframe_from_table_node(featuresNode, (*target, rater))
        return self._publish(variability.run_icc(frame, rater, self._outputDir(outputDir), target=target,
                                                 features=features, threshold=threshold))

    def runVariation(self, variationNode, outputDir: str | Path | None = None, *, patientsNode=None,
                     lesionCount: str = "NumLesions", oligoMax: int = DEFAULT_OLIGO_MAX,
                     threshold: float = DEFAULT_CV_THRESHOLD, test: str = "wilcoxon", alternative: str = "two-sided",
                     columns: Sequence[str] | None = None) -> CohortAnalysisResult:
        """feature_variation table node (+ the patients node for oligo vs multi) → tests on the per-patient |CV|."""
        values = variation_table(dataframe_from_table_node(variationNode, (PATIENT_ID,)), columns)
        groups = None
        if patientsNode is not None:
            groups = lesion_groups(dataframe_from_table_node(patientsNode, (PATIENT_ID,)), lesionCount, oligoMax)
        return self._publish(variability.run_variation(values, self._outputDir(outputDir), threshold=threshold, test=test,
                                                       alternative=alternative, groups=groups,
                                                       oligo_max=oligoMax if groups is not None else None))

    def runClusterFeatures(self, featuresNode, outputDir: str | Path | None = None, *,
                           threshold: float = DEFAULT_CLUSTER_DISTANCE,
                           correlation: str = "pearson", linkage: str = "average", representative: str = "lexicographic",
                           features: Sequence[str] | None = None) -> CohortAnalysisResult:
        """Lesion feature table node → hierarchical-clustering feature selection (one feature per cluster)."""
        lesions = LesionTable.from_frame(dataframe_from_table_node(featuresNode, LESION_TEXT_COLUMNS),
                                         source=featuresNode.GetName())
        selection = ClusterSelection(threshold, correlation, linkage, representative)
        return self._publish(variability.run_cluster_features(lesions.frame, self._outputDir(outputDir), selection=selection,
                                                              features=features or lesions.feature_names))

    def runCombat(self, featuresNode, batch: str, outputDir: str | Path | None = None, *, batchNode=None,
                  covariates: Sequence[str] = (), categorical: Sequence[str] = ()) -> CohortAnalysisResult:
        """Lesion feature table node → ComBat-harmonised features (``combat_features``) across ``batch``, a column
        of the features node or of ``batchNode`` (PatientID, [LesionID,] batch, covariates), as `mirv stats combat`."""
        lesions = dataframe_from_table_node(featuresNode, (*LESION_TEXT_COLUMNS, batch))
        batches = dataframe_from_table_node(batchNode, (*LESION_TEXT_COLUMNS, batch)) if batchNode is not None else None
        table, meta = lesions_with_batch(lesions, [batch, *covariates], batches, source=featuresNode.GetName(),
                                         batch_source=batchNode.GetName() if batchNode is not None else "",
                                         nonfinite="drop-lesion")
        return self._publish(run_combat(table, meta, self._outputDir(outputDir), batch=batch, covariates=covariates,
                                        categorical=categorical))

    def runSimulate(self, featuresNode, outputDir: str | Path | None = None, *, model: str | None = None,
                    preset: str = "paper", sitesNode=None, strategies: Sequence[str] | None = None,
                    simulations: int = 500, seed: int = 0, maxK: int = max(CURVE_K),
                    progress: ProgressCallback | None = None) -> CohortAnalysisResult:
        """Lesion feature table node (PatientID, LesionID, [Site], features) → subsampling simulation."""
        lesions = LesionTable.from_frame(dataframe_from_table_node(featuresNode, LESION_TEXT_COLUMNS),
                                         source=featuresNode.GetName(), nonfinite="drop-lesion")
        sites = dataframe_from_table_node(sitesNode, LESION_TEXT_COLUMNS) if sitesNode is not None else None
        step = (lambda done, total, message: progress(done / total, message)) if progress else None
        output = analyses.run_simulate_lesions(
            lesions, self._outputDir(outputDir), model=model, preset=preset, sites=sites,
            strategies=strategies or analyses.DEFAULT_STRATEGIES, simulations=simulations, seed=seed,
            curve_k=tuple(range(2, maxK + 1)), progress=step)
        return self._publish(output)

    def buildReport(self, outputDir: str | Path | None = None, title: str = "MIRV cohort statistics") -> Path:
        return build_report(self._outputDir(outputDir), title)
