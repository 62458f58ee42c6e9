"""Per-patient lesion feature extraction: PyRadiomics' exact values, without its per-lesion whole-CT work.

PyRadiomics, run once per lesion, re-reads and hashes the CT and B-spline-resamples the whole image for
every lesion. Here the image is read, checked and hashed once (:func:`prepare_image`); each lesion
(:func:`extract_lesion`) is resampled on a crop onto PyRadiomics' own grid (:mod:`MIRVLib.resampling`)
and the already-resampled crop is handed to the feature engine with resampling switched off, so every
feature equals ``RadiomicsFeatureExtractor.execute(full_image, lesion_mask)``. Two engines:

- ``native`` (default): :mod:`MIRVLib.engine`, NumPy/SciPy/SimpleITK/PyWavelets only (installs from wheels
  everywhere), within relative 1e-9 of PyRadiomics;
- ``pyradiomics``: PyRadiomics itself (optional extra ``mirv[pyradiomics]``), its GLCM computed by
  :mod:`MIRVLib.fast_texture` (bit-identical).

Lesions run in a process pool, one task per lesion; workers receive the prepared image once (pool
initialiser) and use one SimpleITK thread each. ``prepare_image`` and ``extract_lesion`` are picklable
module-level functions, so Dask or any other scheduler can run the same per-lesion tasks.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import contextlib
import copy
import dataclasses
import functools
import hashlib
import json
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing import shared_memory
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import SimpleITK as sitk
import yaml

from MIRVLib.lesion_columns import ITH_SCORE as ITH_COLUMN
from MIRVLib.lesion_columns import LESION_ID, PATIENT_ID, SEGMENT_ID, SITE, STATUS, STATUS_OK
from MIRVLib.lesions import (
    Lesion,
    MaskGeometryError,
    array_bounds,
    conform_lesions,
    conform_mask,
    full_mask,
    image_geometry,
    load_image,
    load_lesions,
    mask_offset,
    nonfinite_voxels,
)
from MIRVLib.options import DEFAULT_ENGINE, ENGINES
from MIRVLib.provenance import atomic_write_rows, library_versions, pyradiomics_version, sha256_file
from MIRVLib.resampling import needs_resampling, resample_lesion
from MIRVLib.resources import preset_path
from MIRVLib.worker_processes import pool_context, start_fork_server

if TYPE_CHECKING:  # the engine and its workers run without pandas; only `features` builds a DataFrame
    import pandas as pd

log = logging.getLogger(__name__)

# The columns every extracted row starts with (names owned by the lesion table format).
METADATA_COLUMNS = (PATIENT_ID, LESION_ID, SEGMENT_ID, SITE, STATUS)
# CT in Hounsfield units has air near -1000; an image whose minimum is above this is probably not HU
# (MR, PET, or a CT stored without its rescale), and the MIRV-CT bin width / shift would not fit.
CT_AIR_CEILING = -500.0
CT_MAXIMUM = 10000.0

ProgressCallback = Callable[[int, int, str], None]



class PresetError(ValueError):
    """A parameter set that cannot run (unknown key, bad value, unsupported filter): raised before any lesion."""


@dataclass(frozen=True)
class Preset:
    """A PyRadiomics parameter set: shipped name or YAML file, parsed once and hashed for provenance."""

    name: str
    path: str
    sha256: str
    params: dict[str, Any]

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.params.get("setting") or {})


def load_preset(preset: str | os.PathLike[str] | Preset = "MIRV-CT") -> Preset:
    if isinstance(preset, Preset):
        return preset
    path = preset_path(preset)
    with open(path, encoding="utf-8") as handle:
        params = yaml.safe_load(handle) or {}
    name = Path(path).stem if Path(path).parent.name == "Presets" and str(preset) == Path(path).stem else str(path)
    return Preset(name, str(path), sha256_file(path), params)


def check_preset(preset: str | os.PathLike[str] | Preset, engine: str = DEFAULT_ENGINE) -> Preset:
    """Load the preset and check it completely with ``engine``: :class:`PresetError` (naming the preset and the
    key) for anything that would fail or be ignored, before any image is read or lesion runs."""
    try:
        preset = load_preset(preset)
    except yaml.YAMLError as error:
        raise PresetError(f"preset {preset}: not valid YAML: {error}") from error
    _extractor(preset, engine)
    return preset


@dataclass
class PreparedImage:
    """The patient's image, read, checked and hashed once; sent once to every worker process."""

    image: sitk.Image
    preset: Preset
    sha256: str
    source: str
    patient_id: str = ""
    warnings: list[str] = field(default_factory=list)
    engine: str = DEFAULT_ENGINE

    @property
    def geometry(self) -> dict[str, Any]:
        return {**image_geometry(self.image), "pixelType": self.image.GetPixelIDTypeAsString()}


