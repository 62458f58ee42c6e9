"""Run the extraction of a cohort as one task per lesion, in-process or on a Dask cluster.

Why this shape:

* **One task per lesion** balances work across workers however unevenly lesions are spread over patients.
* **A per-worker cache** holds the prepared image and lesion masks of the last patients a worker touched,
  so a worker reads and prepares each patient's image once however many of its lesions it gets. Tasks carry
  only file paths and a lesion index, never voxel data, so nothing large crosses the network. A patient's
  lesion tasks prefer the worker that loaded it (a loose restriction: an idle worker still steals them), so
  most patients are read by one worker only (--jobs 2 vs --jobs 1 on PyRadiomics' 512×512×48 lung CTs,
  under similar outside load on the shared development machine: 0.75× without this, 1.44× with it).
* **A window of patients in flight** (workers + 2) and priorities that finish started patients first keep
  the per-worker cache hot, while the next patients' loading tasks wait in the queue to fill any gap (with
  a smaller window workers idled during the client round trip between patients: one worker took 8.3–9.3 s
  instead of 7.0–7.5 s for 16 test patients). A finished patient is dropped from every worker's cache at
  once and the cache never holds more than four patients, which bounds worker memory. On up to two workers
  (window ≤ 4) no worker ever reads an image twice; on larger clusters a worker touching more than four
  unfinished patients re-reads one, which is counted in the provenance (``imageReadsPerWorker``).
* **Results stream back** (`distributed.as_completed`); each patient is handed to ``on_patient`` (which
  stores it) the moment its last lesion returns. Task functions never raise: an error becomes a failure
  record, so one bad patient or lesion never aborts the cohort. A lost worker fails only its patients, and
  only transiently (they are not stored, so ``--resume`` retries them).

``jobs == 1`` without a scheduler runs the same task functions in this process, in order, without Dask.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from MIRVLib.batch.manifest import ManifestRow
from MIRVLib.batch.store import PatientResult
from MIRVLib.extraction import METADATA_COLUMNS
from MIRVLib.lesion_table import VOLUME_FEATURE
from MIRVLib.options import DEFAULT_ENGINE
from MIRVLib.response import FOLLOW_UP as FOLLOW_UP_VOLUME

log = logging.getLogger(__name__)
# Dask raises asyncio's TimeoutError, the built-in one only since Python 3.11 (3.9 is Slicer 5.8's).
TIMEOUTS = (TimeoutError, asyncio.TimeoutError)

BASELINE, FOLLOW_UP = "baseline", "follow-up"
_CACHE_PATIENTS = 4


WORKER_WAIT_SECONDS = 120


class EngineError(RuntimeError):
    """Dask is missing, or its scheduler cannot be reached or has no workers: nothing can run."""


@dataclass(frozen=True)
class PatientTask:
    """What a worker needs to load one time point of one patient (paths only: cheap to ship)."""

    patient_id: str
    image: str
    lesions: str
    sites: str | None
    preset: str
    single_threaded: bool = False  # Dask workers: one SimpleITK thread each, the cluster supplies parallelism
    engine: str = DEFAULT_ENGINE

    @property
    def cache_key(self) -> tuple[str, ...]:
        return (self.patient_id, self.image, self.lesions, self.sites or "", self.preset, self.engine)


# ----------------------------------------------------------------------------------------- worker side
_worker_cache: collections.OrderedDict[tuple[str, ...], tuple[Any, list[Any]]] = collections.OrderedDict()
_cache_lock = threading.Lock()  # forget_patient runs on a Dask worker's event-loop thread, tasks on another


def forget_patient(patient_id: str) -> None:
    """Drop a finished patient from this process's cache (run on every worker when the patient completes)."""
    with _cache_lock:
        for key in [key for key in _worker_cache if key[0] == patient_id]:
            del _worker_cache[key]


async def _forget_on_worker(patient_id: str) -> None:
    """`forget_patient` as a coroutine: Dask runs only coroutines without waiting for the answer."""
    forget_patient(patient_id)


