"""Data identity: tasks checksum the data they read (cached), cells record it and are reused only for the same data."""

import json
import os
import shutil
import tarfile

import numpy as np
import pytest
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.task import DataIdentity, Task
from harness.catalog import PROTOCOLS, TASKS
from harness.cli import main
from harness.cli.train import train_protocol
from harness.data import identity as ident
from harness.data.generated import write_downsampled, write_image_folder
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell
from harness.engine.run_folder import RunFolder
from harness.fileio import atomic_write_json, sha256_file


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    ident.clear_memo()
    yield
    ident.clear_memo()


def _counting(monkeypatch):
    calls = []

    def counted(path, *a, **k):
        calls.append(path)
        return sha256_file(path, *a, **k)

    monkeypatch.setattr(ident, "sha256_file", counted)
    return calls


# ------------------------------------------------------------------------------------ checksums


def test_a_file_is_hashed_once_again_after_a_touch_with_the_same_checksum_and_anew_when_it_changes(tmp_path, monkeypatch):
    calls = _counting(monkeypatch)
    f = tmp_path / "pack.bin"
    f.write_bytes(b"x" * 1000)
    first = ident.file_sha256(f)
    assert first == sha256_file(f) and len(calls) == 1
    ident.clear_memo()  # a new process: the checksum comes from the cache folder
    assert ident.file_sha256(f) == first and len(calls) == 1
    st = f.stat()
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # touched: hashed again, same checksum
    assert ident.file_sha256(f) == first and len(calls) == 2
    f.write_bytes(b"y" + b"x" * 999)  # same size, new content (and mtime)
    assert ident.file_sha256(f) != first and len(calls) == 3
    assert len(list((tmp_path / "cache" / "checksums").iterdir())) == 3


def _ptb_texts(folder, train="a b c\nd e\n"):
    folder.mkdir(parents=True)
    texts = {"train": train, "valid": "a b\n", "test": "c d\n"}
    for part, text in texts.items():
        (folder / f"ptb.{part}.txt").write_text(text)
    return texts


def test_ptb_identity_follows_the_texts_not_their_folder_nor_their_form(tmp_path, monkeypatch):
    task, p = TASKS.get("ptb"), PROTOCOLS.get("ptb-smoke")
    texts = _ptb_texts(tmp_path / "A" / "ptb")
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "A"))
    a = task.data_identity(p)
    assert a.dataset == "ptb" and set(a.files) == {"train", "valid", "test"} and a.selection["train_tokens"] == 3000
    shutil.copytree(tmp_path / "A", tmp_path / "B")
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "B"))
    copy = task.data_identity(p)
    assert copy.checksum == a.checksum and copy.same_data(a) and copy.source != a.source
    (tmp_path / "C" / "ptb").mkdir(parents=True)  # the shared pack of the same texts
    with tarfile.open(tmp_path / "C" / "ptb" / "ptb.tar.xz", "w:xz") as tar:
        for part in texts:
            tar.add(tmp_path / "A" / "ptb" / f"ptb.{part}.txt", arcname=f"{part}.txt")
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "C"))
    assert task.data_identity(p).checksum == a.checksum
    (tmp_path / "B" / "ptb" / "ptb.train.txt").write_text("a b c\ne d\n")  # one line altered
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "B"))
    edited = task.data_identity(p)
    assert not edited.same_data(a)
    assert edited.changes_from(a) == "the source changed and the content of train differs"
    assert edited.source == f"text files in {tmp_path / 'B' / 'ptb'}"
    other_budget = task.data_identity(p.replace(task_options={**p.task_options, "train_tokens": 2000}))
    assert other_budget.checksum != edited.checksum and other_budget.same_data(edited)