def _image_sha256(image: sitk.Image) -> str:
    """Content hash of an in-memory image: voxels plus geometry."""
    digest = hashlib.sha256(sitk.GetArrayViewFromImage(image))  # the voxels' buffer, not a copy of the CT
    digest.update(json.dumps([image.GetSize(), image.GetSpacing(), image.GetOrigin(), image.GetDirection()]).encode())
    return digest.hexdigest()


def prepare_image(
    image: sitk.Image | str | os.PathLike[str],
    preset: str | os.PathLike[str] | Preset = "MIRV-CT",
    patient_id: str = "",
    engine: str = DEFAULT_ENGINE,
) -> PreparedImage:
    """Check the preset with ``engine`` (:class:`PresetError` before anything is read), then read (file or
    DICOM folder), hash, range-check and, if the preset asks for it, normalise the image."""
    preset = check_preset(preset, engine)
    if isinstance(image, sitk.Image):
        source, digest = "<in-memory>", _image_sha256(image)
    else:
        with cf.ThreadPoolExecutor(1) as pool:  # hash while ITK reads (both release the GIL)
            hashed = pool.submit(sha256_file, image)
            source, image = str(image), load_image(image)
            digest = hashed.result()
    if image.GetNumberOfComponentsPerPixel() != 1:
        components = image.GetNumberOfComponentsPerPixel()
        raise ValueError(f"{source}: the image has {components} components per voxel; expected a scalar CT")
    warnings = []
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    low, high = stats.GetMinimum(), stats.GetMaximum()
    if low > CT_AIR_CEILING or high > CT_MAXIMUM:
        warnings.append(
            f"{source}: intensities [{low:g}, {high:g}] do not look like CT in Hounsfield units (air near -1000); "
            f"preset {preset.name} assumes HU (binWidth {preset.settings.get('binWidth', 25)}, "
            f"voxelArrayShift {preset.settings.get('voxelArrayShift', 0)})"
        )
    for message in warnings:
        log.warning("patient %s: %s", patient_id or "?", message)
    settings = preset.settings
    if settings.get("normalize", False):
        from MIRVLib.engine.preprocessing import normalize_image

        image = normalize_image(image, **settings)
    return PreparedImage(image, preset, digest, source, patient_id, warnings, engine)


def read_patient(
    image: str | os.PathLike[str],
    lesions: str | os.PathLike[str],
    preset: str | os.PathLike[str] | Preset = "MIRV-CT",
    patient_id: str = "",
    engine: str = DEFAULT_ENGINE,
    **lesion_options: Any,
) -> tuple[PreparedImage, list[Lesion]]:
    """:func:`prepare_image` and :func:`~MIRVLib.lesions.load_lesions` (``lesion_options``), the two files read
    at the same time (ITK's readers, zlib and hashlib release the GIL); lesions conformed to the image."""
    preset = check_preset(preset, engine)  # a bad preset fails before either file is read
    with cf.ThreadPoolExecutor(1) as pool:
        found = pool.submit(load_lesions, lesions, image=image, **lesion_options)
        prepared = prepare_image(image, preset, patient_id, engine)
        loaded = found.result()
    conform_lesions(loaded, prepared.image, lesions)
    return prepared, loaded


_EXTRACTORS: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}