def _loaded(task: PatientTask) -> tuple[Any, list[Any], bool]:
    """Prepared image and lesions of ``task`` from this process's cache; True when read just now."""
    from MIRVLib.extraction import read_patient

    if task.single_threaded and sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() != 1:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
        logging.getLogger("radiomics").setLevel(logging.ERROR)
    with _cache_lock:
        cached = _worker_cache.get(task.cache_key)
        if cached is not None:
            _worker_cache.move_to_end(task.cache_key)
            return (*cached, False)
    prepared, lesions = read_patient(task.image, task.lesions, task.preset, task.patient_id, task.engine,
                                     sites_csv=task.sites)
    with _cache_lock:
        _worker_cache[task.cache_key] = (prepared, lesions)
        while len(_worker_cache) > _CACHE_PATIENTS:
            _worker_cache.popitem(last=False)
    return prepared, lesions, True


def failure_reason(error: BaseException) -> str:
    """One line for failures.csv (ITK messages span many lines); shared by every extraction engine."""
    return " ".join(f"{type(error).__name__}: {error}".split())[:500]


def inventory_task(task: PatientTask) -> dict[str, Any]:
    """Load a patient time point (filling this worker's cache), list and check its lesions; never raises."""
    from MIRVLib.extraction import lesion_checks

    try:
        prepared, lesions, read_now = _loaded(task)
        notes = lesion_checks(prepared.image, lesions)
    except Exception as error:  # noqa: BLE001 - any reason a patient cannot be loaded is recorded
        return {"error": failure_reason(error), "imageRead": True, "worker": os.getpid()}
    from MIRVLib.provenance import sha256_file

    provenance = {
        "image": {"source": prepared.source, "sha256": prepared.sha256, "geometry": prepared.geometry},
        "lesionsFile": {"path": task.lesions, "sha256": sha256_file(task.lesions)},
        "sitesFile": {"path": task.sites, "sha256": sha256_file(task.sites)} if task.sites else None,
        "imageWarnings": prepared.warnings,
        "lesions": [{"LesionID": lesion.name, "SegmentID": lesion.segment_id, "site": lesion.site,
                     "voxels": lesion.voxel_count, "warnings": notes.get(lesion.name, [])} for lesion in lesions],
    }
    return {"lesions": [lesion.name for lesion in lesions], "provenance": provenance, "imageRead": read_now,
            "worker": os.getpid(), "address": _dask_worker_address()}


def _dask_worker_address() -> str | None:
    """This Dask worker's address (None in-process): the patient's lesions prefer the worker that loaded it."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


def lesion_task(task: PatientTask, index: int) -> dict[str, Any]:
    """Features of lesion ``index`` of the patient (a ``Status`` of ``error: ...`` on failure); never raises."""
    from MIRVLib.extraction import extract_lesion

    try:
        prepared, lesions, read_now = _loaded(task)
        row = extract_lesion(prepared, lesions[index])
    except Exception as error:  # noqa: BLE001 - extract_lesion handles lesion errors; this is the rest
        row = {"PatientID": task.patient_id, "LesionID": f"#{index + 1}", "Status": f"error: {failure_reason(error)}"}
        read_now = False
    return {"row": row, "index": index, "imageRead": read_now, "worker": os.getpid()}


def peak_rss_mib() -> float:
    """Peak resident memory of this process (a worker), in MiB."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


# ----------------------------------------------------------------------------------------- client side
@dataclass
class _Patient:
    row: ManifestRow
    waiting: int = 0
    rows: dict[str, dict[int, dict[str, Any]]] = field(default_factory=lambda: {BASELINE: {}, FOLLOW_UP: {}})
    failures: list[dict[str, str]] = field(default_factory=list)
    image_reads: collections.Counter = field(default_factory=collections.Counter)
    provenance: dict[str, Any] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    transient: bool = False

    def fail(self, stage: str, reason: str, lesion: str = "") -> None:
        self.failures.append({"PatientID": self.row.patient_id, "LesionID": lesion, "Stage": stage, "Reason": reason})


