"""Shared test settings and fixtures."""

import os

import pytest
import torch

REAL_DATA = bool(os.environ.get("WSBENCH_DATA"))


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    # Tiny networks on 2 shared cores: one thread is faster and, above all, steadier.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


class FixedPaths:
    """A strategy stand-in that trains ``paths[step]`` at each step (one path per step, the task's loss)."""

    wants_feedback = False
    needs_arch_data = False

    def __init__(self, paths):
        self._paths = paths

    @classmethod
    def always(cls, arch):
        """The same path at every step."""
        return cls(_Always(arch))

    def before_step(self, *args):
        pass

    def paths(self, step):
        return [self._paths[step]]

    def path_loss(self, arch, output, y, task):
        return task.loss(output, y)

    def held_aside(self):
        return ()


class _Always:
    def __init__(self, arch):
        self.arch = arch

    def __getitem__(self, step):
        return self.arch


def tree(root):
    """Every file under ``root`` with its bytes (to prove nothing was written or lost)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def cli(argv, capsys):
    """Run ``wsbench argv`` in this process: (exit code, stdout, stderr)."""
    from harness.cli import main

    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def needs_data():
    """Skip marker for tests that read the real data folder."""
    return pytest.mark.skipif(not REAL_DATA, reason="WSBENCH_DATA is not set (CI points it at ../shared/data)")


#: Modules whose tests train real cells or run whole matrices (seconds to a minute each on a CPU).
SLOW_MODULES = {
    "test_executor",
    "test_cluster",
    "test_slurm_cluster",
    "test_regression",
    "test_train",
    "test_report",
    "test_store",
    "test_nb101_cell",
}
#: Tests elsewhere that run a whole cell end to end.
SLOW_TESTS = {
    "test_interrupted_cell_resumes_to_identical_numbers_and_records_the_pick",
    "test_ptb_cell_resumes_to_identical_numbers_and_scores_perplexity",
    "test_fewshot_cell_resumes_across_the_split_to_identical_numbers",
    "test_registered_strategy_runs_a_cell",
    "test_report_leaves_a_damaged_cell_out_with_the_reason_and_goes_on",
    "test_matrix_run_reruns_a_damaged_cell_to_identical_results_and_keeps_the_old_files",
    "test_unreadable_checkpoint_is_set_aside_and_the_cell_starts_over",
    "test_silent_two_settings_under_one_protocol_name_are_not_pooled_as_seeds",
    "test_cell_trains_and_scores_on_a_generated_imagenet_folder",
    "test_downsampled_cell_resumes_to_identical_numbers",
    "test_cifar_cell_without_ground_truth_reports_stability_only",
    "test_reproduce_prints_the_first_screen_then_the_reports_path",
}


#: The modules that take longest (a minute or more of the suite's 2-core run), longest first. xdist
#: hands out whole files in collection order; started first, they no longer leave one worker
#: running the last long file while the other idles (the suite's wall time is CI's budget).
LONGEST_FIRST = ("test_regression", "test_cluster", "test_bad_inputs", "test_executor", "test_strategies", "test_train")


def pytest_collection_modifyitems(config, items):
    """Mark the integration tests ``slow`` so ``make test-fast`` (``-m "not slow"``) leaves them out;
    put the longest modules first (a stable sort: each module's tests stay together, in order)."""
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__.rsplit(".", 1)[-1], len(rank)))


#: A two-cell matrix of tiny NB201 SPOS cells (a few seconds each): the local-pool and submitit
#: tests (test_executor, test_cluster) run it in different ways and compare with ``reference``, one
#: plain run of it per session. (Slurm's requeue is checked on the ci matrix, in test_regression.)
MATRIX = """
name = "exec-test"
seeds = [0, 1]
device = "cpu"
[[spaces]]
name = "nb201"
protocol = "quick"
overrides = { name = "exec-tiny", network = { C = 4, N = 1 }, task_options = { subset = 600 }, epochs = 3, batch_size = 100, snapshot_epochs = [2, 3], calib_batches = 1, calib_batch_size = 100, eval_images = 200, eval_batch_size = 200, archset = "sample", archset_n = 8 }
ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]
[[strategies]]
name = "spos"
"""

#: Files every run of ``MATRIX`` writes, compared exactly across runs (timings left out).
SAME_FILES = ("scores/epoch_002.csv", "scores/epoch_003.csv", "metrics.csv", "train_log.csv")


def assert_same_cell(a, b, names=SAME_FILES):
    """Two run dirs of one cell hold identical results (the ``seconds`` columns aside)."""
    import pandas as pd

    assert (b / "result.json").exists() and not (b / "checkpoint.pt").exists()
    for name in names:
        x = pd.read_csv(a / name).drop(columns=["seconds", "score_seconds"], errors="ignore")
        y = pd.read_csv(b / name).drop(columns=["seconds", "score_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(x, y, check_exact=True, obj=f"{b.name}/{name}")


def assert_same_results(matrix_file, root, reference):
    """Every cell of the matrix under ``root`` equals its plain run in ``reference`` (a ``SharedRun``)."""
    from harness.run.matrix import load_matrix

    for cell in load_matrix(matrix_file).cells():
        assert_same_cell(cell.run_dir(reference.path), cell.run_dir(root))


def attempts(run_dir):
    """A cell's ``attempts.jsonl``: one record per time a process started (or resumed) it."""
    import json

    return [json.loads(line) for line in (run_dir / "attempts.jsonl").read_text().splitlines()]


def _session_folder(tmp_path_factory):
    # Under xdist every worker has its own base temp inside the session's: the parent is shared by all.
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _made_once(folder, make):
    """``make(folder / "root")`` once per session, whichever worker asks first; the others wait for it."""
    import fcntl
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # the kernel frees it if this worker dies: the next one redoes it
        if not (folder / "done").exists():
            shutil.rmtree(folder / "root", ignore_errors=True)
            make(folder / "root")
            (folder / "done").touch()
    return folder / "root"


class SharedRun:
    """A results folder that one xdist worker makes for the whole session, in a background thread.

    Keyed by content (the matrix text): every test module of every worker that asks gets the same
    folder; the first asker runs it while its own tests go on, the others wait only when they read it.
    """

    def __init__(self, folder, make):
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(1, thread_name_prefix="shared-run")
        self._future = self._pool.submit(_made_once, folder, make)

    @property
    def path(self):
        """The finished folder (blocks until it is there)."""
        return self._future.result()

    def close(self):
        self._pool.shutdown(wait=True)


@pytest.fixture(scope="session")
def matrix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "exec.toml"
    path.write_text(MATRIX)
    return path


def _plain_run(matrix_file, root):
    from harness.run.backends.local import run_matrix
    from harness.run.matrix import load_matrix

    run = run_matrix(load_matrix(matrix_file), root=root, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "finished"], run.summary()


@pytest.fixture(scope="session")
def reference(matrix_file, tmp_path_factory):
    """One plain run of ``MATRIX`` per session (shared by the xdist workers); ``reference.path`` is its folder."""
    import hashlib

    key = hashlib.sha256(MATRIX.encode()).hexdigest()[:16]
    shared = SharedRun(_session_folder(tmp_path_factory) / f"reference-{key}", lambda root: _plain_run(matrix_file, root))
    yield shared
    shared.close()