def _pyradiomics_extractor(preset: Preset) -> Any:
    """PyRadiomics' own extractor with MIRV's bit-identical, faster GLCM (:mod:`MIRVLib.fast_texture`)."""
    try:
        from radiomics import featureextractor
    except ImportError as error:
        raise PresetError("the pyradiomics engine needs PyRadiomics: pip install 'mirv[pyradiomics]' "
                          f"(or use the native engine): {error}") from error
    from MIRVLib.fast_texture import install

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    try:
        return install(featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(preset.params)))
    except Exception as error:  # pykwalify's schema errors
        raise PresetError(f"preset {preset.name}: {str(error).strip() or type(error).__name__}") from error


def _extractor(preset: Preset, engine: str = DEFAULT_ENGINE) -> tuple[Any, dict[str, Any]]:
    """The ``engine``'s extractor for already-prepared crops, and the preset's full settings.

    Cached per process, preset and engine; the settings (PyRadiomics defaults filled in) drive the
    resampling. A preset the engine cannot run raises :class:`PresetError` naming the preset and key.
    """
    cached = _EXTRACTORS.get((preset.sha256, engine))
    if cached is None:
        if engine == "native":
            from MIRVLib.engine import NativeExtractor, ParameterError

            try:
                extractor = NativeExtractor(preset.params, source=f"preset {preset.name}")
            except ParameterError as error:
                raise PresetError(str(error)) from error
        elif engine == "pyradiomics":
            extractor = _pyradiomics_extractor(preset)
        else:
            raise PresetError(f"unknown extraction engine '{engine}'; choose one of {', '.join(ENGINES)}")
        settings = copy.deepcopy(extractor.settings)
        extractor.settings["additionalInfo"] = False
        extractor.settings["normalize"] = False  # done once on the whole image in prepare_image
        if needs_resampling(settings):
            extractor.settings["resampledPixelSpacing"] = None  # done by resample_lesion
            extractor.settings["preCrop"] = False  # the resampled crop is already PyRadiomics' crop
        cached = _EXTRACTORS[(preset.sha256, engine)] = (extractor, settings)
    return cached


def _row(prepared: PreparedImage, lesion: Lesion, status: str) -> dict[str, Any]:
    return {
        PATIENT_ID: prepared.patient_id, LESION_ID: lesion.name, SEGMENT_ID: lesion.segment_id or "",
        SITE: lesion.site or "", STATUS: status,
    }


def _error(prepared: PreparedImage, lesion: Lesion, message: str) -> dict[str, Any]:
    log.warning("patient %s, lesion '%s': %s", prepared.patient_id or "?", lesion.name, message)
    return _row(prepared, lesion, f"error: {message}")


@dataclass(frozen=True)
class LesionCrop:
    """A lesion ready for the feature engine: its image crop (resampled onto PyRadiomics' grid where the preset
    resamples) and label mask — or the reason it cannot be extracted."""

    image: sitk.Image | None = None
    mask: sitk.Image | None = None
    label: int = 1
    error: str = ""


def crop_lesion(prepared: PreparedImage, lesion: Lesion) -> LesionCrop:
    """Conform, check and resample one lesion (never raises; a failure is ``LesionCrop.error``).

    Separate from the features so that :func:`run_lesions` can resample the next lesion (ITK, outside the
    GIL) while this one's features are computed.
    """
    try:
        if lesion.error:
            return LesionCrop(error=lesion.error)
        try:
            mask, note = conform_mask(lesion.mask, prepared.image, lesion.name, lesion.source)
        except MaskGeometryError as error:
            return LesionCrop(error=str(error))
        if note:
            log.info("%s", note)
        if not np.any(sitk.GetArrayViewFromImage(mask)):
            return LesionCrop(error="empty segment (no voxels)")
        _, full_settings = _extractor(prepared.preset, prepared.engine)
        label = int(full_settings.get("label", 1))
        if needs_resampling(full_settings):
            image, mask = resample_lesion(prepared.image, mask, full_settings)
            if nonfinite_voxels(mask, image):  # NaN/inf near the lesion, spread into it by the interpolation
                return LesionCrop(error="NaN or infinite image voxels next to the lesion reach into it when the "
                                  "image is resampled; features cannot be computed")
        else:  # PyRadiomics filters the whole image: nothing to gain, hand it over as is
            image, mask = prepared.image, sitk.Cast(full_mask(mask, prepared.image), sitk.sitkUInt32) * label
        return LesionCrop(image, mask, label)
    except Exception as error:  # a failing lesion never stops its patient
        return LesionCrop(error=str(error).strip() or type(error).__name__)


