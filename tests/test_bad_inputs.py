"""Bad inputs, table-driven, by category: each gives exit code 2 and one line, or a correct result.

Categories (the case ids start with them; ``pytest --collect-only -q tests/test_bad_inputs.py``
counts them):

1. ``silent``: inputs that once gave a silently wrong result (0 training steps, a run folder
   outside the results folder, out-of-range ground truth, two protocols pooled as seeds).
2. ``late``: values that once failed mid-run; now refused when the matrix or command line loads.
3. ``valid``: valid inputs that once crashed.
4. ``damaged``: damaged results folders (truncations at several offsets, garbage bytes, missing
   files): detected, reported with the reason, re-run to identical results.
5. ``env``: the environment (data, results and cache settings, permissions, checksum files, packs).
6. ``process``: a ``kill -9`` of ``matrix run``'s parent leaves no worker behind.
7. ``feedback``: help texts and usage.

Where an error is expected the helpers also check that nothing was written.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REAL_DATA, cli, needs_data, tree

from harness.api.errors import WsbenchError
from harness.engine.integrity import DAMAGED, FINISHED, cell_state
from harness.run.backends.local import run_matrix
from harness.run.matrix import load_matrix, shipped_matrices
from harness.run.status import matrix_status
from harness.run.store import scan

REPO = Path(__file__).resolve().parent.parent

TINY = {
    "name": "bad-inputs",
    "network": {"C": 4, "N": 1},
    "task_options": {"subset": 600},
    "epochs": 3,
    "batch_size": 100,
    "snapshot_epochs": [2, 3],
    "calib_batches": 1,
    "calib_batch_size": 100,
    "eval_images": 200,
    "eval_batch_size": 200,
    "archset": "sample",
    "archset_n": 8,
}


# ------------------------------------------------------------------------------------ helpers


def _toml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"


def matrix_text(overrides: dict, seeds=(0,), strategy: str = "spos") -> str:
    return (
        f'name = "bad"\nseeds = {_toml(list(seeds))}\ndevice = "cpu"\n'
        f'[[spaces]]\nname = "nb201"\nprotocol = "quick"\noverrides = {_toml(overrides)}\n'
        'ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]\n'
        f'[[strategies]]\nname = "{strategy}"\n'
    )


def assert_one_line_error(code: int, err: str, pattern: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]


def refused(argv: list[str], pattern: str, capsys, watch: Path) -> None:
    """``wsbench argv`` exits 2 with one line matching ``pattern`` and changes nothing under ``watch``."""
    before = tree(watch)
    code, _, err = cli(argv, capsys)
    assert_one_line_error(code, err, pattern)
    assert tree(watch) == before, "files were written or removed"


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A fresh, empty results folder as WSBENCH_RESULTS, and the working directory beside it."""
    root = tmp_path / "results"
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))
    monkeypatch.chdir(tmp_path)
    return root


# -------------------------------------------------------------- 1 + 2: matrix and protocol values

