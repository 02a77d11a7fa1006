"""The CIFAR-100 task: its reader on a small folder the test writes, its splits over 100 classes, a smoke cell.

The data set is not on these machines; the fake ``cifar-100-python`` folder holds pickled dicts in
the official format (``data`` uint8 N x 3072 stored channel-major, ``fine_labels``; bytes keys as the
official Python 2 pickles have, or text keys), with 100 classes and a few images each.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.api.errors import CorruptDataError, DataMissingError, UnknownNameError, WsbenchError
from harness.catalog import PROTOCOLS, TASKS
from harness.data.cifar100 import CIFAR100_MEAN, CIFAR100_STD, FOLDER, load_cifar100
from harness.data.splits import balanced_subset, class_count, get_split
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell
from harness.settings import DATA_ENV
from harness.tasks.cifar100 import CIFAR100Classification
from harness.tasks.classification import ImageClassification

PER_CLASS = {"train": 6, "test": 2}


def _images_and_labels(part: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.repeat(np.arange(100), PER_CLASS[part]))
    return rng.integers(0, 256, (labels.size, 3072), dtype=np.uint8), labels


def write_fake_cifar100(root: Path, text_keys: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``root/cifar-100-python/{train,test}`` in the official format; returns the rows written per part."""
    folder = root / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for seed, part in enumerate(("train", "test")):
        data, labels = _images_and_labels(part, seed)
        entry = {"data": data, "fine_labels": labels.tolist(), "coarse_labels": (labels // 5).tolist(),
                 "filenames": [f"img_{i}.png" for i in range(labels.size)], "batch_label": f"{part} batch"}  # fmt: skip
        if not text_keys:  # what Python 2's cPickle wrote: byte strings, read back with encoding="bytes"
            entry = {k.encode(): [v.encode() for v in val] if k == "filenames" else val for k, val in entry.items()}
        with open(folder / part, "wb") as f:
            pickle.dump(entry, f, protocol=2)
        written[part] = (data, labels)
    return written


@pytest.fixture
def fake_data(tmp_path, monkeypatch):
    written = write_fake_cifar100(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))
    monkeypatch.setattr(CIFAR100Classification, "part_sizes", {p: 100 * n for p, n in PER_CLASS.items()})
    return tmp_path, written


# ------------------------------------------------------------------------------------ reader


@pytest.mark.parametrize("text_keys", [False, True])
def test_reader_gives_hwc_images_and_fine_labels(tmp_path, text_keys):
    written = write_fake_cifar100(tmp_path, text_keys=text_keys)
    for part in ("train", "test"):
        data, labels = written[part]
        got = load_cifar100(part, root=tmp_path)
        assert got.images.shape == (labels.size, 32, 32, 3) and got.images.dtype == np.uint8
        np.testing.assert_array_equal(got.labels, labels)
        # Row i stores 1024 red, then 1024 green, then 1024 blue values, each plane row-major.
        i, y, x = 3, 5, 7
        assert [int(got.images[i, y, x, c]) for c in range(3)] == [int(data[i, c * 1024 + y * 32 + x]) for c in range(3)]
        assert not got.images.flags.writeable and FOLDER in got.source


def _one_line(err: BaseException) -> str:
    assert "\n" not in str(err)
    return str(err)


def test_reader_errors_are_one_line(tmp_path):
    with pytest.raises(DataMissingError, match="CIFAR-100 folder not found") as e:
        load_cifar100("train", root=tmp_path)
    _one_line(e.value)
    write_fake_cifar100(tmp_path)
    (tmp_path / FOLDER / "test").unlink()
    with pytest.raises(DataMissingError, match="is missing") as e:
        load_cifar100("test", root=tmp_path)
    _one_line(e.value)
    with pytest.raises(UnknownNameError):
        load_cifar100("valid", root=tmp_path)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"not a pickle at all", "unreadable"),
        (pickle.dumps([1, 2, 3]), "unreadable"),
        (pickle.dumps({"data": np.zeros((4, 3072), np.uint8)}), "unreadable"),  # no fine_labels
        (pickle.dumps({"data": np.zeros((4, 100), np.uint8), "fine_labels": [0, 1, 2, 3]}), "expected uint8"),
        (pickle.dumps({"data": np.zeros((4, 3072), np.float32), "fine_labels": [0, 1, 2, 3]}), "expected uint8"),
        (pickle.dumps({"data": np.zeros((4, 3072), np.uint8), "fine_labels": [0, 1, 2]}), "expected uint8"),
        (pickle.dumps({"data": np.zeros((2, 3072), np.uint8), "fine_labels": [0, 100]}), "outside 0..99"),
    ],
)
def test_corrupt_files_are_one_line_errors(tmp_path, content, match):
    write_fake_cifar100(tmp_path)
    (tmp_path / FOLDER / "train").write_bytes(content)
    with pytest.raises(CorruptDataError, match=match) as e:
        load_cifar100("train", root=tmp_path)
    _one_line(e.value)


