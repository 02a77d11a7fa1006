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


def needs_data():
    """Skip marker for tests that read the real data folder."""
    return pytest.mark.skipif(not REAL_DATA, reason="WSBENCH_DATA is not set (CI points it at ../shared/data)")


#: Modules whose tests train real cells or run whole matrices (seconds to a minute each on a CPU).
SLOW_MODULES = {
    "test_executor",
    "test_cluster",
    "test_slurm",
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
}


def pytest_collection_modifyitems(config, items):
    """Mark the integration tests ``slow`` so ``make test-fast`` (``-m "not slow"``) leaves them out."""
    for item in items:
        if item.module.__name__.rsplit(".", 1)[-1] in SLOW_MODULES or item.originalname in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


#: A two-cell matrix of tiny NB201 SPOS cells (a few seconds each): the executor, cluster and Slurm
#: tests run it in different ways and compare with ``reference``, one plain run of it.
MATRIX = """
name = "exec-test"
seeds = [0, 1]
device = "cpu"
[[spaces]]
name = "nb201"
protocol = "quick"
overrides = { name = "exec-tiny", network = { C = 4, N = 1 }, subset = 600, epochs = 3, batch_size = 100, snapshot_epochs = [2, 3], calib_batches = 1, calib_batch_size = 100, eval_images = 200, eval_batch_size = 200, archset = "sample", archset_n = 8 }
ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]
[[strategies]]
name = "spos"
"""


@pytest.fixture(scope="module")
def matrix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("matrix") / "exec.toml"
    path.write_text(MATRIX)
    return path


@pytest.fixture(scope="module")
def reference(matrix_file, tmp_path_factory):
    from harness.run.executor import run_matrix
    from harness.run.matrix import load_matrix

    root = tmp_path_factory.mktemp("ref")
    run = run_matrix(load_matrix(matrix_file), root=root, progress=False, log=None, threads=1)
    assert [o.status for o in run.outcomes] == ["finished", "finished"], run.summary()
    return root