class _SerialFuture:
    def __init__(self, function: Callable[..., Any], args: tuple[Any, ...]):
        self.function, self.args, self.value = function, args, None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = self.function(*self.args)
        except Exception as error:  # noqa: BLE001 - surfaces in result(), as a Dask future's error does
            self.error = error

    def result(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


class _SerialEngine:
    """In-process stand-in for a Dask client: tasks run one at a time in submission order."""

    workers = 1

    def __init__(self) -> None:
        self.queue: collections.deque[_SerialFuture] = collections.deque()

    def submit(self, function: Callable[..., Any], *args: Any, tag: Any, priority: int,
               prefer: str | None = None) -> _SerialFuture:
        future = _SerialFuture(function, args)
        future.tag = tag  # type: ignore[attr-defined]
        self.queue.append(future)
        return future

    def completed(self) -> Iterator[_SerialFuture]:
        from MIRVLib.extraction import single_threaded_itk  # faster on lesion crops, as in extract_patient

        while self.queue:
            future = self.queue.popleft()
            with single_threaded_itk():
                future.run()
            yield future

    def forget(self, patient_id: str) -> None:
        forget_patient(patient_id)

    def peak_rss(self) -> list[float]:
        return [peak_rss_mib()]

    def close(self) -> None:
        pass


class _DaskEngine:
    """A `distributed.Client` on a local cluster of single-threaded worker processes or a given scheduler."""

    def __init__(self, jobs: int, scheduler: str | None):
        try:
            from distributed import Client, LocalCluster, as_completed
        except ImportError as error:
            raise EngineError(f"--jobs > 1 and --scheduler need Dask: pip install 'mirv[dask]' ({error})") from error

        self.cluster = None
        if scheduler:
            try:
                self.client = Client(scheduler, timeout=10)
            except (OSError, *TIMEOUTS) as error:
                raise EngineError(f"cannot reach the Dask scheduler {scheduler}: {error}") from error
            try:
                self.client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
            except TIMEOUTS as error:
                self.client.close()
                raise EngineError(f"no Dask worker connected to {scheduler} within {WORKER_WAIT_SECONDS} s") from error
        else:
            import dask

            # Dask's default MALLOC_TRIM_THRESHOLD_ for workers also pins glibc's mmap threshold at 128 KiB, so
            # every larger PyRadiomics temporary is mmapped, page-faulted and unmapped again (17x the page faults,
            # 5x the system time: extraction 7 % slower); the per-worker patient cache bounds memory anyway.
            # On a local cluster the workers share the cores with this process: no statistical profiler (it
            # samples every thread 100 times a second), memory checks and event-loop ticks once a second.
            quiet = {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                     "distributed.worker.profile.enabled": False,
                     "distributed.worker.memory.monitor-interval": "1s", "distributed.admin.tick.interval": "1s"}
            with dask.config.set(quiet):
                self.cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                            dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))
        self._tags: dict[str, Any] = {}
        self._completed = as_completed([], with_results=False)
        self._counter = itertools.count()

    def submit(self, function: Callable[..., Any], *args: Any, tag: Any, priority: int,
               prefer: str | None = None) -> Any:
        """``prefer``: a worker to run it on if possible (loose restriction: idle workers may still steal it)."""
        future = self.client.submit(function, *args, key=f"mirv-{function.__name__}-{next(self._counter)}-{os.getpid()}",
                                    priority=priority, pure=False, workers=[prefer] if prefer else None,
                                    allow_other_workers=bool(prefer))
        self._tags[future.key] = tag
        self._completed.add(future)
        return future

    def completed(self) -> Iterator[Any]:
        for future in self._completed:
            future.tag = self._tags.pop(future.key)
            yield future

    def forget(self, patient_id: str) -> None:
        self.client.run(_forget_on_worker, patient_id, wait=False)

    def peak_rss(self) -> list[float]:
        return sorted(self.client.run(peak_rss_mib).values(), reverse=True)

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def run_patients(
    rows: list[ManifestRow],
    preset: str,
    *,
    on_patient: Callable[[ManifestRow, PatientResult], None],
    jobs: int = 1,
    scheduler: str | None = None,
    follow_up_preset: str | None = None,
    on_lesion: Callable[[dict[str, Any]], None] | None = None,
    engine: str = DEFAULT_ENGINE,
) -> dict[str, Any]:
    """Extract every patient of ``rows``; call ``on_patient`` as each one finishes (in completion order).

    ``preset`` is a PyRadiomics YAML path for baseline lesions; ``follow_up_preset`` (default: ``preset``)
    for follow-up lesions, of which only the volume is used. ``on_lesion`` sees every lesion result.
    Returns run facts for the provenance: engine, number of workers, start-up and extraction seconds, peak
    memory per worker (MiB).
    """
    started = time.perf_counter()
    runner: _SerialEngine | _DaskEngine = _SerialEngine() if jobs <= 1 and not scheduler else _DaskEngine(jobs, scheduler)
    try:
        ready = time.perf_counter()
        _schedule(runner, rows, (preset, follow_up_preset or preset, engine), on_patient, on_lesion)
        return {"engine": "dask" if isinstance(runner, _DaskEngine) else "in-process", "workers": runner.workers,
                "featureEngine": engine,
                "startSeconds": round(ready - started, 3), "extractSeconds": round(time.perf_counter() - ready, 3),
                "workerPeakRssMiB": [round(v, 1) for v in runner.peak_rss()]}
    finally:
        runner.close()