def extract_lesion(
    prepared: PreparedImage, lesion: Lesion, settings: str | os.PathLike[str] | Preset | None = None,
    ith: bool = False, crop: LesionCrop | None = None,
) -> dict[str, Any]:
    """One lesion's table row: metadata, ``Status`` and PyRadiomics features (in PyRadiomics' order).

    Never raises: any failure (empty or 1-voxel mask, geometry mismatch, engine error) becomes
    ``Status = "error: ..."`` with no feature values. ``settings`` defaults to the preset the image was
    prepared with; another preset is refused because normalisation happened in :func:`prepare_image`.
    ``crop`` is the lesion's :func:`crop_lesion`, when already computed.
    """
    try:
        preset = prepared.preset if settings is None else load_preset(settings)
        if preset.sha256 != prepared.preset.sha256:
            return _error(prepared, lesion, f"image was prepared for preset {prepared.preset.name}, not {preset.name}")
        crop = crop or crop_lesion(prepared, lesion)
        if crop.error:
            return _error(prepared, lesion, crop.error)
        extractor, _ = _extractor(preset, prepared.engine)
        result = extractor.execute(crop.image, crop.mask, label=crop.label)
        row = _row(prepared, lesion, STATUS_OK)
        # np.real: PyRadiomics' shape features come out complex (zero imaginary part) for degenerate lesions
        row.update((name, float(np.real(value))) for name, value in result.items() if not name.startswith("diagnostics_"))
        if ith:
            row[ITH_COLUMN] = _ith(crop.image, crop.mask, crop.label, lesion.name)
        return row
    except Exception as error:  # a failing lesion never stops its patient
        message = str(error).strip() or type(error).__name__
        return _error(prepared, lesion, message)


def _ith(image: sitk.Image, mask: sitk.Image, label: int, name: str) -> float:
    """ITHscore on the lesion's (resampled) crop; a failure leaves NaN instead of failing the features."""
    from MIRVLib.ith import ith_score

    try:
        return ith_score(image, mask, label=label)
    except Exception as error:
        log.warning("lesion '%s': ITH score not computed: %s", name, error)
        return float("nan")


# ---------------------------------------------------------------- process pool (one task per lesion)
_WORKER_PREPARED: PreparedImage | None = None


class SharedImage:
    """The prepared image's voxels in shared memory: workers copy them from there instead of receiving a
    pickle of the whole CT through a pipe (which blocks the caller ~0.35 s per worker for a 100 MB CT)."""

    def __init__(self, image: sitk.Image) -> None:
        array = sitk.GetArrayViewFromImage(image)
        self._memory = shared_memory.SharedMemory(create=True, size=max(array.nbytes, 1))
        np.ndarray(array.shape, array.dtype, buffer=self._memory.buf)[...] = array
        self.name, self.shape, self.dtype = self._memory.name, array.shape, array.dtype.str
        self.geometry = (image.GetSpacing(), image.GetOrigin(), image.GetDirection())

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_memory"}

    def load(self) -> sitk.Image:
        memory = shared_memory.SharedMemory(name=self.name)
        try:
            image = sitk.GetImageFromArray(np.ndarray(self.shape, np.dtype(self.dtype), buffer=memory.buf))
        finally:
            memory.close()  # the creating process unlinks it (workers share its resource tracker)
        image.SetSpacing(self.geometry[0])
        image.SetOrigin(self.geometry[1])
        image.SetDirection(self.geometry[2])
        return image

    def release(self) -> None:
        self._memory.close()
        self._memory.unlink()


def _init_worker(prepared: PreparedImage, shared: SharedImage) -> None:
    global _WORKER_PREPARED
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)  # one core per worker; the pool supplies parallelism
    prepared.image = shared.load()
    _WORKER_PREPARED = prepared
    # Build it (imports, schema validation, quiet radiomics logs) before the first task.
    _extractor(prepared.preset, prepared.engine)