def test_cifar_identities_hash_only_the_files_the_split_reads(tmp_path, monkeypatch):
    batches = tmp_path / "cifar-10-batches-py"
    batches.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (batches / name).write_bytes(name.encode())
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    cifar10 = TASKS.get("cifar10")
    p = PROTOCOLS.get("quick")
    valid = cifar10.data_identity(p)  # nb201-cifar10-valid: both parts come from the training batches
    assert set(valid.files) == {f"data_batch_{i}" for i in range(1, 6)} and valid.selection["split"] == "nb201-cifar10-valid"
    test = cifar10.data_identity(p.replace(task_options={**p.task_options, "split": "train-test", "eval_part": "test"}))
    assert "test_batch" in test.files
    (tmp_path / "cifar-100-python").mkdir()
    for part in ("train", "test"):
        (tmp_path / "cifar-100-python" / part).write_bytes(part.encode())
    c100 = TASKS.get("cifar100").data_identity(PROTOCOLS.get("quick").replace(task="cifar100", task_options={}))
    assert c100.dataset == "cifar100" and set(c100.files) == {"train", "test"}


def test_imagenet_folder_identity_is_its_listing(tmp_path, monkeypatch):
    root = write_image_folder(tmp_path / "gen", classes=3, train_per_class=2, val_per_class=1, size=(16, 12))
    task = TASKS.get("imagenet")
    p = PROTOCOLS.get("proxyless-folder").replace(task_options={"root": str(root), "classes": 2})
    first = task.data_identity(p)
    assert set(first.files) == {"train listing", "val listing"}
    some = next((root / "train" / "n00000000").iterdir())
    os.utime(some, ns=(0, 10**9))
    ident.clear_memo()
    assert task.data_identity(p).checksum == first.checksum  # a touch is no change
    (root / "train" / "n00000002" / "extra.JPEG").write_bytes(b"jpeg")  # a class the cell does not read
    assert task.data_identity(p).checksum == first.checksum
    (root / "train" / "n00000001" / "extra.JPEG").write_bytes(b"jpeg")
    assert task.data_identity(p).changes_from(first).endswith("the content of train listing differs")


def test_every_task_that_reads_files_says_which_data_it_read():
    # A task drawing its data from code is named by its code (the base class); every task here reads files.
    for name in TASKS.names():
        task = TASKS.get(name)
        if task.trainable:
            assert type(task).data_identity is not Task.data_identity, name
    record = DataIdentity("d", "somewhere", {"f": "0" * 64}, {"n": 1}).to_dict()
    assert DataIdentity.from_dict(record).checksum == record["checksum"]
    assert DataIdentity.from_dict({"no": "files"}) is None


# ------------------------------------------------------------------------------------ cells

#: A tiny ProxylessNAS cell on generated downsampled ImageNet under $WSBENCH_DATA/imagenet32 (about 3 s).
SETS = [
    ("name", "di-tiny"),
    ("task_options.data", "downsampled"),
    ("task_options.classes", "2"),
    ("task_options.image_size", "32"),
    ("batch_size", "8"),
    ("epochs", "2"),
    ("snapshot_epochs", "2"),
    ("calib_batches", "1"),
    ("calib_batch_size", "8"),
    ("eval_batch_size", "4"),
    ("archset", "ground-truth-sample"),
    ("archset_n", "2"),
]


def _data(folder, seed):
    """A data folder: generated 32x32 images and the ground-truth table the archset is drawn from."""
    from harness.settings import data_root

    write_downsampled(folder / "imagenet32", side=32, classes=2, train_per_class=8, val_per_class=2, batches=1, seed=seed)
    (folder / "seedpaper").mkdir()
    shutil.copy(data_root() / "seedpaper" / "proxylessnas.csv", folder / "seedpaper")
    return folder


@pytest.fixture
def two_data(tmp_path, monkeypatch):
    """Folders A and B: the same files but one (B's val_data.npz holds other images)."""
    a = _data(tmp_path / "A", 0)
    b = tmp_path / "B"
    shutil.copytree(a, b)
    with np.load(b / "imagenet32" / "val_data.npz") as f:
        data, labels = f["data"].copy(), f["labels"]
    data[0, :10] ^= 0xFF
    np.savez(b / "imagenet32" / "val_data.npz", data=data, labels=labels)
    monkeypatch.setenv("WSBENCH_DATA", str(a))
    return a, b


