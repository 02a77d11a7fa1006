"""CIFAR-10 sources (batches folder, JPEG pack, download), split protocols, and device batches."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import os
import pickle
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from harness.api.errors import CorruptDataError, DataMissingError, UnknownNameError, WsbenchError
from harness.data import TensorBatches, cifar10, crop_flip
from harness.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD, CLASSES, load_cifar10
from harness.data.splits import SPLITS, get_split

# ----------------------------------------------------------------------------- fixtures


def _fake_batch_arrays(n: int, rng: np.random.Generator) -> tuple[np.ndarray, list[int]]:
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, size=n)]


def _write_batches(folder: Path, per_file: int = 12, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A small cifar-10-batches-py folder in the official format; returns the raw rows per part."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    raw: dict[str, tuple[list[np.ndarray], list[int]]] = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data, labels = _fake_batch_arrays(per_file, rng)
        part = "test" if name == "test_batch" else "train"
        raw[part][0].append(data)
        raw[part][1].extend(labels)
        # Same dict layout as the official files: bytes keys, uint8 rows, list of int labels.
        blob = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_file}
        (folder / name).write_bytes(pickle.dumps(blob, protocol=2))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [c.encode() for c in CLASSES]}, protocol=2))
    return {p: (np.concatenate(d), np.array(y, dtype=np.int64)) for p, (d, y) in raw.items()}


def _tar_gz(folder: Path, out: Path, extra: dict[str, bytes] | None = None) -> str:
    """Pack ``folder`` (and optional extra members) as a .tar.gz; return its md5."""
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.md5(out.read_bytes()).hexdigest()


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Empty data and cache folders wired to WSBENCH_DATA / WSBENCH_CACHE."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("WSBENCH_DATA", str(data))
    monkeypatch.setenv("WSBENCH_CACHE", str(cache))
    return data, cache


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 from a thread; yields (folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _closed_port_url() -> str:
    """A loopback URL nothing listens on: connecting fails at once, like having no network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/cifar-10-python.tar.gz"


def _gray(part: str, label: int, index: int) -> int:
    """A distinct gray level per fake pack image, far enough apart to survive JPEG."""
    return 8 + 12 * label + (6 if index else 0) + (3 if part == "test" else 0)


def _write_pack(data: Path, per_class: dict[str, int] | None = None, corrupt_jpeg: bool = False) -> Path:
    """A small JPEG pack in the shared layout, members deliberately out of order, plus SHA256SUMS."""
    per_class = per_class or {"train": 2, "test": 1}
    members = []
    for part, count in per_class.items():
        for label, cls in enumerate(CLASSES):
            for i in range(count):
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), (_gray(part, label, i),) * 3).save(buf, format="JPEG", quality=95)
                blob = b"not a jpeg" if corrupt_jpeg and label == 3 else buf.getvalue()
                members.append((f"{part}/{cls}/{i:04d}.jpg", blob))
    members.reverse()  # archive order != class order != name order: the loader must sort
    pack = data / "cifar10" / "cifar10-jpeg-q75.tar.xz"
    pack.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(pack, "w:xz") as tar:
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    digest = hashlib.sha256(pack.read_bytes()).hexdigest()
    (data / "SHA256SUMS").write_text(f"{digest}  ./cifar10/cifar10-jpeg-q75.tar.xz\n")
    return pack


def _files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and message
    return message


# ----------------------------------------------------------------------------- batches folder


def test_batches_folder_is_read_in_official_order_and_layout(data_env: tuple[Path, Path]) -> None:
    data, _ = data_env
    raw = _write_batches(data / "cifar-10-batches-py")
    for part in ("train", "test"):
        rows, labels = raw[part]
        got = load_cifar10(part, source="batches")
        assert got.images.shape == (rows.shape[0], 32, 32, 3) and got.images.dtype == np.uint8
        assert got.labels.dtype == np.int64
        np.testing.assert_array_equal(got.labels, labels)
        # Official rows are channel planes (1024 R, then G, then B), row-major within a plane.
        i, y, x = rows.shape[0] - 1, 5, 17
        for c in range(3):
            assert got.images[i, y, x, c] == rows[i, c * 1024 + y * 32 + x]
        assert not got.images.flags.writeable and not got.labels.flags.writeable
        assert "cifar-10-batches-py" in got.source and "sha256" in got.source
    assert load_cifar10("train").source == load_cifar10("train", source="batches").source  # auto picks it