def _worker_task(lesion: Lesion, ith: bool) -> dict[str, Any]:
    assert _WORKER_PREPARED is not None, "worker not initialised"
    return extract_lesion(_WORKER_PREPARED, lesion, ith=ith)


@contextlib.contextmanager
def single_threaded_itk() -> Iterator[None]:
    """ITK filters on one thread while lesions are extracted, then the previous setting again.

    PyRadiomics runs dozens of ITK filters per lesion on small crops; there, ITK's thread start-up and
    synchronisation cost more than the work (a crop takes ~0.2 ms on one thread, 0.5–2 ms on two).
    """
    previous = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous)


def run_lesions(
    prepared: PreparedImage,
    lesions: Sequence[Lesion],
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    ith: bool = False,
) -> list[dict[str, Any]]:
    """Rows in lesion order. ``jobs > 1``: one task per lesion, shared by ``jobs - 1`` pool workers and this process.

    The calling process is already warm (imports done, image in memory), so it extracts lesions itself
    while the workers start. A helper thread hands each idle worker the largest remaining lesion; this
    process takes the smallest, so both run out of work at about the same time. ``progress`` is only
    ever called from the calling thread (safe for Qt).
    """
    total = len(lesions)
    rows: list[dict[str, Any] | None] = [None] * total
    finished = 0

    def finish(index: int, row: dict[str, Any]) -> None:
        nonlocal finished
        rows[index] = row
        finished += 1
        if progress:
            progress(finished, total, lesions[index].name)

    if jobs <= 1 or total <= 1:
        # The next lesion is resampled in a helper thread (ITK releases the GIL) while this one's features
        # are computed: one process, the B-spline resampling off the critical path.
        with single_threaded_itk(), cf.ThreadPoolExecutor(1, thread_name_prefix="mirv-resample") as ahead:
            upcoming = ahead.submit(crop_lesion, prepared, lesions[0]) if lesions else None
            for index, lesion in enumerate(lesions):
                crop = upcoming.result()
                if index + 1 < total:
                    upcoming = ahead.submit(crop_lesion, prepared, lesions[index + 1])
                finish(index, extract_lesion(prepared, lesion, ith=ith, crop=crop))
        return rows  # type: ignore[return-value]

    workers = min(jobs, total) - 1
    pending = collections.deque(sorted(range(total), key=lambda i: -lesions[i].voxel_count))
    lock = threading.Lock()
    delivered: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()

    def take(largest: bool) -> int | None:
        with lock:
            if not pending:
                return None
            return pending.popleft() if largest else pending.pop()

    def feed(pool: cf.ProcessPoolExecutor) -> None:
        """Keep every worker busy with the largest remaining lesion (runs in a helper thread)."""
        running: dict[cf.Future, int] = {}

        def submit() -> bool:
            index = take(largest=True)
            if index is None:
                return False
            try:
                running[pool.submit(_worker_task, lesions[index], ith)] = index
            except Exception:  # pool broken: give the lesion back, this process does the rest
                with lock:
                    pending.appendleft(index)
                return False
            return True

        for _ in range(workers):
            if not submit():
                break
        while running:
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                try:
                    delivered.put((index, future.result()))
                except Exception as error:  # worker died (e.g. out of memory): that lesion fails, not the patient
                    delivered.put((index, _error(prepared, lesions[index], f"worker failed: {error}")))
                submit()

    def drain(block: bool) -> None:
        while True:
            try:
                finish(*delivered.get(block=block, timeout=0.05 if block else None))
            except queue.Empty:
                return

    try:
        shared = SharedImage(prepared.image)
    except OSError as error:  # no usable /dev/shm (some containers): still correct, just serial
        log.warning("no shared memory for worker processes (%s); extracting lesions one by one", error)
        return run_lesions(prepared, lesions, 1, progress, ith)
    light = dataclasses.replace(prepared, image=None)  # the voxels travel through shared memory
    with contextlib.ExitStack() as stack:
        stack.callback(shared.release)
        pool = stack.enter_context(cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=pool_context(), initializer=_init_worker, initargs=(light, shared)
        ))
        stack.enter_context(single_threaded_itk())
        feeder = threading.Thread(target=feed, args=(pool,), name="mirv-lesion-feeder", daemon=True)
        feeder.start()
        while (index := take(largest=False)) is not None:  # this process: smallest lesions first
            finish(index, extract_lesion(prepared, lesions[index], ith=ith))
            drain(block=False)
        while feeder.is_alive() or not delivered.empty():
            drain(block=True)
        feeder.join()
    return rows  # type: ignore[return-value]