def _spec(seed=0):
    return CellSpec("proxyless", "spos", train_protocol(PROTOCOLS.get("proxyless-folder"), "proxyless", sets=SETS), seed)


def _files(run_dir):
    return {p.relative_to(run_dir): (p.stat().st_size, p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}


@needs_data()
def test_a_cell_is_reused_for_the_same_data_refused_for_other_data_and_redone_on_request(two_data, tmp_path, monkeypatch, capsys):
    a, b = two_data
    root, spec, lines = tmp_path / "results", _spec(), []
    first = run_cell(spec, root=root, log=lines.append)
    d = spec.run_dir(root)
    recorded = json.loads((d / "config.json").read_text())["data_identity"]
    assert recorded["source"].endswith("A/imagenet32") and "val/val_data.npz" in recorded["files"]
    lines.clear()
    shutil.copytree(a, tmp_path / "A2")  # the same data in another folder is the same data
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "A2"))
    assert run_cell(spec, root=root, log=lines.append)["sha256"] == first["sha256"] and lines == []  # nothing trained
    before = _files(d)
    monkeypatch.setenv("WSBENCH_DATA", str(b))
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))
    sets = [a for k, v in SETS for a in ("--set", f"{k}={v}")]
    assert main(["train", "--space", "proxyless", "--strategy", "spos", "--protocol", "proxyless-folder", *sets]) == 2
    out, err = capsys.readouterr()
    old_short = "imagenet:" + recorded["checksum"][:12]
    assert (
        out == "" and err.count("\n") == 1 and err.startswith(f"wsbench: error: cell {d} was trained on other data: {old_short}")
    )
    with pytest.raises(WsbenchError) as e:
        run_cell(spec, root=root, log=lines.append)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"cell {d} was trained on other data: {old_short}")
    assert "the content of val/val_data.npz differs" in msg and str(b) in msg and "--redo-stale-data" in msg
    assert _files(d) == before and lines == []  # nothing written, nothing lost
    redone = run_cell(spec, root=root, log=lines.append, redo_stale_data=True)
    stale = d / f".stale-{recorded['checksum'][:12]}"
    assert any("moved to .stale-" in line for line in lines) and any("epoch 2/2" in line for line in lines)
    assert json.loads((stale / "result.json").read_text())["sha256"] == first["sha256"] and (stale / "supernet.pt").exists()
    assert "val_data.npz differs" in (stale / "reason.txt").read_text()
    assert RunFolder(d).finished() and redone["cell_hash"] == first["cell_hash"]
    now = json.loads((d / "config.json").read_text())["data_identity"]
    assert now["source"].endswith("B/imagenet32") and now["checksum"] != recorded["checksum"]


@needs_data()
def test_an_interrupted_cell_resumes_only_on_its_data(two_data, tmp_path, monkeypatch):
    _, b = two_data
    root, spec = tmp_path / "results", _spec()

    def stop_in_epoch_two(line):  # epoch 1's checkpoint is written, epoch 2's never
        if "epoch 2/2" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=root, log=stop_in_epoch_two)
    d = spec.run_dir(root)
    before = _files(d)
    monkeypatch.setenv("WSBENCH_DATA", str(b))
    with pytest.raises(WsbenchError, match="was trained on other data"):
        run_cell(spec, root=root, log=lambda *_: None)
    assert _files(d) == before
    lines = []
    run_cell(spec, root=root, log=lines.append, redo_stale_data=True)
    assert not any("resuming" in line for line in lines) and any("epoch 1/2" in line for line in lines)
    assert next(d.glob(".stale-*/checkpoint.pt")).exists()