def test_batch_file_with_foreign_objects_is_refused(data_env: tuple[Path, Path]) -> None:
    data, _ = data_env
    folder = data / "cifar-10-batches-py"
    _write_batches(folder)
    # A pickle that would call os.getcwd on load: the restricted unpickler must not run it.
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": os.getcwd, b"labels": []}))
    with pytest.raises(CorruptDataError, match="data_batch_2") as err:
        load_cifar10("train", source="batches")
    _one_line(err.value)


def test_unknown_part_or_source_is_a_did_you_mean_error(data_env: tuple[Path, Path]) -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'train'"):
        load_cifar10("trian")
    with pytest.raises(UnknownNameError, match="did you mean 'pack'"):
        load_cifar10("train", source="packs")


# ----------------------------------------------------------------------------- download


def test_download_fetches_verifies_and_extracts_into_the_cache(
    data_env: tuple[Path, Path], http_root: tuple[Path, str], tmp_path: Path
) -> None:
    _, cache = data_env
    www, base = http_root
    raw = _write_batches(tmp_path / "src" / "cifar-10-batches-py")
    md5 = _tar_gz(tmp_path / "src" / "cifar-10-batches-py", www / "c10.tar.gz")
    url = f"{base}/c10.tar.gz"
    got = load_cifar10("test", url=url, checksum=f"md5:{md5}")  # auto: data folder is empty
    np.testing.assert_array_equal(got.labels, raw["test"][1])
    assert str(cache) in got.source
    assert not any(name.startswith(".") for name in _files_under(cache))  # no temp files left
    assert (cache / "cifar-10-batches-py" / "data_batch_5").is_file()
    # A second call uses the cache: it works even when the server is gone.
    again = load_cifar10("train", source="download", url=_closed_port_url(), checksum=f"md5:{md5}")
    np.testing.assert_array_equal(again.labels, raw["train"][1])


def test_download_with_wrong_checksum_leaves_nothing_behind(
    data_env: tuple[Path, Path], http_root: tuple[Path, str], tmp_path: Path
) -> None:
    _, cache = data_env
    www, base = http_root
    _write_batches(tmp_path / "src" / "cifar-10-batches-py")
    md5 = _tar_gz(tmp_path / "src" / "cifar-10-batches-py", www / "c10.tar.gz")
    wrong = "sha256:" + hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(CorruptDataError, match="checksum") as err:
        load_cifar10("train", source="download", url=f"{base}/c10.tar.gz", checksum=wrong)
    _one_line(err.value)
    assert _files_under(cache) == [] and list(cache.iterdir()) == []
    with pytest.raises(CorruptDataError):
        load_cifar10("train", source="download", url=f"{base}/c10.tar.gz", checksum="md5:" + "0" * 32)
    assert list(cache.iterdir()) == []
    assert md5 != "0" * 32


def test_no_network_names_the_setting_and_both_layouts(data_env: tuple[Path, Path]) -> None:
    _, cache = data_env
    with pytest.raises(DataMissingError) as err:
        load_cifar10("train", url=_closed_port_url())
    message = _one_line(err.value)
    assert "WSBENCH_DATA" in message and "cifar-10-batches-py" in message and "cifar10-jpeg-q75.tar.xz" in message
    assert list(cache.iterdir()) == []


def test_http_error_and_malformed_checksum_are_one_line(data_env: tuple[Path, Path], http_root: tuple[Path, str]) -> None:
    _, cache = data_env
    _, base = http_root
    with pytest.raises(DataMissingError, match="404") as err:
        load_cifar10("train", source="download", url=f"{base}/missing.tar.gz")
    _one_line(err.value)
    with pytest.raises(WsbenchError, match="md5:<hex>"):
        load_cifar10("train", source="download", url=f"{base}/missing.tar.gz", checksum="c58f30108f718f92")
    assert list(cache.iterdir()) == []