# ---------------------------------------------------------------- per patient
@dataclass
class ExtractionResult:
    """The lesion feature table of one patient (one row per lesion, in lesion order) and what made it."""

    rows: list[dict[str, Any]]
    columns: list[str]
    provenance: dict[str, Any]

    @functools.cached_property
    def features(self) -> pd.DataFrame:
        """The table as a DataFrame (features of failed lesions are NaN)."""
        import pandas as pd

        return pd.DataFrame(self.rows).reindex(columns=self.columns)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if row[STATUS] != STATUS_OK]

    def write_csv(self, path: str | os.PathLike[str]) -> Path:
        """Atomically write the lesion table (the format ``LesionTable.read_csv`` reads)."""
        return atomic_write_rows(path, self.columns, self.rows)


def lesion_checks(image: sitk.Image, lesions: Sequence[Lesion]) -> dict[str, list[str]]:
    """Warnings per lesion: resampled mask grid, lesion touching the image border, overlapping lesions.

    Lesions whose mask cannot be put on the image grid get ``error`` set here (their rows fail).
    """
    conform_lesions(lesions, image)
    notes: dict[str, list[str]] = {lesion.name: list(lesion.notes) for lesion in lesions}
    usable = [lesion for lesion in lesions if not lesion.error]
    arrays = [sitk.GetArrayViewFromImage(lesion.mask) for lesion in usable]
    starts = [np.array(mask_offset(lesion.mask, image)[::-1]) for lesion in usable]  # image (z, y, x) index
    boxes = []  # inclusive (z, y, x) image-index bounds of each lesion's voxels
    for array, start in zip(arrays, starts):
        bounds = array_bounds(array)
        boxes.append((start + bounds[0], start + bounds[1]) if bounds else None)
    upper = np.array(list(reversed(image.GetSize()))) - 1  # array (z, y, x) order
    axes = "zyx"[-image.GetDimension():]
    for lesion, box in zip(usable, boxes):
        if box is None:
            continue
        touching = [axes[i] for i in range(len(axes)) if box[0][i] == 0 or box[1][i] == upper[i]]
        if touching:
            notes[lesion.name].append(
                f"lesion '{lesion.name}' touches the image border along {', '.join(touching)}; it may be cut off"
            )
    for i, a in enumerate(usable):
        for j in range(i + 1, len(usable)):
            if boxes[i] is None or boxes[j] is None:
                continue
            low, high = np.maximum(boxes[i][0], boxes[j][0]), np.minimum(boxes[i][1], boxes[j][1])
            if np.any(low > high):
                continue
            overlap_a, overlap_b = (
                arrays[k][tuple(slice(lo - o, hi - o + 1) for lo, hi, o in zip(low, high, starts[k]))] for k in (i, j)
            )
            shared = int(np.count_nonzero(overlap_a & overlap_b))
            if shared:
                b = usable[j]
                message = f"lesions '{a.name}' and '{b.name}' overlap by {shared} voxels; each keeps its full mask"
                notes[a.name].append(message)
                notes[b.name].append(message)
    return {name: messages for name, messages in notes.items() if messages}


def _mask_sha256(mask: sitk.Image) -> str:
    """Hash of the mask's content: geometry, bounding box and the voxels inside it (not the whole CT grid)."""
    array = sitk.GetArrayViewFromImage(mask)
    bounds = array_bounds(array)
    digest = hashlib.sha256(json.dumps([mask.GetSize(), mask.GetSpacing(), mask.GetOrigin(), mask.GetDirection(),
                                        bounds]).encode())
    if bounds:
        region = tuple(slice(lo, hi + 1) for lo, hi in zip(*bounds))
        digest.update(np.ascontiguousarray(array[region] != 0).tobytes())
    return digest.hexdigest()