# (category, overrides change, pattern of the one-line error)
PROTOCOL_CASES = [
    ("silent", {"name": "../escape"}, r"protocol name '\.\./escape' must be"),
    ("silent", {"name": "a/b"}, r"protocol name 'a/b' must be"),
    ("silent", {"name": ".."}, r"protocol name '\.\.' must be"),
    ("silent", {"batch_size": 700}, r"batch_size 700 exceeds the 600 training images"),
    ("silent", {"task_options": {"subset": 40000}, "batch_size": 30000}, r"batch_size 30000 exceeds the 25000 training images"),
    ("silent", {"task_options": {"subset": 50}}, r"batch_size 100 exceeds the 50 training images"),
    ("late", {"epochs": 0}, r"epochs must be an integer >= 1, got 0"),
    ("late", {"epochs": -3}, r"epochs must be an integer >= 1, got -3"),
    ("late", {"epochs": True}, r"epochs: must be an integer, got True"),
    ("late", {"epochs": "3"}, r"epochs: must be an integer, got '3'"),
    ("late", {"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
    ("late", {"lr": math.nan}, r"lr must be a finite number > 0.0, got nan"),
    ("late", {"lr": math.inf}, r"lr must be a finite number > 0.0, got inf"),
    ("late", {"lr": -0.1}, r"lr must be a finite number > 0.0, got -0.1"),
    ("late", {"lr": 0}, r"lr must be a finite number > 0.0, got 0"),
    ("late", {"lr_min": 1.0}, r"lr_min must be <= lr"),
    ("late", {"lr_min": -1.0}, r"lr_min must be a finite number >= 0.0"),
    ("late", {"momentum": 1.5}, r"momentum must be a finite number >= 0.0 and < 1.0"),
    ("late", {"weight_decay": -1e-4}, r"weight_decay must be a finite number >= 0.0"),
    ("late", {"weight_decay": math.nan}, r"weight_decay must be a finite number"),
    ("late", {"grad_clip": 0.0}, r"grad_clip must be a finite number > 0.0"),
    ("late", {"task_options": {"subset": 0}}, r"task option subset must be an integer >= 1, got 0"),
    ("late", {"eval_images": 0}, r"eval_images must be an integer >= 1, got 0"),
    ("late", {"calib_batches": 0}, r"calib_batches must be >= 1 with bn_mode 'recalibrate'"),
    ("late", {"calib_batches": -1}, r"calib_batches must be an integer >= 0, got -1"),
    ("late", {"calib_batch_size": 0}, r"calib_batch_size must be an integer >= 1, got 0"),
    ("late", {"calib_batch_size": 700}, r"calib_batch_size 700 exceeds the 600 training images"),
    ("late", {"eval_batch_size": 0}, r"eval_batch_size must be an integer >= 1, got 0"),
    ("late", {"archset_n": 0}, r"archset_n must be an integer >= 1, got 0"),
    ("late", {"archset_seed": -1}, r"archset_seed must be an integer >= 0, got -1"),
    ("late", {"archset": "everything"}, r"archset must be one of all, unique, sample"),
    ("late", {"bn_mode": "frozen"}, r"bn_mode must be one of recalibrate, batch, running"),
    ("late", {"autocast": "fp16"}, r"autocast must be one of unset, bf16, got 'fp16'"),
    ("late", {"optimizer": "adam"}, r"optimizer must be one of sgd, asgd, nt-asgd, got 'adam'"),
    (
        "late",
        {"task_options": {"split": "nb201-cifar10-vaild"}},
        r"unknown data split .*'nb201-cifar10-vaild' \(did you mean 'nb201-cifar10-valid'\?\)",
    ),
    ("late", {"task_options": {"train_part": "training"}}, r"unknown train_part of split 'nb201-cifar10-valid'.*'training'"),
    ("late", {"task_options": {"eval_part": "test"}}, r"unknown eval_part of split 'nb201-cifar10-valid'.*'test'"),
    ("late", {"snapshot_epochs": []}, r"snapshot_epochs \[\] must be non-empty"),
    ("late", {"snapshot_epochs": [3, 3]}, r"snapshot_epochs \[3, 3\] repeats an epoch"),
    ("late", {"snapshot_epochs": [0, 3]}, r"snapshot_epochs \[0, 3\] must be non-empty and within 1..3"),
    ("late", {"network": {"C": 0, "N": 1}}, r"network.C: must be a positive integer"),
    ("late", {"network": {"C": 4, "N": -1}}, r"network.N: must be a positive integer"),
    ("late", {"network": {"C": 4, "N": 1, "width": 3}}, r"unknown key\(s\) width for space 'nb201'"),
    ("late", {"C": 4}, r"unknown protocol field 'C'.*network keys go in"),
    ("late", {"augment": 1}, r"augment is a task option now: write task_options = \{ augment = \.\.\. \}"),
    ("late", {"task_options": {"augment": 1}}, r"task option augment must be true or false, got 1"),
    ("late", {"task_options": {"augmnt": True}}, r"unknown task option\(s\) augmnt for task 'cifar10'"),
]


@pytest.mark.parametrize(
    "change,pattern", [c[1:] for c in PROTOCOL_CASES], ids=[f"{c[0]}-{i}" for i, c in enumerate(PROTOCOL_CASES)]
)
def test_bad_protocol_value_is_refused_when_the_matrix_loads(change, pattern, tmp_path, results, capsys):
    overrides = {k: v for k, v in {**TINY, **change}.items() if v is not None}
    path = tmp_path / "bad.toml"
    path.write_text(matrix_text(overrides))
    for command in ("status", "run"):
        refused(["matrix", command, str(path)], re.escape(str(path)) + r".*" + pattern, capsys, tmp_path)
    assert not results.exists()


# (category, argv, pattern)
CLI_CASES = [
    ("late", ["train", "--seed", "-1"], r"--seed: must be an integer >= 0, got -1"),
    ("late", ["train", "--seed", "x"], r"--seed: must be an integer >= 0, got 'x'"),
    ("late", ["train", "--epochs", "0"], r"--epochs: must be an integer >= 1, got 0"),
    ("late", ["train", "--C", "0"], r"--C: must be an integer >= 1, got 0"),
    ("late", ["train", "--archset", "sample"], r"--archset: sample needs a size >= 1"),
    ("late", ["train", "--archset", "sample:0"], r"--archset: sample needs a size >= 1"),
    ("late", ["train", "--archset", "every"], r"--archset: must be all, unique"),
    ("late", ["train", "--option", "sampling"], r"--option: must be key=value"),
    ("late", ["train", "--option", "=x"], r"--option: must be key=value"),
    ("late", ["train", "--option", "colour=red"], r"unknown option\(s\) colour for strategy 'spos'"),
    ("late", ["train", "--device", "gpu"], r"--device: unknown device 'gpu'"),
    ("late", ["train", "--device", "cuda:x"], r"--device: unknown device 'cuda:x'"),
    ("late", ["train", "--space", "nb202"], r"unknown search space 'nb202' \(did you mean 'nb201'\?\)"),
    ("late", ["train", "--strategy", "sposs"], r"unknown strategy 'sposs' \(did you mean 'spos'\?\)"),
    ("late", ["train", "--protocol", "quik"], r"unknown protocol 'quik' \(did you mean 'quick'\?\)"),
    ("late", ["train", "--space", "nb101", "--strategy", "darts"], r"strategy 'darts' needs mixed_forward"),
    ("late", ["gt", "nb201", "--top", "0"], r"--top: must be an integer >= 1, got 0"),
    ("late", ["gt", "nb201", "--bootstrap", "-5"], r"--bootstrap: must be an integer >= 0"),
    ("late", ["gt", "nb201", "--source", "csv"], r"needs all of --source, --dataset"),
    ("late", ["report", "--last-k", "0"], r"--last-k: must be an integer >= 1, got 0"),
    ("late", ["matrix", "run", "ci", "--workers", "0"], r"--workers: must be an integer >= 1, got 0"),
    ("late", ["matrix", "run", "ci", "--threads", "-2"], r"--threads: must be an integer >= 1, got -2"),
    ("late", ["matrix", "status", "qiuck"], r"unknown matrix 'qiuck' \(did you mean 'quick'\?\)"),
    ("late", ["matrix", "status", "nowhere/m.toml"], r"matrix file nowhere/m.toml not found"),
    ("late", ["bench", "--steps", "0"], r"--steps: must be an integer >= 1, got 0"),
    ("late", ["bench", "--cells", "1,x"], r"--cells: must be a comma list of integers >= 1"),
    ("late", ["bench", "--device", "tpu"], r"--device: unknown device 'tpu'"),
    ("late", ["bench", "--autocast", "fp16"], r"--autocast: invalid choice: 'fp16'"),
    ("late", ["reproduce", "--profile", "quik"], r"unknown matrix 'quik' \(did you mean 'quick'\?\)"),
    ("late", ["reproduce", "--device", "gpu"], r"--device: unknown device 'gpu'"),
    ("late", ["arch", "nb201", "|nor_conv_3x3~0|+|bogus~0|"], r"."),
    ("late", ["arch", "nb101", "not-a-cell"], r"."),
    ("late", ["arch", "nb999", "x"], r"unknown search space 'nb999'"),
]


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in CLI_CASES], ids=[f"{c[0]}-{i}" for i, c in enumerate(CLI_CASES)])
def test_bad_command_line_is_one_line_and_writes_nothing(argv, pattern, tmp_path, results, capsys):
    refused(argv, pattern, capsys, tmp_path)


