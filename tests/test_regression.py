"""CI regression check: the `ci` matrix against its committed baseline, and the check itself."""

import pandas as pd
import pytest
from conftest import needs_data

from harness.run import regression as R


@pytest.fixture(scope="module")
def ci_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ci")
    return root, R.run_ci_matrix("ci", root)


@needs_data()
def test_ci_matrix_stays_within_its_baseline_bands(ci_run):
    _, measured = ci_run
    problems = R.compare(R.load_baseline("ci"), measured)
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