def _tasks(row: ManifestRow, presets: tuple[str, str, str], single_threaded: bool) -> dict[str, PatientTask]:
    """Baseline (and follow-up) task of ``row``; ``presets`` = (baseline preset, follow-up preset, feature engine)."""
    preset, follow_up_preset, engine = presets
    sites = str(row.sites) if row.sites else None
    tasks = {BASELINE: PatientTask(row.patient_id, str(row.image), str(row.lesions), sites, preset, single_threaded,
                                   engine)}
    if row.follow_up_image and row.follow_up_lesions:
        tasks[FOLLOW_UP] = PatientTask(row.patient_id, str(row.follow_up_image), str(row.follow_up_lesions),
                                       sites, follow_up_preset, single_threaded, engine)
    return tasks


def _schedule(engine: Any, rows: list[ManifestRow], presets: tuple[str, str, str],
              on_patient: Callable[[ManifestRow, PatientResult], None],
              on_lesion: Callable[[dict[str, Any]], None] | None) -> None:
    total = len(rows)
    pending = collections.deque(enumerate(rows))
    active: dict[int, _Patient] = {}
    window = engine.workers + 2 if isinstance(engine, _DaskEngine) else 1

    def start_next() -> None:
        while pending and len(active) < window:
            order, row = pending.popleft()
            patient = active[order] = _Patient(row)
            for timepoint, task in _tasks(row, presets, isinstance(engine, _DaskEngine)).items():
                patient.waiting += 1
                # Lower priority than any lesion task: finish started patients before loading new ones.
                engine.submit(inventory_task, task, tag=(order, timepoint, None, task), priority=-order)

    start_next()
    for future in engine.completed():
        order, timepoint, index, task = future.tag
        patient = active[order]
        patient.waiting -= 1
        try:
            outcome = future.result()
        except Exception as error:  # noqa: BLE001 - a lost worker or cancelled task: retry on --resume
            patient.transient = True
            patient.fail("worker", failure_reason(error), "" if index is None else patient.names[timepoint][index])
            outcome = None
        if outcome is not None:
            patient.image_reads[outcome["worker"]] += int(outcome["imageRead"])
        if outcome is not None and index is None:
            if "error" in outcome:
                patient.fail("image" if timepoint == BASELINE else "follow-up", outcome["error"])
            elif not outcome["lesions"] and timepoint == BASELINE:
                patient.fail("lesions", f"no lesions in {task.lesions}")
            else:
                patient.provenance[timepoint] = outcome["provenance"]
                patient.names[timepoint] = outcome["lesions"]
                for i in range(len(outcome["lesions"])):
                    patient.waiting += 1
                    engine.submit(lesion_task, task, i, tag=(order, timepoint, i, task), priority=total - order,
                                  prefer=outcome.get("address"))
        elif outcome is not None:
            patient.rows[timepoint][index] = outcome["row"]
            if on_lesion is not None:
                on_lesion(outcome["row"])
        if patient.waiting == 0:
            del active[order]
            engine.forget(patient.row.patient_id)
            on_patient(patient.row, _result(patient))
            start_next()