def test_silent_cuda_without_a_gpu_is_refused_before_anything_is_written(tmp_path, results, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    refused(["train", "--device", "cuda"], r"no GPU is visible", capsys, tmp_path)
    refused(["train", "--device", "cuda:3"], r"no GPU is visible", capsys, tmp_path)


# ----------------------------------------------------------------- 1: ground truth value ranges

NB201_CSV = "nb201/nb201-test-acc-200ep.csv"
GT_ARGS = ["gt", "nb201", "--source", "csv", "--dataset", "cifar10", "--split", "test", "--metric", "accuracy"]
GT_ARGS += ["--seed-reduction", "mean"]


@pytest.mark.parametrize(
    "edit,pattern",
    [
        (lambda v: v.where(v.index != 3, -50.0), r"percentages in \[0, 100\], found -50"),
        (lambda v: v.where(v.index != 7, 1e9), r"percentages in \[0, 100\], found .*1e\+09"),
        (lambda v: v / 100.0, r"every accuracy is <= 1 .* fractions, not percent"),
        (lambda v: v.where(v.index != 5, np.nan), r"line 7: CIFAR10TestAccuracy200Epochs is '', not a finite number"),
    ],
    ids=["silent-negative", "silent-huge", "silent-fractions", "silent-nan"],
)
@needs_data()
def test_ground_truth_out_of_range_is_refused(edit, pattern, tmp_path, monkeypatch, capsys):
    frame = pd.read_csv(Path(os.environ["WSBENCH_DATA"]) / NB201_CSV)
    column = "CIFAR10TestAccuracy200Epochs"
    frame[column] = edit(frame[column])
    (tmp_path / "nb201").mkdir()
    frame.to_csv(tmp_path / NB201_CSV, index=False)  # no SHA256SUMS beside it: the range check must catch it
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    refused(GT_ARGS, pattern, capsys, tmp_path)


# ---------------------------------------------------------------------- 3: valid inputs


@pytest.mark.parametrize("space_name", ["nb201", "nb101"], ids=["valid-nb201", "valid-nb101"])
def test_arch_command_describes_every_space_s_architectures(space_name, capsys):
    from harness.catalog import SPACES

    space = SPACES.get(space_name)
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        code, out, err = cli(["arch", space_name, space.format(arch)], capsys)
        assert code == 0 and "Traceback" not in err, err
        assert space.arch_id(arch) in out


# ---------------------------------------------------------------- 4: damaged results folders


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A matrix of two tiny cells (seeds 0, 1), run once: (matrix file, results root)."""
    if not REAL_DATA:
        pytest.skip("WSBENCH_DATA is not set (CI points it at ../shared/data)")
    folder = tmp_path_factory.mktemp("finished")
    path = folder / "tiny.toml"
    path.write_text(matrix_text(TINY, seeds=(0, 1)))
    root = folder / "results"
    run = run_matrix(load_matrix(path), root=root, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "finished"], run.summary()
    return path, root


def _cells(matrix_file, root):
    return [spec.run_dir(root) for spec in load_matrix(matrix_file).cells()]


def _copy(finished, tmp_path):
    matrix_file, root = finished
    dest = tmp_path / "results"
    shutil.copytree(root, dest)
    return matrix_file, dest, _cells(matrix_file, dest)


def _truncate(fraction):
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    damage.__name__ = f"truncated at {fraction:.0%}"
    return damage


def _garbage(path: Path) -> None:
    size = max(16, path.stat().st_size if path.exists() else 0)
    path.write_bytes(np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes())


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x20
    path.write_bytes(bytes(data))


def _remove(path: Path) -> None:
    path.unlink()


FILES = ["result.json", "config.json", "metrics.csv", "train_log.csv", "scores/epoch_003.csv", "supernet.pt"]
DAMAGES = [_truncate(0.0), _truncate(0.33), _truncate(0.67), _garbage, _flip_byte, _remove]
DAMAGE_CASES = [(f, d) for f in FILES for d in DAMAGES if not (f == "result.json" and d is _remove)]


@pytest.mark.parametrize("name,damage", DAMAGE_CASES, ids=[f"damaged-{f}-{getattr(d, '__name__', 'x')}" for f, d in DAMAGE_CASES])
def test_damaged_finished_cell_is_detected_by_status_and_left_out_by_the_store(name, damage, finished, tmp_path, capsys):
    matrix_file, root, (cell, other) = _copy(finished, tmp_path)
    damage(cell / name)
    state, reason = cell_state(cell)
    assert state == DAMAGED and reason, (state, reason)
    assert cell_state(other)[0] == FINISHED
    rows = {r.run_dir: r for r in matrix_status(load_matrix(matrix_file), root)}
    assert rows[cell].state == "damaged" and rows[other].state == "finished"
    sc = scan(root)
    assert [c.run_dir for c in sc.cells] == [other]
    assert [(p, why.startswith("damaged: ")) for p, why in sc.skipped] == [(cell, True)], sc.skipped


@pytest.mark.parametrize(
    "name,damage",
    [("metrics.csv", _truncate(0.0)), ("result.json", _garbage), ("scores/epoch_002.csv", _truncate(0.5))],
    ids=["damaged-report-empty-metrics", "damaged-report-garbage-result", "damaged-report-truncated-scores"],
)
def test_report_leaves_a_damaged_cell_out_with_the_reason_and_goes_on(name, damage, finished, tmp_path, capsys):
    _, root, (cell, _) = _copy(finished, tmp_path)
    damage(cell / name)
    code, out, err = cli(["report", "--root", str(root)], capsys)
    assert code == 0 and "Traceback" not in err, err
    assert cell.name in out and "damaged" in out


def test_damaged_failed_json_is_reported_not_crashed_on(finished, tmp_path, capsys):
    matrix_file, root, (cell, _) = _copy(finished, tmp_path)
    shutil.rmtree(cell)
    cell.mkdir()
    _garbage(cell / "failed.json")
    rows = {r.run_dir: r for r in matrix_status(load_matrix(matrix_file), root)}
    assert rows[cell].state == "failed" and "unreadable" in rows[cell].detail
    code, out, err = cli(["report", "--root", str(root)], capsys)
    assert code == 0 and "failed.json unreadable" in out, err


def _same_results(a: Path, b: Path) -> None:
    for name in ("scores/epoch_002.csv", "scores/epoch_003.csv", "metrics.csv", "train_log.csv"):
        x = pd.read_csv(a / name).drop(columns=["seconds", "score_seconds"], errors="ignore")
        y = pd.read_csv(b / name).drop(columns=["seconds", "score_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=name)


@pytest.mark.parametrize(
    "name,damage",
    [("supernet.pt", _garbage), ("result.json", _truncate(0.33))],
    ids=["damaged-rerun-weights", "damaged-rerun-result"],
)
def test_matrix_run_reruns_a_damaged_cell_to_identical_results_and_keeps_the_old_files(name, damage, finished, tmp_path):
    matrix_file, root, (cell, other) = _copy(finished, tmp_path)
    damage(cell / name)
    damaged_bytes = (cell / name).read_bytes()
    run = run_matrix(load_matrix(matrix_file), root=root, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "skipped"], run.summary()
    assert cell_state(cell)[0] == FINISHED
    _same_results(finished[1] / cell.relative_to(root), cell)
    kept = cell / ".damaged-1"
    assert (kept / name).read_bytes() == damaged_bytes and "reason.txt" in os.listdir(kept)


@pytest.mark.parametrize("damage", [_truncate(0.5), _garbage], ids=lambda d: f"damaged-checkpoint-{d.__name__}")
def test_unreadable_checkpoint_is_set_aside_and_the_cell_starts_over(damage, finished, tmp_path):
    matrix_file, root, (cell, _) = _copy(finished, tmp_path)
    reference = finished[1] / cell.relative_to(root)
    for entry in list(cell.iterdir()):  # back to an interrupted cell whose checkpoint is damaged
        shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copy(reference / "supernet.pt", cell / "checkpoint.pt")  # a real torch file, then damaged
    damage(cell / "checkpoint.pt")
    run = run_matrix(load_matrix(matrix_file), root=root, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "skipped"], run.summary()
    _same_results(reference, cell)
    assert (cell / ".damaged-1" / "checkpoint.pt").exists()


def test_damaged_cells_from_before_the_manifest_are_checked_by_structure(finished, tmp_path):
    _, root, (cell, _) = _copy(finished, tmp_path)
    result = json.loads((cell / "result.json").read_text())
    del result["files"]
    (cell / "result.json").write_text(json.dumps(result))
    assert cell_state(cell)[0] == FINISHED
    (cell / "metrics.csv").write_text("epoch,ground_truth,score,metric,value\n")
    assert cell_state(cell) == (DAMAGED, "metrics.csv has no metric rows")


def test_silent_two_settings_under_one_protocol_name_are_not_pooled_as_seeds(finished, tmp_path):
    _, root, (cell, _) = _copy(finished, tmp_path)
    other_path = tmp_path / "other.toml"
    other_path.write_text(matrix_text({**TINY, "lr": 0.01}, seeds=(2,)))
    run = run_matrix(load_matrix(other_path), root=root, progress=False, log=None, threads=1)
    assert run.ok, run.summary()
    sc = scan(root)
    names = sorted({c.protocol for c in sc.cells})
    assert len(names) == 2 and all(n.startswith("bad-inputs@") for n in names), names
    assert any("covers 2 different settings" in n for n in sc.notes)


# --------------------------------------------------------------------------- 5: environment


def _cifar_train_argv():
    return ["train", "--protocol", "quick", "--epochs", "1"]


ENV_CASES = [
    ("env", "data-is-a-file", r"WSBENCH_DATA=.* is a file, not a folder"),
    ("env", "data-missing", r"WSBENCH_DATA=.* does not exist"),
    ("env", "results-is-a-file", r"WSBENCH_RESULTS=.* is a file, not a folder"),
    ("env", "cache-is-a-file", r"cache folder \(WSBENCH_CACHE\) .* is a file, not a folder"),
    ("env", "binary-sha256sums", r"checksum file .*SHA256SUMS is not text"),
    ("env", "tiny-pack", r"CIFAR-10 train part .* has 20 images, not 50000"),
    ("env", "matrix-data-missing", r"data: folder .* does not exist"),
]


def _tiny_pack(data: Path) -> None:
    from PIL import Image

    from harness.data.cifar10 import CLASSES, PACK_FILE
    from harness.fileio import sha256_file

    pack = data / PACK_FILE
    pack.parent.mkdir(parents=True)
    with tarfile.open(pack, "w:xz") as tar:
        for part in ("train", "test"):
            for c in CLASSES:
                for i in range(2):
                    buf = io.BytesIO()
                    Image.new("RGB", (32, 32), (i * 90, 10, 200)).save(buf, "JPEG")
                    info = tarfile.TarInfo(f"{part}/{c}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
    (data / "SHA256SUMS").write_text(f"{sha256_file(pack)}  {PACK_FILE}\n")  # a checksum that matches


@pytest.mark.parametrize("case,pattern", [c[1:] for c in ENV_CASES], ids=[f"{c[0]}-{c[1]}" for c in ENV_CASES])
def test_bad_environment_is_one_line(case, pattern, tmp_path, results, monkeypatch, capsys):
    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    argv = _cifar_train_argv()
    if case == "data-is-a-file":
        (tmp_path / "data.txt").write_text("x")
        monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "data.txt"))
    elif case == "data-missing":
        monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "nowhere"))
    elif case == "results-is-a-file":
        results.write_text("x")
        argv = ["matrix", "run", "ci"]
    elif case == "cache-is-a-file":
        (tmp_path / "cache").write_text("x")
        monkeypatch.setenv("WSBENCH_DATA", str(tmp_path))
    elif case == "binary-sha256sums":
        (tmp_path / "data" / "cifar10").mkdir(parents=True)
        (tmp_path / "data" / "cifar10" / "cifar10-jpeg-q75.tar.xz").write_bytes(b"\xfd7zXZ\x00" * 10)
        (tmp_path / "data" / "SHA256SUMS").write_bytes(bytes(range(256)))
        monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "data"))
    elif case == "tiny-pack":
        _tiny_pack(tmp_path / "data")
        monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "data"))
    elif case == "matrix-data-missing":
        path = tmp_path / "m.toml"
        path.write_text('data = "nowhere"\n' + matrix_text(TINY))
        argv = ["matrix", "run", str(path)]
    data = Path(os.environ["WSBENCH_DATA"]) if os.environ.get("WSBENCH_DATA") else tmp_path / "data"
    before = tree(data) if data.is_dir() and tmp_path in data.parents else None
    refused(argv, pattern, capsys, results)  # a decoded-data cache may be written; results never
    assert before is None or tree(data) == before


@pytest.mark.parametrize("setting", ["WSBENCH_DATA", "WSBENCH_RESULTS"], ids=["env-unreadable-data", "env-readonly-results"])
def test_permission_problems_are_one_line(setting, tmp_path, results, monkeypatch, capsys):
    """Real permission bits as a normal user; as root (which ignores them) the kernel's answer is simulated."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if setting == "WSBENCH_DATA":
        (locked / "cifar10").mkdir()
    mode = 0o500 if setting == "WSBENCH_RESULTS" else 0o000
    if os.geteuid() == 0:
        import harness.settings

        real_access = os.access
        monkeypatch.setattr(
            harness.settings.os, "access", lambda p, m: False if Path(p) == locked else real_access(p, m), raising=True
        )
    else:
        locked.chmod(mode)
    monkeypatch.setenv("WSBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv(setting, str(locked))
    argv = ["matrix", "run", "ci"] if setting == "WSBENCH_RESULTS" else _cifar_train_argv()
    expected = "is not writable by this user" if setting == "WSBENCH_RESULTS" else "is not readable by this user"
    try:
        refused(argv, expected, capsys, results)
    finally:
        locked.chmod(0o700)
    assert sorted(p.name for p in locked.iterdir()) == (["cifar10"] if setting == "WSBENCH_DATA" else [])


# ------------------------------------------------------------------------------ 6: processes
# A parent killed at any moment leaves no worker: tests/test_bad_inputs_run.py (5 moments x SIGKILL and
# SIGTERM, start-up included); a cell killed mid-epoch reruns to identical numbers:
# tests/test_executor.py::test_sigkill_mid_epoch_then_rerun_gives_identical_results.


# ------------------------------------------------------------------------------- 7: feedback


def test_feedback_train_help_explains_every_option(capsys):
    code, out, _ = cli(["train", "--help"], capsys)
    assert code == 0
    for option in ("--space", "--strategy", "--protocol", "--seed", "--device", "--epochs", "--archset", "--option"):
        line = next(x for x in out.splitlines() if x.strip().startswith(option))
        assert len(line.split(None, 2)) == 3 or option in out.split(line, 1)[1][:200], option


def test_feedback_reproduce_help_lists_every_shipped_matrix(capsys):
    code, out, _ = cli(["reproduce", "--help"], capsys)
    flat = " ".join(out.split()).replace("- ", "-")
    assert code == 0 and all(name in flat for name in shipped_matrices()), flat


@pytest.mark.parametrize("args", [[], ["bogus"], ["wait"]], ids=["feedback-gpu-none", "feedback-gpu-bogus", "feedback-gpu-wait"])
def test_feedback_gpu_session_script_prints_usage_before_doing_anything(args, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "gpu_session.sh"), *args],
        cwd=tmp_path,
        env={**os.environ, "WSBENCH_RUN": str(run), "OUT": str(tmp_path / "out")},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and proc.stdout.startswith("usage:"), proc.stdout + proc.stderr
    assert sorted(os.listdir(tmp_path)) == []


def test_a_space_may_repeat_under_other_protocols_but_not_under_the_same_one(tmp_path):
    entry = '[[spaces]]\nname = "cbm-mobilenet"\nprotocol = "cbm-cpu"\n'
    variant = entry + 'overrides = { name = "cbm-cpu-bcnet", network = { width_pct = 25, rule = "bcnet" } }\n'
    head = 'name = "rules"\nseeds = [0]\ndevice = "cpu"\n'
    tail = '[[strategies]]\nname = "spos"\n'
    ok = tmp_path / "ok.toml"
    ok.write_text(head + entry + variant + tail)
    m = load_matrix(ok)
    assert [s.protocol.name for s in m.spaces] == ["cbm-cpu", "cbm-cpu-bcnet"]
    assert len({spec.run_dir(tmp_path) for spec in m.cells()}) == 2
    twice = tmp_path / "twice.toml"
    twice.write_text(head + entry + entry + tail)
    with pytest.raises(
        WsbenchError, match=r"listed twice with the same protocol \(cbm-mobilenet/cbm-cpu, cbm-mobilenet/cbm-cpu\)"
    ):
        load_matrix(twice)
