"""CIFAR-10 as uint8 arrays from one of three sources behind one call, ``load_cifar10``.

Sources (``source=``):

- ``"batches"``: the standard python batches folder ``$WSBENCH_DATA/cifar-10-batches-py``
  (``data_batch_1..5``, ``test_batch``), in the official image order.
- ``"pack"``: the JPEG pack ``$WSBENCH_DATA/cifar10/cifar10-jpeg-q75.tar.xz``
  (``train/<class>/NNNN.jpg``, ``test/<class>/NNNN.jpg``), checked against
  ``$WSBENCH_DATA/SHA256SUMS``, decoded once and cached as ``.npz`` keyed by its sha256.
  Images are ordered by class index, then file name. The pack is lossy (JPEG q75).
- ``"download"``: the official ``cifar-10-python.tar.gz``, fetched into the cache folder,
  checked (MD5), and extracted there.
- ``"auto"``: batches folder if present, else the pack, else a previous download in the
  cache, else a fresh download.

The two layouts order images differently, so index arrays (see ``harness.data.splits``) are only
meaningful together with the source they were computed for.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import lzma
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from harness.api.errors import CorruptDataError, DataMissingError, WsbenchError, unknown
from harness.api.task import DataIdentity
from harness.data.identity import file_sha256
from harness.fileio import read_sha256sums, sha256_file
from harness.settings import DATA_ENV, cache_dir, data_root

CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
# Per-channel mean and standard deviation of the 50k official training images, in [0, 1] units.
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2470, 0.2435, 0.2616)

PARTS: tuple[str, ...] = ("train", "test")
SOURCES: tuple[str, ...] = ("auto", "batches", "pack", "download")

BATCHES_DIR = "cifar-10-batches-py"
PACK_FILE = "cifar10/cifar10-jpeg-q75.tar.xz"
SUMS_FILE = "SHA256SUMS"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_CHECKSUM = "md5:c58f30108f718f92721af3b95e74349a"

_BATCH_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
_ARCHIVE_NAME = "cifar-10-python.tar.gz"
_IMAGE_SHAPE = (32, 32, 3)
_LAYOUTS_HINT = (
    f"set {DATA_ENV} to a folder holding either {BATCHES_DIR}/ (the official python batches) "
    f"or {PACK_FILE} (the JPEG pack) with its line in {SUMS_FILE}"
)


@dataclass(frozen=True)
class ImageSet:
    """One CIFAR-10 part: uint8 images [N,32,32,3] (read-only), int64 labels [N], provenance."""

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def load_cifar10(
    part: str,
    source: str = "auto",
    *,
    url: str = CIFAR10_URL,
    checksum: str = CIFAR10_CHECKSUM,
) -> ImageSet:
    """Load the ``"train"`` or ``"test"`` part of CIFAR-10 from the chosen source."""
    if part not in PARTS:
        raise unknown("CIFAR-10 part", part, PARTS)
    if source not in SOURCES:
        raise unknown("CIFAR-10 source", source, SOURCES)
    if source == "auto":
        source = _pick_source()
    if source == "batches":
        root = data_root(required=True)
        assert root is not None
        folder = root / BATCHES_DIR
        if not folder.is_dir():
            raise DataMissingError(f"CIFAR-10 batches folder not found at {folder}; {_LAYOUTS_HINT}")
        return _read_batches(folder, part)
    if source == "pack":
        return _load_pack(part)
    return _read_batches(download_cifar10(url=url, checksum=checksum), part)


def source_identity(parts: Sequence[str], selection: Mapping[str, Any]) -> DataIdentity:
    """Which CIFAR-10 ``load_cifar10`` (source ``auto``) reads for ``parts``: the SHA-256 of each batch
    file of those parts, or of the JPEG pack (both parts in one file), where it is, and ``selection``."""
    source = _pick_source()
    if source == "pack":
        pack = _pack_path()
        return DataIdentity("cifar10", f"JPEG pack {pack.resolve()}", {Path(PACK_FILE).name: file_sha256(pack)}, selection)
    if source == "batches":
        root = data_root(required=True)
        assert root is not None
        folder = root / BATCHES_DIR
    else:
        folder = cache_dir() / BATCHES_DIR
        if not _batches_complete(folder):
            raise DataMissingError(f"CIFAR-10 is neither under {DATA_ENV} nor downloaded yet (to {folder}); {_LAYOUTS_HINT}")
    files = {}
    for name in (n for part in PARTS if part in parts for n in _BATCH_FILES[part]):
        if not (folder / name).is_file():
            raise DataMissingError(f"CIFAR-10 batch file {folder / name} is missing; copy the whole {BATCHES_DIR} folder again")
        files[name] = file_sha256(folder / name)
    return DataIdentity("cifar10", f"{BATCHES_DIR} at {folder.resolve()}", files, selection)


def _pick_source() -> str:
    """The first available source: batches folder, JPEG pack, earlier download, fresh download."""
    root = data_root(required=False)
    if root is not None and (root / BATCHES_DIR).is_dir():
        return "batches"
    if root is not None and (root / PACK_FILE).is_file():
        return "pack"
    return "download"


# ----------------------------------------------------------------------------- python batches


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle only plain containers and numpy arrays: batch files may come from the network."""

    _ALLOWED = {
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images [N,32,32,3] and labels [N] from one pickled batch file."""
    if not path.is_file():
        raise DataMissingError(f"CIFAR-10 batch file {path} is missing; copy the whole {BATCHES_DIR} folder again")
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="bytes").load()
        data = np.asarray(batch[b"data"])
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CorruptDataError(
            f"CIFAR-10 batch file {path} is unreadable ({type(exc).__name__}: {exc}); copy or download {BATCHES_DIR} again"
        ) from None
    n = labels.shape[0]
    if data.dtype != np.uint8 or data.shape != (n, 3 * 32 * 32) or labels.ndim != 1:
        raise CorruptDataError(
            f"CIFAR-10 batch file {path} has data {data.dtype}{list(data.shape)} and {n} labels, "
            f"expected uint8[N,3072] with N labels; copy or download {BATCHES_DIR} again"
        )
    if n and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        raise CorruptDataError(f"CIFAR-10 batch file {path} has labels outside 0..9; copy or download it again")
    # Rows are stored channel-major (1024 R, 1024 G, 1024 B); we want HWC.
    images = data.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return images, labels


def _read_batches(folder: Path, part: str) -> ImageSet:
    """Concatenate the batch files of one part, in the official order."""
    images, labels, digest = [], [], hashlib.sha256()
    for name in _BATCH_FILES[part]:
        path = folder / name
        x, y = _read_batch(path)
        images.append(x)
        labels.append(y)
        digest.update(sha256_file(path).encode())
    return _frozen(
        np.concatenate(images),
        np.concatenate(labels),
        f"{BATCHES_DIR} at {folder} ({part}: {'+'.join(_BATCH_FILES[part])}, sha256 of their sha256s {digest.hexdigest()})",
    )


def _frozen(images: np.ndarray, labels: np.ndarray, source: str) -> ImageSet:
    """An ImageSet whose arrays are contiguous and read-only, so callers cannot corrupt shared data."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return ImageSet(images=images, labels=labels, source=source)


# ----------------------------------------------------------------------------- download


def download_cifar10(
    url: str = CIFAR10_URL,
    checksum: str = CIFAR10_CHECKSUM,
    cache: Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return the cached ``cifar-10-batches-py`` folder, downloading and extracting it if needed.

    The archive streams into a temp file and is checked before extraction; the batch files are
    extracted into a temp folder renamed into place only when complete, then the archive is
    dropped (the extracted folder is the cache). A failure leaves nothing in the cache.
    """
    algo, digest = _parse_checksum(checksum)
    cache = Path(cache) if cache is not None else cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / BATCHES_DIR
    if _batches_complete(target):
        return target
    fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{_ARCHIVE_NAME}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            actual = _fetch(url, out, algo, timeout)
        if actual != digest:
            raise CorruptDataError(
                f"download from {url} fails its checksum ({algo} {actual[:12]}…, expected {digest[:12]}…); "
                f"nothing was kept: retry, or put {BATCHES_DIR}/ under {DATA_ENV} yourself"
            )
        _extract_batches(Path(tmp), target, url)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return target


def _batches_complete(folder: Path) -> bool:
    return all((folder / name).is_file() for names in _BATCH_FILES.values() for name in names)


def _parse_checksum(checksum: str) -> tuple[str, str]:
    algo, sep, digest = checksum.partition(":")
    if not sep or algo not in ("md5", "sha256") or not digest:
        raise WsbenchError(f"checksum must look like 'md5:<hex>' or 'sha256:<hex>', got {checksum!r}")
    return algo, digest.lower()


def _fetch(url: str, out: BinaryIO, algo: str, timeout: float) -> str:
    """Stream ``url`` into ``out``; return the hex digest. Network failures become DataMissingError."""
    h = hashlib.new(algo)

    def failed(exc: BaseException) -> DataMissingError:
        if isinstance(exc, urllib.error.HTTPError):
            reason: object = f"HTTP {exc.code} {exc.reason}"
        else:
            reason = getattr(exc, "reason", None) or exc
        return DataMissingError(f"CIFAR-10 not found locally and the download from {url} failed ({reason}); {_LAYOUTS_HINT}")

    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (the URL is a parameter)
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise failed(exc) from None  # refused, unreachable, timeout, HTTP error status, bad URL
    with response:
        while True:
            try:
                block = response.read(1 << 20)
            except (OSError, http.client.HTTPException) as exc:  # connection dropped mid-way
                raise failed(exc) from None
            if not block:
                break
            h.update(block)
            out.write(block)  # a local write error (disk full) is not a network problem: let it raise
    out.flush()
    os.fsync(out.fileno())
    return h.hexdigest()


def _safe_member_path(name: str, archive: Path | str) -> PurePosixPath:
    """The member's relative path, refusing absolute paths and '..' (path traversal)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name:
        raise CorruptDataError(f"archive {archive} holds an unsafe path {name!r}; do not use it, get a genuine copy")
    return path


def _extract_batches(archive: Path, target: Path, origin: str) -> None:
    """Extract the batch files from ``archive`` into ``target`` via a temp folder and a rename."""
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        staged = tmp / BATCHES_DIR
        staged.mkdir()
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:
                    path = _safe_member_path(member.name, origin)
                    # Only regular files directly inside the batches folder; links, devices and
                    # anything else are skipped, so no member can write outside `staged`.
                    if not member.isfile() or len(path.parts) != 2 or path.parts[0] != BATCHES_DIR:
                        continue
                    src = tar.extractfile(member)
                    assert src is not None
                    with src, open(staged / path.parts[1], "wb") as out:
                        shutil.copyfileobj(src, out)
        except (tarfile.TarError, EOFError, OSError, zipfile.BadZipFile, lzma.LZMAError) as exc:
            raise CorruptDataError(
                f"archive from {origin} cannot be extracted ({type(exc).__name__}: {exc}); check the URL and retry"
            ) from None
        if not _batches_complete(staged):
            raise CorruptDataError(
                f"archive from {origin} lacks some of {BATCHES_DIR}/data_batch_1..5, test_batch; check the URL and retry"
            )
        try:
            os.replace(staged, target)
        except OSError:
            # Another process finished the same extraction first; its copy is as good as ours.
            if not _batches_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ----------------------------------------------------------------------------- JPEG pack


def _load_pack(part: str) -> ImageSet:
    """One part of the JPEG pack, decoding and caching the whole pack on first use."""
    pack = _pack_path()
    expected = _pack_sha256()
    actual = sha256_file(pack)
    if actual != expected:
        raise CorruptDataError(
            f"CIFAR-10 JPEG pack {pack} fails its checksum (sha256 {actual[:12]}…, expected {expected[:12]}… "
            f"from {SUMS_FILE}); the file is corrupt or truncated: copy it again"
        )
    cached = cache_dir() / f"cifar10-jpeg-q75-{actual[:16]}.npz"
    hit = _read_cache(cached, part)
    if hit is None:
        arrays = decode_pack(pack)
        _write_npz(cached, arrays)
        hit = arrays[f"{part}_images"], arrays[f"{part}_labels"]
    return _frozen(
        *hit,
        f"JPEG pack {pack} ({part}, sha256 {actual}; lossy JPEG q75; decoded cache {cached.name})",
    )


def _pack_path() -> Path:
    root = data_root(required=True)
    assert root is not None
    pack = root / PACK_FILE
    if not pack.is_file():
        raise DataMissingError(f"CIFAR-10 JPEG pack not found at {pack}; {_LAYOUTS_HINT}")
    return pack


def _pack_sha256() -> str:
    root = data_root(required=True)
    assert root is not None
    sums_path = root / SUMS_FILE
    if not sums_path.is_file():
        raise DataMissingError(
            f"{sums_path} not found, so the JPEG pack cannot be verified; add a sha256sum line for ./{PACK_FILE}"
        )
    sums = read_sha256sums(sums_path)
    if PACK_FILE not in sums:
        raise DataMissingError(f"{sums_path} has no line for ./{PACK_FILE}; add its sha256sum line")
    return sums[PACK_FILE]


def _read_cache(path: Path, part: str) -> tuple[np.ndarray, np.ndarray] | None:
    """One part's cached arrays, or None when absent or unreadable (the cache is ours: just redo it)."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            x, y = npz[f"{part}_images"], npz[f"{part}_labels"]
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
        return None
    if x.dtype != np.uint8 or x.shape[1:] != _IMAGE_SHAPE or y.shape != x.shape[:1]:
        return None
    return x, y


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write an uncompressed .npz (fast to load) through a temp file and a rename."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # numpy's stub lets **arrays fill its allow_pickle flag; passing that flag would write an extra array before numpy 2.1.
            np.savez(f, **arrays)  # type: ignore[arg-type]
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644 & ~_umask())  # mkstemp makes 0600; a shared cache should be readable
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _decode_chunk(blobs: list[bytes]) -> np.ndarray:
    """Decode JPEG bytes into uint8 [n,32,32,3]; a worker-process entry point."""
    from PIL import Image  # imported here so the module imports without Pillow work

    out = np.empty((len(blobs), *_IMAGE_SHAPE), dtype=np.uint8)
    for i, blob in enumerate(blobs):
        with Image.open(io.BytesIO(blob)) as im:
            if im.size != _IMAGE_SHAPE[1::-1]:
                raise ValueError(f"image {i} of a chunk is {im.size[0]}x{im.size[1]}, expected 32x32")
            out[i] = np.asarray(im if im.mode == "RGB" else im.convert("RGB"))
    return out


def _pack_members(pack: Path) -> Iterator[tuple[str, int, str, bytes]]:
    """(part, class index, file name, JPEG bytes) for each image of the pack, in archive order."""
    with tarfile.open(pack, "r:xz") as tar:
        for member in tar:
            path = _safe_member_path(member.name, pack)
            if not member.isfile():
                continue
            parts = path.parts
            if len(parts) != 3 or parts[0] not in PARTS or not parts[2].lower().endswith((".jpg", ".jpeg")):
                raise CorruptDataError(
                    f"JPEG pack {pack} holds unexpected file {member.name!r} (expected train|test/<class>/NNNN.jpg); "
                    "copy the pack again"
                )
            if parts[1] not in CLASSES:
                raise CorruptDataError(f"JPEG pack {pack} holds unknown class folder {parts[1]!r}; copy the pack again")
            src = tar.extractfile(member)
            assert src is not None
            yield parts[0], CLASSES.index(parts[1]), parts[2], src.read()


def decode_pack(pack: Path, workers: int | None = None, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Decode a JPEG pack into ``{train,test}_{images,labels}``, ordered by class then file name."""
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    arrival: list[tuple[str, int, str]] = []  # (part, class index, file name) in archive order
    pending: list[bytes] = []
    futures: list[Future[np.ndarray]] = []
    # Decoding overlaps the (single-threaded) xz decompression: chunks go to workers as they fill.
    # Threads, not processes: Pillow releases the GIL while it decodes, and a process pool
    # ("spawn") re-imports the caller's main module, which fails in a plain script without a
    # ``__main__`` guard.
    executor = ThreadPoolExecutor(workers, thread_name_prefix="cifar10-decode") if workers > 1 else None
    try:
        try:
            for part, label, name, blob in _pack_members(pack):
                arrival.append((part, label, name))
                pending.append(blob)
                if len(pending) == chunk:
                    futures.append(_submit(executor, pending))
                    pending = []
            if pending:
                futures.append(_submit(executor, pending))
            decoded = [f.result() for f in futures]
        except (tarfile.TarError, EOFError, lzma.LZMAError, OSError, ValueError) as exc:
            raise CorruptDataError(
                f"CIFAR-10 JPEG pack {pack} cannot be decoded ({type(exc).__name__}: {exc}); copy the pack again"
            ) from None
    finally:
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
    images = np.concatenate(decoded) if decoded else np.empty((0, *_IMAGE_SHAPE), np.uint8)
    arrays: dict[str, np.ndarray] = {}
    for part in PARTS:
        rows = sorted((label, name, row) for row, (p, label, name) in enumerate(arrival) if p == part)
        if not rows:
            raise CorruptDataError(f"CIFAR-10 JPEG pack {pack} has no {part}/ images; copy the pack again")
        arrays[f"{part}_images"] = images[np.array([r for _, _, r in rows], dtype=np.int64)]
        arrays[f"{part}_labels"] = np.array([label for label, _, _ in rows], dtype=np.int64)
    return arrays


def _submit(executor: Executor | None, blobs: list[bytes]) -> Future[np.ndarray]:
    """Run one decode chunk in the pool, or inline when there is no pool."""
    if executor is not None:
        return executor.submit(_decode_chunk, blobs)
    done: Future[np.ndarray] = Future()
    done.set_result(_decode_chunk(blobs))
    return done