def extract_patient(
    image: sitk.Image | str | os.PathLike[str] | PreparedImage,
    lesions: list[Lesion],
    preset: str | os.PathLike[str] | Preset = "MIRV-CT",
    patient_id: str = "",
    jobs: int = 1,
    progress: ProgressCallback | None = None,
    ith: bool = False,
    engine: str = DEFAULT_ENGINE,
) -> ExtractionResult:
    """Every lesion of one patient: one row per lesion (metadata, ``Status``, features) and provenance.

    ``image`` may already be a :class:`PreparedImage` (then ``preset``, ``patient_id`` and ``engine`` come
    from it).
    ``progress(done, total, lesion_name)`` is called after each lesion (tqdm on the CLI, Qt in Slicer).
    """
    if isinstance(image, PreparedImage):
        prepared, patient_id = image, image.patient_id
    else:
        start_fork_server(jobs if len(lesions) > 1 else 1)  # its imports overlap with reading the image
        prepared = prepare_image(image, preset, patient_id, engine)
    notes = lesion_checks(prepared.image, lesions)
    for _name, messages in notes.items():
        for message in messages:
            log.warning("patient %s: %s", patient_id or "?", message)
    rows = run_lesions(prepared, lesions, jobs, progress, ith)
    if any(row[STATUS] == STATUS_OK for row in rows):
        columns = list(dict.fromkeys(column for row in rows for column in row))
    else:  # no lesion extracted: still the preset's full header, so tables of several patients line up
        columns = [*METADATA_COLUMNS, *feature_names(prepared.preset, prepared.engine), *([ITH_COLUMN] if ith else [])]
    preset_obj = prepared.preset
    provenance = {
        "versions": library_versions(),
        "patientID": patient_id,
        "preset": {"name": preset_obj.name, "path": preset_obj.path, "sha256": preset_obj.sha256},
        "image": {"source": prepared.source, "sha256": prepared.sha256, "geometry": prepared.geometry},
        "engine": engine_record(prepared.engine),
        "jobs": jobs,
        "imageWarnings": prepared.warnings,
        "lesions": [
            {
                "LesionID": lesion.name, "SegmentID": lesion.segment_id, "site": lesion.site,
                "color": list(lesion.color) if lesion.color else None,
                "voxels": lesion.voxel_count, "maskSha256": _mask_sha256(lesion.mask),
                "status": row[STATUS], "warnings": notes.get(lesion.name, []),
            }
            for lesion, row in zip(lesions, rows)
        ],
    }
    return ExtractionResult(rows, columns, provenance)


def engine_record(engine: str) -> dict[str, Any]:
    """What computed the features, for provenance: engine name and version (and the GLCM path of PyRadiomics)."""
    from MIRVLib import __version__

    if engine == "native":
        return {"name": "native", "module": "MIRVLib.engine", "version": __version__,
                "method": "lesion crops resampled onto PyRadiomics' grid; PyRadiomics' definitions in NumPy"}
    from MIRVLib.fast_texture import agrees_with_pyradiomics  # whether this process's GLCM is the fast one

    return {"name": "pyradiomics", "version": pyradiomics_version() or "unknown", "fastGLCM": agrees_with_pyradiomics(),
            "method": "PyRadiomics on lesion crops resampled onto PyRadiomics' own grid"}


def feature_names(preset: str | os.PathLike[str] | Preset = "MIRV-CT", engine: str = DEFAULT_ENGINE) -> list[str]:
    """The feature columns a preset produces, in order (from a small synthetic phantom)."""
    preset = load_preset(preset)
    rng = np.random.default_rng(0)
    array = rng.normal(0, 200, size=(24, 24, 24)).astype(np.int16)
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.8, 2.5))
    z, y, x = np.ogrid[:24, :24, :24]
    ball = ((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 <= 36).astype(np.uint8)
    mask = sitk.GetImageFromArray(ball)
    mask.CopyInformation(image)
    row = extract_lesion(prepare_image(image, preset, engine=engine), Lesion("phantom", mask))
    if row[STATUS] != STATUS_OK:
        raise RuntimeError(f"preset {preset.name} fails on a synthetic phantom: {row[STATUS]}")
    return [c for c in row if c not in METADATA_COLUMNS]