def test_a_truncated_copy_is_an_error_not_a_smaller_run(tmp_path, monkeypatch):
    write_fake_cifar100(tmp_path)
    monkeypatch.setenv(DATA_ENV, str(tmp_path))  # the real sizes (50k / 10k) are expected
    protocol = _smoke_protocol()
    with pytest.raises(CorruptDataError, match="not 50000; the data set is incomplete") as e:
        TASKS.get("cifar100").make_data(protocol, 0, torch.device("cpu"))
    _one_line(e.value)


# ------------------------------------------------------------------------------------ splits


def _labels100() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"train": rng.permutation(np.repeat(np.arange(100), 500)), "test": rng.permutation(np.repeat(np.arange(100), 100))}


@pytest.mark.parametrize("name", ["nb201-cifar10-valid", "train80-val20", "train-test"])
def test_splits_balance_all_100_classes(name):
    labels = _labels100()
    for num_classes in (None, 100):  # unset: the labels' count
        split = get_split(name, seed=0, subset=1234, labels=labels, num_classes=num_classes)
        for cifar_part, idx in split.parts.values():
            counts = np.bincount(labels[cifar_part][idx], minlength=100)
            assert idx.size == 1234 and counts.max() - counts.min() <= 1 and (counts > 0).all()
    full = get_split("train80-val20", seed=0, labels=labels)
    assert full.sizes() == {"train": 40_000, "valid": 10_000}
    assert (np.bincount(labels["train"][full.indices("valid")], minlength=100) == 100).all()


def test_cifar10_splits_are_what_they_were():
    # Fingerprints computed with the splits module before the class count became a parameter.
    rng = np.random.default_rng(123)
    labels = {"train": rng.permutation(np.repeat(np.arange(10), 5000)), "test": rng.permutation(np.repeat(np.arange(10), 1000))}
    before = {
        ("nb201-cifar10-valid", None): "6b5c8e3a2cf4a6de", ("nb201-cifar10-valid", 505): "2d0c5d72000b2a00",
        ("train80-val20", None): "4250c44e1ec52b40", ("train80-val20", 505): "4a9e883ef3f3f6a4",
        ("train-test", None): "8d71ab35f2e8c71c", ("train-test", 505): "e38a566b2812daf5",
    }  # fmt: skip
    for (name, subset), fingerprint in before.items():
        assert get_split(name, seed=0, subset=subset, labels=labels).fingerprint()[:16] == fingerprint
        assert get_split(name, seed=0, subset=subset, labels=labels, num_classes=10).fingerprint()[:16] == fingerprint
    picked = balanced_subset(np.arange(50_000), labels["train"], 64, np.random.default_rng(5))
    assert picked[:8].tolist() == [672, 1082, 2003, 4087, 4224, 6809, 6842, 8530]
    # Labels that miss the last classes still balance over CIFAR-10's ten.
    assert class_count(np.array([0, 1, 2])) == 10 and class_count(labels) == 10 and class_count(np.array([0, 99])) == 100
    with pytest.raises(WsbenchError, match="num_classes must be a positive integer"):
        class_count(labels, 0)


# ------------------------------------------------------------------------------------- task


def _smoke_protocol(**changes):
    base = PROTOCOLS.get("nb201-smoke")
    values = {"name": "cifar100-smoke-test", "task": "cifar100", "task_options": {"subset": 300}, "eval_images": 100,
              "eval_batch_size": 100, "archset_n": 4, **changes}  # fmt: skip
    return base.replace(**values)


