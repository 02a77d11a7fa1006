"""Bad inputs to running a matrix, table-driven, by category (issue 28; ``tests/test_bad_inputs.py`` is the first round).

Each refusal gives exit code 2 and exactly one line on stderr (``wsbench: error: ...``), no
traceback, and leaves the folder it was given as it was. The case ids start with their category
(``pytest --collect-only -q tests/test_bad_inputs_run.py`` counts them):

1. ``process``: the parent of a worker pool killed (SIGKILL, SIGTERM) at moments from worker
   start-up to training: no process is left a second later (the seconds are printed).
2. ``slurm``: no Slurm, a controller that does not answer or hangs, a refused or unreadable
   submission: one line naming the fix, and no job files left behind.
3. ``option``: matrix and executor options that would have no effect, or values out of bounds
   (NaN memory, a matrix name that moves folders, seeds of 1e20, 1000 workers, an archset pool
   that only a running cell would have found unknown).
4. ``usage``: usage errors and a run whose every cell meets the same user error (missing data)
   read like every other user error.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli, needs_data, tree

REPO = Path(__file__).resolve().parent.parent

#: A matrix of two cells that train for longer than any kill moment below (the kills end them).
LONG_MATRIX = """
name = "orphans"
seeds = [0, 1]
device = "cpu"
workers = 2
[[spaces]]
name = "nb201"
protocol = "quick"
overrides = { name = "orphans", network = { C = 4, N = 1 }, task_options = { subset = 600 }, epochs = 30, batch_size = 100, snapshot_epochs = [30], calib_batches = 1, calib_batch_size = 100, eval_images = 200, eval_batch_size = 200, archset = "sample", archset_n = 8 }
ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]
[[strategies]]
name = "spos"
"""

#: A small local matrix the command-line cases run against (refused before it loads any data).
LOCAL = (
    'name = "opts"\nseeds = [0]\ndevice = "cpu"\n[[spaces]]\nname = "nb201"\nprotocol = "quick"\n[[strategies]]\nname = "spos"\n'
)


# ------------------------------------------------------------------------------------ helpers


def assert_one_line_error(code: int, err: str, pattern: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert "Traceback" not in err and len(lines) == 1, err
    assert lines[0].startswith("wsbench: error: "), lines[0]
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def refused(argv: list[str], pattern: str, capsys, watch: Path) -> str:
    """``wsbench argv`` exits 2 with one line matching ``pattern`` and changes nothing under ``watch``."""
    before = tree(watch)
    code, _, err = cli(argv, capsys)
    line = assert_one_line_error(code, err, pattern)
    assert tree(watch) == before, "files were written or removed"
    return line


@pytest.fixture
def results(tmp_path, monkeypatch):
    """A fresh results folder as WSBENCH_RESULTS, and the working directory beside it."""
    root = tmp_path / "results"
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))
    monkeypatch.setenv("CI", "1")  # no progress bar
    monkeypatch.chdir(tmp_path)
    return root


# ------------------------------------------------------------------------------ 1: processes

#: Seconds after the first worker process appeared at which its parent is killed: during the
#: workers' start-up (their imports take seconds) and, at 4 s, while they train.
MOMENTS = (0.2, 0.5, 1.0, 2.0, 4.0)
SIGNALS = (signal.SIGKILL, signal.SIGTERM)
#: The limit of the issue: nothing of a killed parent's pool runs a second after it died.
GONE_WITHIN_S = 1.0

#: One process that has loaded the matrix forks a pool parent per request (each in its own
#: session, so the test finds every process it starts): the parent's own imports take seconds,
#: paid once here. The forked parent runs ``run_matrix`` exactly as ``wsbench matrix run`` does.
DRIVER = """
import os, sys
from pathlib import Path
from harness.run.backends.local import run_matrix
from harness.run.matrix import load_matrix