def test_archive_with_path_traversal_is_refused(data_env: tuple[Path, Path], http_root: tuple[Path, str], tmp_path: Path) -> None:
    _, cache = data_env
    www, base = http_root
    _write_batches(tmp_path / "src" / "cifar-10-batches-py")
    md5 = _tar_gz(
        tmp_path / "src" / "cifar-10-batches-py", www / "evil.tar.gz", extra={"cifar-10-batches-py/../../evil.txt": b"x"}
    )
    with pytest.raises(CorruptDataError, match="unsafe path") as err:
        load_cifar10("train", source="download", url=f"{base}/evil.tar.gz", checksum=f"md5:{md5}")
    _one_line(err.value)
    assert not list(tmp_path.rglob("evil.txt"))
    assert list(cache.iterdir()) == []  # neither the archive nor a partial folder is kept


# ----------------------------------------------------------------------------- JPEG pack


def test_pack_is_decoded_in_class_then_name_order_and_cached(
    data_env: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    data, cache = data_env
    pack = _write_pack(data)
    digest = hashlib.sha256(pack.read_bytes()).hexdigest()
    train = load_cifar10("train")  # auto: no batches folder, so the pack
    assert train.images.shape == (20, 32, 32, 3)
    np.testing.assert_array_equal(train.labels, np.repeat(np.arange(10), 2))
    expected = np.array([_gray("train", label, i) for label in range(10) for i in range(2)])
    np.testing.assert_allclose(train.images.reshape(20, -1).mean(axis=1), expected, atol=2)
    assert digest in train.source and str(pack) in train.source
    cached = [name for name in _files_under(cache) if name.endswith(".npz")]
    assert cached == [f"cifar10-jpeg-q75-{digest[:16]}.npz"]
    # The second load must come from the cache: decoding is made impossible.
    monkeypatch.setattr(cifar10, "decode_pack", lambda *a, **k: pytest.fail("decoded twice"))
    test = load_cifar10("test", source="pack")
    np.testing.assert_array_equal(test.labels, np.arange(10))
    np.testing.assert_allclose(test.images.reshape(10, -1).mean(axis=1), [_gray("test", c, 0) for c in range(10)], atol=2)


def test_pack_decode_in_worker_processes_matches_inline(data_env: tuple[Path, Path]) -> None:
    data, _ = data_env
    pack = _write_pack(data, per_class={"train": 3, "test": 1})
    inline = cifar10.decode_pack(pack, workers=1)
    pooled = cifar10.decode_pack(pack, workers=2, chunk=7)  # chunks straddle classes and parts
    for key in inline:
        np.testing.assert_array_equal(inline[key], pooled[key])


def test_pack_failing_its_checksum_is_one_line(data_env: tuple[Path, Path]) -> None:
    data, cache = data_env
    pack = _write_pack(data)
    pack.write_bytes(pack.read_bytes()[:-100])  # truncated after SHA256SUMS was written
    with pytest.raises(CorruptDataError, match="cifar10-jpeg-q75.tar.xz") as err:
        load_cifar10("train", source="pack")
    assert "copy it again" in _one_line(err.value)
    assert not [n for n in _files_under(cache) if n.endswith(".npz")]


def test_pack_with_matching_checksum_but_bad_content_is_one_line(data_env: tuple[Path, Path]) -> None:
    data, cache = data_env
    _write_pack(data, corrupt_jpeg=True)
    with pytest.raises(CorruptDataError, match="cannot be decoded") as err:
        load_cifar10("train", source="pack")
    _one_line(err.value)
    assert _files_under(cache) == []
    # Truncated xz stream whose (wrong) checksum was recorded as if it were right.
    pack = data / "cifar10" / "cifar10-jpeg-q75.tar.xz"
    pack.write_bytes(pack.read_bytes()[: len(pack.read_bytes()) // 2])
    (data / "SHA256SUMS").write_text(f"{hashlib.sha256(pack.read_bytes()).hexdigest()}  ./cifar10/cifar10-jpeg-q75.tar.xz\n")
    with pytest.raises(CorruptDataError, match="cifar10-jpeg-q75.tar.xz") as err:
        load_cifar10("train", source="pack")
    _one_line(err.value)


def test_pack_without_checksum_line_is_refused(data_env: tuple[Path, Path]) -> None:
    data, _ = data_env
    _write_pack(data)
    (data / "SHA256SUMS").write_text("")
    with pytest.raises(DataMissingError, match="SHA256SUMS"):
        load_cifar10("train", source="pack")


def _real_pack() -> Path:
    root = os.environ.get("WSBENCH_DATA")
    if not root or not (Path(root) / cifar10.PACK_FILE).is_file():
        pytest.skip("WSBENCH_DATA with cifar10/cifar10-jpeg-q75.tar.xz is not set up")
    return Path(root)


def test_real_cifar10_shapes_balance_and_channel_statistics() -> None:
    _real_pack()
    train, test = load_cifar10("train"), load_cifar10("test")
    assert train.images.shape == (50000, 32, 32, 3) and test.images.shape == (10000, 32, 32, 3)
    np.testing.assert_array_equal(np.bincount(train.labels), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    total, squares = np.zeros(3), np.zeros(3)
    for start in range(0, 50000, 5000):  # chunks keep memory small
        chunk = train.images[start : start + 5000].reshape(-1, 3).astype(np.float64) / 255.0
        total += chunk.sum(axis=0)
        squares += (chunk * chunk).sum(axis=0)
    n = 50000 * 32 * 32
    mean = total / n
    std = np.sqrt(squares / n - mean**2)
    # The pack is JPEG q75: means match the official ones closely, spread slightly less so.
    np.testing.assert_allclose(mean, CIFAR10_MEAN, atol=2e-3)
    np.testing.assert_allclose(std, CIFAR10_STD, atol=5e-3)


# ----------------------------------------------------------------------------- splits


def _labels(seed: int = 123) -> dict[str, np.ndarray]:
    """CIFAR-10-shaped labels (5000/1000 per class) in a shuffled order, like the batches folder."""
    rng = np.random.default_rng(seed)
    return {
        "train": rng.permutation(np.repeat(np.arange(10), 5000)),
        "test": rng.permutation(np.repeat(np.arange(10), 1000)),
    }


LABELS = _labels()
SIZES = {
    "nb201-cifar10-valid": {"train": 25000, "valid": 25000},
    "train80-val20": {"train": 40000, "valid": 10000},
    "train-test": {"train": 50000, "test": 10000},
}


def test_every_registered_split_has_expected_sizes() -> None:
    assert set(SPLITS.names()) == set(SIZES)


@pytest.mark.parametrize("name", SPLITS.names())
def test_split_parts_are_disjoint_balanced_and_in_range(name: str) -> None:
    split = get_split(name, seed=0, labels=LABELS)
    assert split.sizes() == SIZES[name]
    by_cifar_part: dict[str, list[np.ndarray]] = {}
    for part, (cifar_part, idx) in split.parts.items():
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)  # sorted, unique
        assert idx.min() >= 0 and idx.max() < LABELS[cifar_part].size
        counts = np.bincount(LABELS[cifar_part][idx], minlength=10)
        assert np.all(counts == counts[0]), (part, counts)
        by_cifar_part.setdefault(cifar_part, []).append(idx)
    for cifar_part, parts in by_cifar_part.items():
        joined = np.concatenate(parts)
        assert np.unique(joined).size == joined.size  # disjoint
        assert joined.size == LABELS[cifar_part].size  # together they cover the part


@pytest.mark.parametrize("name", ["nb201-cifar10-valid", "train80-val20"])
def test_split_is_deterministic_by_seed(name: str) -> None:
    a, b, c = (get_split(name, seed=s, labels=LABELS) for s in (0, 0, 1))
    for part in a.parts:
        np.testing.assert_array_equal(a.indices(part), b.indices(part))
        assert not np.array_equal(a.indices(part), c.indices(part))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    # The split follows labels, not positions: other labels give other indices.
    assert not np.array_equal(get_split(name, 0, labels=_labels(7)).indices("valid"), a.indices("valid"))


@pytest.mark.parametrize("name", SPLITS.names())
def test_subset_is_balanced_nested_and_inside_the_full_part(name: str) -> None:
    full = get_split(name, seed=3, labels=LABELS)
    small = get_split(name, seed=3, subset=505, labels=LABELS)
    larger = get_split(name, seed=3, subset=1000, labels=LABELS)
    for part, (cifar_part, idx) in small.parts.items():
        assert idx.size == 505
        counts = np.bincount(LABELS[cifar_part][idx], minlength=10)
        assert counts.max() - counts.min() <= 1
        assert np.isin(idx, full.indices(part)).all()
        assert np.isin(idx, larger.indices(part)).all()
    other_seed = get_split(name, seed=4, subset=505, labels=LABELS)
    assert not np.array_equal(other_seed.indices("train"), small.indices("train"))
    huge = get_split(name, seed=3, subset=10**6, labels=LABELS)
    assert huge.sizes() == full.sizes()  # "at most": never more than the part holds


def test_split_errors_are_one_line() -> None:
    with pytest.raises(UnknownNameError, match="did you mean 'train80-val20'") as err:
        get_split("train80-val2", seed=0, labels=LABELS)
    _one_line(err.value)
    with pytest.raises(WsbenchError, match="seed"):
        get_split("train-test", seed=-1, labels=LABELS)
    with pytest.raises(UnknownNameError, match="did you mean 'valid'"):
        get_split("train80-val20", seed=0, labels=LABELS).indices("vaild")


def test_split_indices_are_read_only() -> None:
    idx = get_split("train80-val20", seed=0, labels=LABELS).indices("train")
    with pytest.raises(ValueError):
        idx[0] = 1


# ----------------------------------------------------------------------------- device batches


def _set(n: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, size=n)


def _raw(images: np.ndarray, **kw: object) -> TensorBatches:
    """Batches whose 'normalization' is the identity on 0..255, so outputs are raw pixel values."""
    return TensorBatches(images, np.zeros(len(images), np.int64), device="cpu", mean=(0.0,) * 3, std=(1 / 255,) * 3, **kw)


def test_crop_flip_on_a_hand_made_image() -> None:
    img = torch.arange(1, 10, dtype=torch.uint8).view(1, 3, 3, 1)  # [[1,2,3],[4,5,6],[7,8,9]]
    zero = torch.zeros(1, dtype=torch.long)
    one = torch.ones(1, dtype=torch.long)
    no, yes = torch.zeros(1, dtype=torch.bool), torch.ones(1, dtype=torch.bool)

    def out(dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor) -> list[list[int]]:
        return crop_flip(img, dy, dx, flip, pad=1)[0, :, :, 0].tolist()

    assert out(one, one, no) == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]  # centred: unchanged
    assert out(zero, zero, no) == [[0, 0, 0], [0, 1, 2], [0, 4, 5]]  # window moved up-left: zero border
    assert out(2 * one, zero, no) == [[0, 4, 5], [0, 7, 8], [0, 0, 0]]
    assert out(one, one, yes) == [[3, 2, 1], [6, 5, 4], [9, 8, 7]]  # mirror
    assert out(zero, 2 * one, yes) == [[0, 0, 0], [0, 3, 2], [0, 6, 5]]  # crop, then mirror the crop


def test_batches_are_deterministic_for_a_generator_seed() -> None:
    images, labels = _set(70)

    def epoch(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(seed)
        tb = TensorBatches(images, labels, device="cpu", batch_size=16, augment=True, shuffle=True, generator=g)
        return [b for _ in range(2) for b in tb]

    a, b, c = epoch(5), epoch(5), epoch(6)
    assert len(a) == 10
    assert all(torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b))
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, c))
    assert not torch.equal(a[0][1], a[5][1])  # the second epoch has a new order


