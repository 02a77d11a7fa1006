"""CI regression check: the `ci` matrix against its committed baseline, and the check itself."""

import contextlib
import os
import warnings

import pandas as pd
import pytest
from conftest import needs_data
from slurm_cluster import LocalSlurm, slurm_available

from harness.api.errors import WsbenchError
from harness.run import regression as R
from harness.run.cluster_options import ExecutorOptions


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    """The ci matrix, run once: as jobs on a real single-node Slurm where one can start here (CI
    installs it), else in the local pool. The checks below compare it with the committed baseline
    and with a plain in-process run of one cell, so under Slurm they also show the cluster path
    moves no number."""
    root = tmp_path_factory.mktemp("ci")
    ok, _why = slurm_available()
    if not ok:
        return root, R.run_ci_matrix("ci", root)
    with LocalSlurm() as cluster:
        cluster.start(tmp_path_factory.mktemp("slurm"))
        with _environ(cluster.env):
            return root, R.run_ci_matrix("ci", root, executor=ExecutorOptions(kind="slurm", cpus_per_job=1, time_limit_min=20))


@contextlib.contextmanager
def _environ(values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@needs_data()
def test_ci_matrix_ran_as_slurm_jobs_where_slurm_runs_and_reports_as_usual(ci_run, tmp_path):
    from harness.analysis.report import write_report
    from harness.run import cluster
    from harness.run.matrix import load_matrix

    ok, why = slurm_available()
    if not ok:
        pytest.skip(f"no real Slurm here ({why}); the ci matrix ran in the local pool")
    root, _ = ci_run
    records = cluster.read_records(root, load_matrix("ci"))
    assert [r.kind for r in records] == ["slurm"] * 3 and all(len(r.cells) == 1 for r in records)
    report = write_report(root, tmp_path, name="slurm", bootstrap=0)
    table = pd.read_csv(report.csv)
    assert table[table["kind"] == "supernet"]["n_seeds"].tolist() == [3, 3]  # spos x both ground truths


@needs_data()
def test_ci_matrix_stays_within_its_baseline_bands(ci_run):
    _, measured = ci_run
    baseline = R.load_baseline("ci")
    if R.exact_values(baseline) is None:
        warnings.warn(
            f"platform {R.platform_key()} not recorded in the ci baseline: bands checked, bit-identity not", stacklevel=1
        )
    problems = R.compare(baseline, measured)
    assert problems == [], "\n".join(problems)


@needs_data()
def test_same_seed_gives_identical_numbers_in_a_second_folder(ci_run, tmp_path):
    from harness.engine.loop import run_cell
    from harness.run.matrix import load_matrix

    root, _ = ci_run
    spec = load_matrix("ci").cells()[0]
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(R.THREADS)
    try:
        run_cell(spec, root=tmp_path, log=lambda *_: None)
    finally:
        torch.set_num_threads(old)
    for f in sorted((spec.run_dir(root) / "scores").glob("*.csv")):
        pd.testing.assert_frame_equal(pd.read_csv(f), pd.read_csv(spec.run_dir(tmp_path) / "scores" / f.name))


def _fake(values, label="spos", gt="g", metric="kendall_tau"):
    return pd.DataFrame({"label": label, "seed": range(len(values)), "ground_truth": gt, "metric": metric, "value": values})


def test_band_is_derived_from_the_seed_spread():
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    (e,) = base["entries"]
    half = R.BAND_K * max(0.1, R.SD_FLOOR) * (2 / 3) ** 0.5
    assert e["band"] == pytest.approx([0.2 - half, 0.2 + half])


def test_compare_flags_drift_and_lost_determinism():
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    assert R.compare(base, _fake([0.1, 0.2, 0.3])) == []
    drift = R.compare(base, _fake([0.5, 0.6, 0.7]))
    assert len(drift) == 2 and "left its band" in drift[0] and "identical" in drift[1]
    tiny = R.compare(base, _fake([0.1, 0.2, 0.3000001]))
    assert len(tiny) == 1 and "identical" in tiny[0]  # inside the band, but not bit-identical
    other_platform = {**base, "platform": {**base["platform"], "cpu": "another"}}
    assert R.compare(other_platform, _fake([0.1, 0.2, 0.3000001])) == []
    assert "missing" in R.compare(base, _fake([0.1], metric="spearman_rho"))[0]


def test_a_second_platform_keeps_the_bands_and_gets_its_own_exact_values(monkeypatch):
    base = R.make_baseline("x", _fake([0.1, 0.2, 0.3]))
    here = base["platform"]
    avx512 = {**here, "isa": "AVX512", "cpu_features": "family 25 model 17; avx512f"}
    monkeypatch.setattr(R, "platform_key", lambda: avx512)
    assert R.exact_values(base) is None  # same CPU model name, other instruction set: not comparable bit for bit
    assert R.compare(base, _fake([0.11, 0.2, 0.3])) == []  # bands only
    both = R.with_platform(base, _fake([0.11, 0.2, 0.3]))
    assert both["entries"] == base["entries"]  # bands (and the first platform's values) unchanged
    assert R.compare(both, _fake([0.11, 0.2, 0.3])) == []
    (problem,) = R.compare(both, _fake([0.1, 0.2, 0.3]))
    assert "identical" in problem and "0.11" in problem
    assert R.compare(both, _fake([0.1, 0.2, 0.3]), key=here) == []  # the first platform still checks its own values
    with pytest.raises(WsbenchError, match="left their bands"):
        R.with_platform(base, _fake([0.6, 0.7, 0.8]))
    again = R.with_platform(both, _fake([0.12, 0.2, 0.3]))
    assert len(again["exact"]) == 1 and again["exact"][0]["values"]["spos | g | kendall_tau"][0] == 0.12


def test_platform_key_names_the_instruction_set_torch_dispatches_to():
    import torch

    key = R.platform_key()
    assert key["isa"] == torch.backends.cpu.get_cpu_capability()
    assert key["cpu_features"].startswith("family ")