@needs_data()
def test_a_cell_from_before_adopts_the_data_at_its_first_reuse(two_data, tmp_path, monkeypatch):
    _, b = two_data
    root, spec = tmp_path / "results", _spec()
    first = run_cell(spec, root=root, log=lambda *_: None)
    d = spec.run_dir(root)
    config = json.loads((d / "config.json").read_text())
    del config["data_identity"]  # as a cell written before data identities
    atomic_write_json(d / "config.json", config)
    RunFolder(d).seal({k: v for k, v in first.items() if k not in ("files", "sha256")})
    lines = []
    assert run_cell(spec, root=root, log=lines.append)["cell_hash"] == first["cell_hash"]
    assert "adopts imagenet:" in lines[0] and (d / "data_identity.json").exists()
    monkeypatch.setenv("WSBENCH_DATA", str(b))
    with pytest.raises(WsbenchError, match=r"\(adopted at its first reuse\)"):
        run_cell(spec, root=root, log=lambda *_: None)


MATRIX = """
name = "data-identity"
seeds = [0, 1]
device = "cpu"
[[spaces]]
name = "proxyless"
protocol = "proxyless-folder"
overrides = { name = "di-tiny", task_options = { data = "downsampled", classes = 2, image_size = 32 }, batch_size = 8, epochs = 2, snapshot_epochs = [2], calib_batches = 1, calib_batch_size = 8, eval_batch_size = 4, archset = "ground-truth-sample", archset_n = 2 }
[[strategies]]
name = "spos"
"""


@needs_data()
def test_status_and_store_flag_cells_of_one_protocol_trained_on_different_data(two_data, tmp_path, monkeypatch):
    from harness.run.matrix import load_matrix
    from harness.run.status import format_status, matrix_status
    from harness.run.store import scan

    _, b = two_data
    (tmp_path / "m.toml").write_text(MATRIX)
    matrix, root = load_matrix(tmp_path / "m.toml"), tmp_path / "results"
    seed0, seed1 = matrix.cells()
    run_cell(seed0, root=root, log=lambda *_: None)
    monkeypatch.setenv("WSBENCH_DATA", str(b))
    run_cell(seed1, root=root, log=lambda *_: None)
    rows = matrix_status(matrix, root)
    assert [r.state for r in rows] == ["finished", "finished"]
    assert "trained on other data" in rows[0].detail and "val/val_data.npz differs" in rows[0].detail
    assert rows[1].detail == ""
    assert "2 finished (1 trained on other data, see below)" in format_status(matrix, rows)
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "nowhere"))  # no data to compare with: the cells among themselves
    rows = matrix_status(matrix, root)
    assert all("than other cells of proxyless/di-tiny" in r.detail for r in rows)
    sc = scan(root)
    assert len({c.protocol for c in sc.cells}) == 2 and all(c.protocol.startswith("di-tiny@imagenet:") for c in sc.cells)
    assert any("were trained on 2 different data" in n for n in sc.notes)


@needs_data()
def test_matrix_run_refuses_a_finished_cell_of_other_data_before_running_anything_and_redoes_it_on_request(
    two_data, tmp_path, monkeypatch, capsys
):
    from harness.run.launch import check_finished_data
    from harness.run.matrix import load_matrix

    _, b = two_data
    (tmp_path / "m.toml").write_text(MATRIX.replace("seeds = [0, 1]", "seeds = [0]"))
    matrix, root = load_matrix(tmp_path / "m.toml"), tmp_path / "results"
    (cell,) = matrix.cells()
    run_cell(cell, root=root, log=lambda *_: None)  # on A
    d, lines = cell.run_dir(root), []
    check_finished_data(matrix, root, False, lines.append)  # the same data: nothing to say
    assert lines == []
    before = _files(d)
    monkeypatch.setenv("WSBENCH_DATA", str(b))
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))
    assert main(["matrix", "run", str(tmp_path / "m.toml"), "--threads", "1"]) == 2  # refused before any worker starts
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "was trained on other data" in err and "--redo-stale-data" in err, err
    assert _files(d) == before  # nothing written
    check_finished_data(matrix, root, True, lines.append)  # what --redo-stale-data does before the backend runs
    assert any("moved to .stale-" in line for line in lines) and not RunFolder(d).finished()
    assert any(p.name.startswith(".stale-") for p in d.iterdir())