def test_length_batch_sizes_and_dtypes() -> None:
    images, labels = _set(50)
    keep = TensorBatches(images, labels, device="cpu", batch_size=16)
    drop = TensorBatches(images, labels, device="cpu", batch_size=16, drop_last=True)
    assert len(keep) == 4 and [x.shape[0] for x, _ in keep] == [16, 16, 16, 2]
    assert len(drop) == 3 and [x.shape[0] for x, _ in drop] == [16, 16, 16]
    x, y = next(iter(keep))
    assert x.shape == (16, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.dtype == torch.int64
    np.testing.assert_array_equal(torch.cat([y for _, y in keep]).numpy(), labels)  # no shuffle: in order


def test_normalization_centres_and_scales_each_channel() -> None:
    images, labels = _set(200)
    scaled = images.astype(np.float64) / 255
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    tb = TensorBatches(images, labels, device="cpu", batch_size=64, mean=tuple(mean), std=tuple(std))
    x = torch.cat([b for b, _ in tb]).double()
    np.testing.assert_allclose(x.mean(dim=(0, 2, 3)).numpy(), 0, atol=1e-5)
    np.testing.assert_allclose(x.std(dim=(0, 2, 3), unbiased=False).numpy(), 1, atol=1e-5)
    # Channel order: NCHW channel c is the image's last-axis channel c.
    np.testing.assert_allclose(x[3, 1].numpy(), (scaled[3, :, :, 1] - mean[1]) / std[1], atol=1e-5)


def test_normalization_with_cifar_statistics_on_real_data() -> None:
    _real_pack()
    train = load_cifar10("train")
    tb = TensorBatches(train.images, train.labels, device="cpu", batch_size=5000)
    sums = torch.zeros(3, dtype=torch.float64)
    for x, _ in tb:
        sums += x.double().sum(dim=(0, 2, 3))
    np.testing.assert_allclose((sums / (50000 * 1024)).numpy(), 0, atol=0.01)


def test_augmentation_changes_images_keeps_labels_and_only_crops_or_flips() -> None:
    images, labels = _set(64, seed=1)
    g = torch.Generator().manual_seed(0)
    tb = TensorBatches(
        images, labels, device="cpu", batch_size=64, augment=True, generator=g, mean=(0.0,) * 3, std=(1 / 255,) * 3
    )
    x, y = next(iter(tb))
    np.testing.assert_array_equal(y.numpy(), labels)  # no shuffle: labels stay aligned with images
    out = x.permute(0, 2, 3, 1).round().to(torch.uint8).numpy()
    padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
    changed, flips, offsets = 0, 0, set()
    for i in range(len(images)):
        matches = [
            (dy, dx, f)
            for dy in range(9)
            for dx in range(9)
            for f in (False, True)
            if np.array_equal(out[i], (lambda c: c[:, ::-1] if f else c)(padded[i, dy : dy + 32, dx : dx + 32]))
        ]
        assert matches, f"image {i} is not a padded crop (optionally mirrored) of its source"
        changed += not np.array_equal(out[i], images[i])
        flips += matches[0][2]
        offsets.add(matches[0][:2])
    assert changed >= 60 and 10 <= flips <= 54 and len(offsets) >= 20


def test_channels_last_gives_same_values_in_channels_last_memory() -> None:
    images, labels = _set(40)
    make = lambda cl: TensorBatches(  # noqa: E731
        images,
        labels,
        device="cpu",
        batch_size=8,
        augment=True,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
        channels_last=cl,
    )
    for (a, _), (b, _) in zip(make(False), make(True)):
        assert torch.equal(a, b)
        assert b.is_contiguous(memory_format=torch.channels_last) and a.is_contiguous()


def test_fixed_batches_come_from_their_own_generator_only() -> None:
    images, labels = _set(30)
    train_gen = torch.Generator().manual_seed(0)
    tb = TensorBatches(images, labels, device="cpu", batch_size=8, shuffle=True, augment=True, generator=train_gen)
    first = tb.fixed_batches(5, torch.Generator().manual_seed(9), augment=False)
    for _ in tb:  # training consumes its own stream
        pass
    second = tb.fixed_batches(5, torch.Generator().manual_seed(9), augment=False)
    assert len(first) == 5 and all(x.shape == (8, 3, 32, 32) for x, _ in first)
    assert all(torch.equal(a, b) and torch.equal(ya, yb) for (a, ya), (b, yb) in zip(first, second))
    # 40 images from a set of 30: the first 30 are a permutation, the rest start a new one.
    raw = _raw(images, batch_size=8).fixed_batches(5, torch.Generator().manual_seed(9))
    seen = torch.cat([x for x, _ in raw]).permute(0, 2, 3, 1).round().to(torch.uint8).numpy()
    ids = [next(j for j in range(30) if np.array_equal(seen[i], images[j])) for i in range(40)]
    assert sorted(ids[:30]) == list(range(30)) and len(set(ids[30:])) == 10


def test_batches_refuse_bad_input_with_one_line() -> None:
    images, labels = _set(10)
    with pytest.raises(WsbenchError, match="Generator"):
        TensorBatches(images, labels, device="cpu", batch_size=4, shuffle=True)
    with pytest.raises(WsbenchError, match="uint8"):
        TensorBatches(images.astype(np.float32), labels, device="cpu", batch_size=4)
    with pytest.raises(WsbenchError, match="labels"):
        TensorBatches(images, labels[:5], device="cpu", batch_size=4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batches_equal_cpu_batches_for_a_cpu_generator() -> None:
    images, labels = _set(100)

    def batches(device: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(3)
        tb = TensorBatches(images, labels, device=device, batch_size=32, augment=True, shuffle=True, generator=g)
        return [(x.cpu(), y.cpu()) for x, y in tb]

    for (a, ya), (b, yb) in zip(batches("cpu"), batches("cuda")):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        assert torch.equal(ya, yb)


def test_pack_decodes_with_workers_from_a_plain_script_without_main_guard(data_env: tuple[Path, Path], tmp_path: Path) -> None:
    """A user script (or notebook cell) that calls the loader at module level must work as is."""
    import subprocess
    import sys

    data, _ = data_env
    pack = _write_pack(data, per_class={"train": 3, "test": 1})
    script = tmp_path / "plain.py"
    script.write_text(
        "from harness.data import cifar10\n"
        f"arrays = cifar10.decode_pack({str(pack)!r}, workers=2, chunk=5)\n"
        "print('decoded', len(arrays['train_labels']), len(arrays['test_labels']))\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "decoded 30 10"


def test_cutout_zeroes_one_clipped_square_per_image_and_leaves_other_streams_alone():
    from harness.data.batches import cut_out

    x = torch.ones(3, 2, 32, 32)
    out = cut_out(x, torch.tensor([0, 16, 31]), torch.tensor([0, 16, 5]), 16)
    zeros = (out[:, 0] == 0).sum(dim=(1, 2)).tolist()
    assert zeros == [8 * 8, 16 * 16, 9 * 13]  # squares are clipped at the borders, as in the DARTS code
    assert bool((out[:, 0] == out[:, 1]).all())  # the same square in every channel
    g = np.random.default_rng(0)
    imgs, labels = g.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), g.integers(0, 10, 64)

    def first(**kw):
        b = TensorBatches(
            imgs,
            labels,
            device="cpu",
            batch_size=16,
            augment=True,
            shuffle=True,
            generator=torch.Generator().manual_seed(1),
            **kw,
        )
        return next(iter(b))[0]

    plain, off, cut = first(), first(cutout=0), first(cutout=16)
    assert torch.equal(plain, off)  # cutout 0 draws nothing: existing runs keep their numbers
    assert ((cut == 0).flatten(1).sum(1) >= 3 * 8 * 8).all() and not torch.equal(cut, plain)
    with pytest.raises(WsbenchError, match="cutout"):
        TensorBatches(imgs, labels, device="cpu", batch_size=16, cutout=-1)