matrix = load_matrix(sys.argv[1])
print("ready", flush=True)
children = []
for line in sys.stdin:
    if line.strip() == "quit":  # not EOF: a process forked from the test (a loader worker) may hold the pipe open
        break
    pid = os.fork()
    if pid == 0:
        os.setsid()
        try:
            run_matrix(matrix, root=Path(line.strip()), workers=2, progress=False, log=None, threads=1)
        finally:
            os._exit(0)
    children.append(pid)
    print(pid, flush=True)
for pid in children:
    os.waitpid(pid, 0)
"""


def _session(sid: int) -> dict[int, bytes]:
    """Live (non-zombie) processes of session ``sid``: pid -> command line."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
    return out


def _workers(sid: int) -> list[int]:
    return [pid for pid, cmd in _session(sid).items() if b"multiprocessing" in cmd and b"resource_tracker" not in cmd]


class Driver:
    """The forking process of ``DRIVER``; ``start(root)`` forks one pool parent and returns its pid."""

    def __init__(self, matrix_file: Path, log: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(matrix_file)],
            cwd=REPO,
            env={**os.environ, "CI": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", log.read_text()

    def start(self, root: Path) -> int:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{root}\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def close(self) -> None:
        """End the driver (every pool parent it forked is gone by now: each test waits for that)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    folder = tmp_path_factory.mktemp("orphans")
    (folder / "m.toml").write_text(LONG_MATRIX)
    d = Driver(folder / "m.toml", folder / "driver.log")
    yield d
    d.close()


def _kill_and_time(parents: dict[signal.Signals, int], moment: float) -> dict[signal.Signals, tuple[int, float]]:
    """Kill each parent ``moment`` s after its first worker appeared: signal -> (workers alive then, s until none)."""
    started: dict[signal.Signals, float] = {}
    killed: dict[signal.Signals, tuple[float, int]] = {}
    gone: dict[signal.Signals, tuple[int, float]] = {}
    deadline = time.monotonic() + 120
    while len(gone) < len(parents):
        assert time.monotonic() < deadline, f"no end in sight: {started}, {killed}, {gone}"
        now = time.monotonic()
        for sig, pid in parents.items():
            if sig not in started:
                if _workers(pid):
                    started[sig] = now
            elif sig not in killed:
                if now >= started[sig] + moment:
                    alive = len(_workers(pid))
                    os.kill(pid, sig)
                    killed[sig] = (time.monotonic(), alive)
            elif sig not in gone and not _session(pid):
                gone[sig] = (killed[sig][1], time.monotonic() - killed[sig][0])
        time.sleep(0.005)
    return gone


@needs_data()
@pytest.mark.parametrize("moment", MOMENTS, ids=[f"process-kill-at-{m:g}s" for m in MOMENTS])
def test_process_parent_killed_at_any_moment_leaves_no_process_within_a_second(moment, driver, tmp_path):
    parents = {sig: driver.start(tmp_path / sig.name) for sig in SIGNALS}  # side by side: one per signal
    try:
        gone = _kill_and_time(parents, moment)
    finally:
        for pid in parents.values():
            for left in _session(pid):
                os.kill(left, signal.SIGKILL)
    for sig, (alive, seconds) in gone.items():
        print(
            f"{sig.name} {moment:g} s after the first worker started ({alive} worker(s) alive): none left after {seconds:.3f} s"
        )
        assert alive >= 1, f"{sig.name}: no worker was alive at the kill; the case tests nothing"
        assert seconds <= GONE_WITHIN_S, f"{sig.name} at {moment} s: processes left for {seconds:.2f} s"


# --------------------------------------------------------------------------------- 2: Slurm


def _script(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


NOISE = 'i=0; while [ $i -lt 45 ]; do echo "sbatch: debug: line $i" >&2; i=$((i+1)); done'
OK = "exit 0"
SQUEUE_DOWN = (
    'echo "squeue: error: Unable to contact slurm controller (connect failure)" >&2\n'
    'echo "slurm_load_jobs error: Unable to contact slurm controller (connect failure)" >&2\nexit 1'
)


def _sbatch_fails(reason: str) -> str:
    return f'{NOISE}\necho "sbatch: error: Batch job submission failed: {reason}" >&2\nexit 1'


# (case, {command: script body}; a command left out is not on PATH, pattern of the one line)
SLURM_CASES = [
    ("no-slurm", {}, r"executor slurm needs the Slurm commands sbatch, srun, squeue, and sbatch, srun, squeue are not on PATH"),
    ("no-srun", {"sbatch": OK, "squeue": OK}, r"and srun is not on PATH: run it on a Slurm login node"),
    (
        "controller-down",
        {"sbatch": OK, "srun": OK, "squeue": SQUEUE_DOWN},
        r"the Slurm controller does not answer \(squeue exited with 1: slurm_load_jobs error: Unable to contact "
        r"slurm controller \(connect failure\)\); check it with scontrol ping",
    ),
    (
        "controller-hangs",
        {"sbatch": OK, "srun": OK, "squeue": f"exec {shutil.which('sleep')} 30"},  # PATH holds the fakes only
        r"the Slurm controller does not answer \(squeue did not answer within 0\.5 s\)",
    ),
    (
        "refused-partition",
        {"sbatch": _sbatch_fails("Invalid partition name specified"), "srun": OK, "squeue": OK},
        r"sbatch refused the job\(s\): Batch job submission failed: Invalid partition name specified; nothing was "
        r"submitted: fix the job's options",
    ),
    (
        "refused-account",
        {"sbatch": _sbatch_fails("Invalid account or account/partition combination specified"), "srun": OK, "squeue": OK},
        r"refused the job\(s\): Batch job submission failed: Invalid account or account/partition combination",
    ),
    (
        "controller-lost-at-submission",
        {"sbatch": _sbatch_fails("Unable to contact slurm controller (connect failure)"), "srun": OK, "squeue": OK},
        r"Unable to contact slurm controller \(connect failure\); nothing was submitted: the Slurm controller stopped",
    ),
    (
        "unreadable-answer",
        {"sbatch": 'echo "Submitted nothing today"', "srun": OK, "squeue": OK},
        r"sbatch refused the job\(s\): Could not make sense of sbatch output \"Submitted nothing today\"",
    ),
]


@pytest.mark.parametrize("commands,pattern", [c[1:] for c in SLURM_CASES], ids=[f"slurm-{c[0]}" for c in SLURM_CASES])
def test_slurm_failure_is_one_line_and_leaves_no_job_files(commands, pattern, tmp_path, results, monkeypatch, capsys):
    from harness.run.backends import scheduler

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in commands.items():
        _script(bin_dir, name, body)
    monkeypatch.setenv("PATH", str(bin_dir))  # no real Slurm client in sight, whatever this machine has
    monkeypatch.setattr(scheduler, "PING_TIMEOUT_S", 0.5)
    path = tmp_path / "m.toml"
    path.write_text(LOCAL.replace('name = "opts"', 'name = "sl"') + '[executor]\nkind = "slurm"\npartition = "gpu"\n')
    refused(["matrix", "run", str(path)], pattern, capsys, tmp_path)
    assert not results.exists(), sorted(results.rglob("*"))


# ------------------------------------------------------------------------------- 3: options

# (case, command-line arguments after `matrix run <local matrix>`, pattern)
FLAG_CASES = [
    ("time-with-local", ["--time", "30"], r"--time applies to executor slurm or submitit-local only, and this executor is local"),
    ("partition-with-local", ["--partition", "gpu"], r"--partition applies to executor slurm only, and this executor is local"),
    ("mem-with-local", ["--mem-gb", "4"], r"--mem-gb applies to executor slurm only.*remove it or set --executor slurm"),
    ("sbatch-with-local", ["--sbatch=--exclusive"], r"--sbatch applies to executor slurm only"),
    ("cells-per-job-with-local", ["--cells-per-job", "2"], r"--cells-per-job applies to executor slurm or submitit-local"),
    ("no-wait-with-local", ["--no-wait"], r"--no-wait applies to executor slurm or submitit-local only"),
    ("account-with-submitit-local", ["--executor", "submitit-local", "--account", "x"], r"--account applies to executor slurm only, and this executor is submitit-local"),
    ("mem-with-submitit-local", ["--executor", "submitit-local", "--mem-gb", "8"], r"--mem-gb applies to executor slurm only"),
    ("workers-with-slurm", ["--executor", "slurm", "--workers", "4"], r"--workers sizes this machine's worker pool.*use --cells-per-job"),
    ("mem-nan", ["--executor", "slurm", "--mem-gb", "nan"], r"--mem-gb: must be a number in 0\.001\.\.16384, got 'nan'"),
    ("mem-inf", ["--executor", "slurm", "--mem-gb", "inf"], r"--mem-gb: must be a number in 0\.001\.\.16384, got 'inf'"),
    ("mem-zero", ["--executor", "slurm", "--mem-gb", "0"], r"--mem-gb: must be a number in 0\.001\.\.16384, got '0'"),
    ("mem-huge", ["--executor", "slurm", "--mem-gb", "1e9"], r"--mem-gb: must be a number in 0\.001\.\.16384"),
    ("workers-1000", ["--workers", "1000"], r"--workers: must be an integer <= 128, got 1000"),
    ("threads-huge", ["--threads", "100000"], r"--threads: must be an integer <= 1024, got 100000"),
    ("time-huge", ["--executor", "slurm", "--time", "9999999"], r"--time: must be an integer <= 525600"),
    ("gpus-huge", ["--executor", "slurm", "--gpus-per-job", "1000"], r"--gpus-per-job: must be an integer <= 64"),
    ("cells-per-job-huge", ["--executor", "slurm", "--cells-per-job", "1000"], r"--cells-per-job: must be an integer <= 128"),
    ("requeues-huge", ["--executor", "slurm", "--max-requeues", "100000"], r"--max-requeues: must be an integer <= 1000"),
    ("time-below-warning", ["--executor", "slurm", "--time", "1"], r"signal_delay_s \(90 s\) must be shorter than the time limit \(1 min\)"),
    ("sbatch-sets-time", ["--executor", "slurm", "--sbatch=--time=10"], r"sbatch flag '--time=10' sets what executor\.time_limit_min \(--time\) sets"),
    ("sbatch-sets-mem", ["--executor", "slurm", "--sbatch=--mem=4G"], r"sbatch flag '--mem=4G' sets what executor\.mem_gb"),
    ("gpus-on-cpu-matrix", ["--executor", "slurm", "--gpus-per-job", "1"], r"gpus per job = 1, but the matrix runs on cpu: the GPUs would sit idle"),
    ("partition-with-space", ["--executor", "slurm", "--partition", "gpu a100"], r"executor\.partition must be a non-empty name without spaces"),
]  # fmt: skip


@pytest.mark.parametrize("flags,pattern", [c[1:] for c in FLAG_CASES], ids=[f"option-{c[0]}" for c in FLAG_CASES])
def test_executor_flag_without_effect_or_out_of_bounds_is_refused(flags, pattern, tmp_path, results, capsys):
    path = tmp_path / "m.toml"
    path.write_text(LOCAL)
    refused(["matrix", "run", str(path), *flags], pattern, capsys, tmp_path)


def _huge_seed() -> str:
    return str(10**20)


# (case, (an (old, new) edit of LOCAL or "", an [executor] table or ""), the file's name, pattern)
FILE_CASES = [
    ("executor-time-local", ("", '[executor]\ntime_limit_min = 30\n'), "m.toml", r"executor\.time_limit_min applies to executor slurm or submitit-local only, and this executor is local.*set kind = 'slurm'"),
    ("executor-partition-local", ("", '[executor]\nkind = "local"\npartition = "gpu"\n'), "m.toml", r"executor\.partition applies to executor slurm only, and this executor is local"),
    ("executor-account-submitit", ("", '[executor]\nkind = "submitit-local"\naccount = "x"\n'), "m.toml", r"executor\.account applies to executor slurm only, and this executor is submitit-local"),
    ("executor-signal-local", ("", '[executor]\nsignal_delay_s = 30\n'), "m.toml", r"executor\.signal_delay_s applies to executor slurm only"),
    ("executor-mem-nan", ("", '[executor]\nkind = "slurm"\nmem_gb = nan\n'), "m.toml", r"executor\.mem_gb must be a number of GB in 0\.001\.\.16384, got nan"),
    ("executor-mem-inf", ("", '[executor]\nkind = "slurm"\nmem_gb = inf\n'), "m.toml", r"executor\.mem_gb must be a number of GB in 0\.001\.\.16384, got inf"),
    ("executor-mem-negative", ("", '[executor]\nkind = "slurm"\nmem_gb = -1\n'), "m.toml", r"executor\.mem_gb must be a number of GB in 0\.001\.\.16384, got -1"),
    ("executor-mem-bool", ("", '[executor]\nkind = "slurm"\nmem_gb = true\n'), "m.toml", r"executor\.mem_gb must be a number of GB.*got True"),
    ("executor-cells-huge", ("", '[executor]\nkind = "slurm"\ncells_per_job = 1000\n'), "m.toml", r"executor\.cells_per_job must be an integer in 1\.\.128, got 1000"),
    ("executor-array-huge", ("", '[executor]\nkind = "slurm"\narray_parallelism = 1000000\n'), "m.toml", r"executor\.array_parallelism must be an integer in 1\.\.100000"),
    ("executor-no-gpu-for-cuda", (('device = "cpu"', 'device = "cuda"'), '[executor]\nkind = "slurm"\ngpus_per_job = 0\n'), "m.toml", r"executor\.gpus_per_job = 0, but the matrix runs on cuda: its cells would find no GPU"),
    ("executor-sbatch-partition", ("", '[executor]\nkind = "slurm"\nsbatch = ["--partition=gpu"]\n'), "m.toml", r"sbatch flag '--partition=gpu' sets what executor\.partition"),
    ("name-empty", (('name = "opts"', 'name = ""'), ""), "m.toml", r"name: '' must be 1-64 letters, digits and _ \. \+ = , - without '\.\.' \(it names folders\); rename it"),
    ("name-parent", (('name = "opts"', 'name = "../escape"'), ""), "m.toml", r"name: '\.\./escape' must be 1-64 letters"),
    ("name-dots", (('name = "opts"', 'name = ".."'), ""), "m.toml", r"name: '\.\.' must be 1-64 letters"),
    ("name-slash", (('name = "opts"', 'name = "a/b"'), ""), "m.toml", r"name: 'a/b' must be 1-64 letters"),
    ("name-long", (('name = "opts"', f'name = "{"m" * 65}"'), ""), "m.toml", r"name: 'm+' must be 1-64 letters"),
    ("name-from-file-stem", (('name = "opts"\n', ""), ""), "my matrix.toml", r"name: 'my matrix' must be 1-64 letters.*add name = \"\.\.\.\" \(the file name 'my matrix' is not one\)"),
    ("seed-1e20", (("seeds = [0]", f"seeds = [{_huge_seed()}]"), ""), "m.toml", r"seeds: must be a non-empty list of integers in 0\.\.2147483647, got \[100000000000000000000\]"),
    ("seed-float", (("seeds = [0]", "seeds = [1e20]"), ""), "m.toml", r"seeds: must be a non-empty list of integers in 0\.\.2147483647, got \[1e\+20\]"),
    ("seeds-too-many", (("seeds = [0]", f"seeds = {list(range(1001))}"), ""), "m.toml", r"seeds: lists 1001 seeds; at most 1000"),
    ("workers-1000", (('device = "cpu"', 'device = "cpu"\nworkers = 1000'), ""), "m.toml", r"workers: must be an integer in 1\.\.128, got 1000"),
    ("workers-0", (('device = "cpu"', 'device = "cpu"\nworkers = 0'), ""), "m.toml", r"workers: must be an integer in 1\.\.128, got 0"),
    ("baseline-twice", (('device = "cpu"', 'device = "cpu"\nbaselines = ["random", "random"]'), ""), "m.toml", r"baselines: \['random', 'random'\] lists a baseline twice"),
    ("strategy-space-twice", (('name = "spos"', 'name = "spos"\nspaces = ["nb201", "nb201"]'), ""), "m.toml", r"strategies\[0\]\.spaces: \['nb201', 'nb201'\] lists a space twice"),
    ("archset-pool-unknown", (('name = "nb201"\nprotocol = "quick"', 'name = "darts"\nprotocol = "darts-smoke"\noverrides = { archset_source = "seedpapr" }'), ""), "m.toml", r"spaces\[0\]: archset_source 'seedpapr' is not a ground-truth pool of space 'darts' \(did you mean 'seedpaper'\?\); its pools: seedpaper, seedpaper:both-seeds"),
    ("archset-source-without-effect", (('protocol = "quick"', 'protocol = "quick"\noverrides = { archset_source = "analog" }'), ""), "m.toml", r"spaces\[0\]\.overrides\.archset_source: 'analog' has no effect with archset 'sample'"),
    ("archset-kind-unsupported", (('protocol = "quick"', 'protocol = "quick"\noverrides = { archset = "ground-truth" }'), ""), "m.toml", r"spaces\[0\]: archset 'ground-truth' needs ground_truth_archs, which space 'nb201' does not provide"),
]  # fmt: skip


@pytest.mark.parametrize(
    "edit,executor,file_name,pattern", [(*c[1], c[2], c[3]) for c in FILE_CASES], ids=[f"option-file-{c[0]}" for c in FILE_CASES]
)
def test_matrix_file_option_without_effect_or_out_of_bounds_is_refused_when_it_loads(edit, executor, file_name, pattern, tmp_path, results, capsys):  # fmt: skip
    text = LOCAL
    if edit:
        old, new = edit
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / file_name
    path.write_text(text + executor)
    for command in ("status", "run"):
        refused(["matrix", command, str(path)], re.escape(str(path)) + r": .*" + pattern, capsys, tmp_path)


# ---------------------------------------------------------------------- 4: usage and one prefix

# (case, argv, pattern of the whole line)
USAGE_CASES = [
    ("no-command", [], r"^wsbench: error: the following arguments are required: command \(see wsbench --help\)$"),
    ("unknown-command", ["trian"], r"^wsbench: error: argument command: invalid choice: 'trian'.*\(see wsbench --help\)$"),
    ("matrix-without-action", ["matrix"], r"^wsbench: error: the following arguments are required: matrix_command \(see wsbench matrix --help\)$"),
    ("matrix-run-without-matrix", ["matrix", "run"], r"^wsbench: error: the following arguments are required: matrix \(see wsbench matrix run --help\)$"),
    ("unknown-flag", ["matrix", "run", "ci", "--wrokers", "2"], r"^wsbench: error: unrecognized arguments: --wrokers 2 \(see wsbench --help\)$"),
    ("bad-choice", ["matrix", "run", "ci", "--executor", "slurmm"], r"^wsbench: error: argument --executor: invalid choice: 'slurmm'.*\(see wsbench matrix run --help\)$"),
    ("bad-type", ["train", "--seed", "x"], r"^wsbench: error: argument --seed: must be an integer >= 0, got 'x' \(see wsbench train --help\)$"),
    ("gt-without-space", ["gt"], r"^wsbench: error: the following arguments are required: space \(see wsbench gt --help\)$"),
    ("report-bad-value", ["report", "--last-k", "0"], r"^wsbench: error: argument --last-k: must be an integer >= 1, got 0 \(see wsbench report --help\)$"),
]  # fmt: skip


@pytest.mark.parametrize("argv,pattern", [c[1:] for c in USAGE_CASES], ids=[f"usage-{c[0]}" for c in USAGE_CASES])
def test_usage_error_has_the_one_prefix_and_exit_2(argv, pattern, tmp_path, results, capsys):
    refused(argv, pattern, capsys, tmp_path)


def test_usage_error_of_the_launch_module_has_the_one_prefix(tmp_path, results, capsys):
    from harness.run.launch import main as launch_main

    before = tree(tmp_path)
    with pytest.raises(SystemExit) as e:
        launch_main(["run"])
    assert_one_line_error(e.value.code, capsys.readouterr().err, r"^wsbench: error: the following arguments are required: matrix")
    assert tree(tmp_path) == before


def test_usage_every_cell_failing_on_missing_data_is_one_user_error(tmp_path, results, monkeypatch, capsys):
    """No cell can run for one reason the user must fix: that reason, once, exit 2 (not FAILED lines and exit 1).

    The cells that met it keep their ``failed.json`` (``matrix status`` shows why); no result is written.
    """
    (tmp_path / "data").mkdir()
    monkeypatch.setenv("WSBENCH_DATA", str(tmp_path / "data"))  # no Penn Treebank there
    path = tmp_path / "m.toml"
    path.write_text(
        'name = "nodata"\nseeds = [0, 1]\ndevice = "cpu"\nworkers = 2\n'
        '[[spaces]]\nname = "ptb"\nprotocol = "ptb-smoke"\n[[strategies]]\nname = "spos"\n'
    )
    code, out, err = cli(["matrix", "run", str(path), "--threads", "1"], capsys)
    assert_one_line_error(
        code,
        err,
        r"Penn Treebank not found under .*; set WSBENCH_DATA to a folder holding .* \(no cell could run: all 2 cells met it\)$",
    )
    assert "matrix nodata:" not in out  # no summary that reads like a finished run
    assert not list(results.rglob("result.json")) and not list(results.rglob("checkpoint.pt"))
    assert len(list(results.rglob("failed.json"))) == 2


def test_option_values_in_bounds_are_accepted(tmp_path):
    """The bounds refuse typos only: the largest sensible values load."""
    from harness.run.cluster_options import parse_table
    from harness.run.matrix import parse_matrix

    opts = parse_table({"kind": "slurm", "mem_gb": 0.5, "time_limit_min": 60 * 24 * 14, "cells_per_job": 8}, "m.toml")
    assert opts.mem_gb == 0.5 and math.isclose(opts.time_limit_min, 20160)
    raw = {"name": "big-1.0+x", "seeds": [0, 2**31 - 1], "workers": 128, "spaces": [{"name": "nb201", "protocol": "quick"}],
           "strategies": [{"name": "spos"}]}  # fmt: skip
    m = parse_matrix(raw)
    assert m.workers == 128 and m.seeds[-1] == 2**31 - 1


# ---------------------------------------------------------------------- 5: data from worker processes


@pytest.mark.parametrize("workers", [0, 2], ids=["data-corrupt-jpeg-in-process", "data-corrupt-jpeg-in-loader-workers"])
def test_data_a_corrupt_image_decoded_in_a_loader_worker_is_one_line_naming_the_file(workers, tmp_path):
    import torch

    from harness.api.errors import CorruptDataError
    from harness.data.generated import write_image_folder
    from harness.data.imagenet import StreamedBatches, decode_fixed, scan_folder

    root = write_image_folder(tmp_path / "imagenet", classes=2, train_per_class=4, val_per_class=2, size=(40, 30))
    bad = sorted((root / "train").rglob("*.JPEG"))[1]
    bad.write_bytes(b"\xff\xd8 not a jpeg")
    index = scan_folder(root, "train")
    stream = StreamedBatches(
        index, size=16, batch_size=4, generator=torch.Generator().manual_seed(0), device="cpu", workers=workers
    )
    for run in (lambda: list(stream), lambda: decode_fixed(index, 16, workers=workers, batch_size=4)):
        with pytest.raises(CorruptDataError) as e:
            run()
        msg = str(e.value)
        assert "\n" not in msg and msg.startswith(f"{bad}: not a readable image") and "worker process" not in msg, msg