def test_task_declares_cifar100_and_checks_its_protocols():
    task = TASKS.get("cifar100")
    assert task.dataset == "cifar100" and task.spec().outputs == 100
    assert task.options(_smoke_protocol())["split"] == "train-test"
    task.check_protocol(_smoke_protocol())
    with pytest.raises(UnknownNameError, match="eval_part"):
        task.check_protocol(_smoke_protocol(task_options={"split": "train80-val20"}))  # its parts: train, valid
    with pytest.raises(WsbenchError, match="exceeds the 300 training images"):
        task.check_protocol(_smoke_protocol(batch_size=400))


def test_make_data_reads_the_folder_with_cifar100_normalisation(fake_data):
    _, written = fake_data
    protocol = _smoke_protocol(task_options={"subset": 300, "augment": False}, channels_last=False)
    data = TASKS.get("cifar100").make_data(protocol, 0, torch.device("cpu"))
    assert data.n_train == 300 and data.n_eval == 100
    x, y = data.eval_batches[0]
    assert x.shape == (100, 3, 32, 32) and sorted(y.tolist()) == list(range(100))  # one test image per class
    # Undo CIFAR-100's normalisation: the uint8 pixels of the test images come back.
    mean, std = torch.tensor(CIFAR100_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR100_STD).view(1, 3, 1, 1)
    pixels = ((x * std + mean) * 255).round().to(torch.uint8).numpy().reshape(100, 3072)
    test_data, test_labels = written["test"]  # rows stored channel-major, as the NCHW batch flattens
    for row, label in zip(pixels, y.tolist()):
        candidates = test_data[test_labels == label]
        assert any(np.array_equal(row, c) for c in candidates), label
    assert "split_fingerprint" in data.info and FOLDER in str(data.info["source"])


def test_batches_are_the_cifar10_tasks_up_to_normalisation():
    # The override keeps the parent's streams, order and augmentation; only the constants differ.
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (256, 32, 32, 3), dtype=np.uint8), rng.integers(0, 100, 256)
    held = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8), rng.integers(0, 100, 64)
    protocol = _smoke_protocol(batch_size=32, calib_batch_size=32, calib_batches=2, eval_batch_size=32)
    opts = TASKS.get("cifar100").options(protocol) | {"cutout": 8}
    ours = TASKS.get("cifar100")._cell_data(protocol, opts, train, held, 3, torch.device("cpu"), True, {})
    theirs = ImageClassification(100)._cell_data(protocol, opts, train, held, 3, torch.device("cpu"), True, {})
    m100, s100 = torch.tensor(CIFAR100_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR100_STD).view(1, 3, 1, 1)
    from harness.data.cifar10 import CIFAR10_MEAN, CIFAR10_STD

    m10, s10 = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1), torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)

    def same(a, b):
        (xa, ya), (xb, yb) = a, b
        assert torch.equal(ya, yb)
        # Cutout zeroes normalised values (the mean of either data set): compare where both are not cut out.
        keep = (xa != 0) & (xb != 0)
        torch.testing.assert_close((xa * s100 + m100)[keep], (xb * s10 + m10)[keep], atol=1e-5, rtol=0)

    for a, b in zip([*ours.train, *ours.arch_train, *ours.calib_batches, *ours.eval_batches],
                    [*theirs.train, *theirs.arch_train, *theirs.calib_batches, *theirs.eval_batches]):  # fmt: skip
        same(a, b)
    assert (ours.n_train, ours.n_eval, ours.n_arch_train) == (theirs.n_train, theirs.n_eval, theirs.n_arch_train)


@pytest.mark.slow
def test_smoke_cell_trains_and_scores_on_the_fake_folder(fake_data, tmp_path):
    spec = CellSpec("nb201", "spos", _smoke_protocol(epochs=1, snapshot_epochs=(1,)), 0)
    run_cell(spec, root=tmp_path / "results", log=lambda *_: None)
    scores = list((spec.run_dir(tmp_path / "results") / "scores").glob("epoch_*.csv"))
    assert len(scores) == 1
    import pandas as pd

    frame = pd.read_csv(scores[0])
    assert len(frame) == 4 and frame["accuracy"].between(0, 100).all() and np.isfinite(frame["loss"]).all()
    assert spec.config()["protocol"]["task"] == "cifar100"