def _result(patient: _Patient) -> PatientResult:
    baseline = [patient.rows[BASELINE][i] for i in sorted(patient.rows[BASELINE])]
    follow_up = [patient.rows[FOLLOW_UP][i] for i in sorted(patient.rows[FOLLOW_UP])]
    provenance = {**patient.provenance, "imageReadsPerWorker": sorted(patient.image_reads.values(), reverse=True)}
    return patient_result(patient.row.patient_id, baseline, follow_up, patient.failures, provenance,
                          transient=patient.transient)


def patient_result(patient_id: str, baseline: list[dict[str, Any]], follow_up: list[dict[str, Any]],
                   failures: list[dict[str, str]], provenance: dict[str, Any], *,
                   transient: bool = False) -> PatientResult:
    """A patient's result from its lesion rows (in lesion order) and the failures met while loading it.

    Lesions whose ``Status`` is not ``ok`` are added to the failures; follow-up lesions keep only their
    volume. Shared by every extraction engine (this runner, the headless Slicer batch).
    """
    failures = list(failures)
    for stage, rows in (("extraction", baseline), ("follow-up", follow_up)):
        for row in rows:
            status = str(row.get("Status", "ok"))
            if status != "ok":
                failures.append({"PatientID": patient_id, "LesionID": str(row.get("LesionID", "")), "Stage": stage,
                                 "Reason": status.removeprefix("error:").strip()})
    failures.sort(key=lambda f: (f["Stage"], f["LesionID"]))  # completion order varies between runs
    volumes = None
    if follow_up:
        frame = _lesion_frame(follow_up)
        volumes = pd.DataFrame({"LesionID": frame["LesionID"], FOLLOW_UP_VOLUME: frame.get(VOLUME_FEATURE, float("nan")),
                                "Status": frame["Status"]})
    return PatientResult(patient_id, _lesion_frame(baseline), volumes, failures, provenance, transient)


def _lesion_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows in lesion order with metadata columns first, then features in extraction order.

    Equal to ``pd.DataFrame(rows, columns=columns)``, built with the features as one float block: pandas
    infers every one of ~1200 columns separately, which was most of the batch client's CPU per patient.
    """
    columns = list(dict.fromkeys([*METADATA_COLUMNS, *(c for row in rows for c in row)]))  # first-seen order
    if not rows:
        return pd.DataFrame(columns=columns)
    metadata = [c for c in columns if c in METADATA_COLUMNS]
    features = columns[len(metadata):]
    table = [[row.get(c, np.nan) for c in features] for row in rows]
    if not all(isinstance(value, float) for values in table for value in values):
        return pd.DataFrame(rows, columns=columns)  # a non-float feature value: pandas infers column by column
    return pd.concat([pd.DataFrame([[row.get(c, np.nan) for c in metadata] for row in rows], columns=metadata),
                      pd.DataFrame(np.array(table, dtype=float).reshape(len(rows), len(features)),
                                   columns=features)], axis=1)
