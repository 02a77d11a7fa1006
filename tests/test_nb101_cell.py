"""NB101 x SPOS through the whole cell runner, scored against the 1k-cell 108-epoch validation accuracy."""

import pandas as pd
from conftest import needs_data

from harness.catalog import PROTOCOLS
from harness.engine.cell import CellSpec
from harness.engine.loop import run_cell

pytestmark = needs_data()

TINY = PROTOCOLS.get("nb101-smoke").replace(
    name="nb101-tiny-test",
)
GT = (
    ("curves1k", "cifar10", "valid", "accuracy@108", "one-run"),
    ("naslib500", "cifar10", "valid", "accuracy@108", "mean-of-rows"),  # covers few of the 20 cells
)


def test_nb101_cell_trains_scores_and_ranks(tmp_path):
    spec = CellSpec("nb101", "spos", TINY, 0, ground_truths=GT)
    result = run_cell(spec, root=tmp_path, log=lambda *_: None)
    out = spec.run_dir(tmp_path)
    scores = pd.read_csv(out / "scores" / "epoch_002.csv")
    assert len(scores) == 20 and scores["arch"].str.fullmatch(r"[0-9a-f]{32}").all()  # module hashes
    metrics = pd.read_csv(out / "metrics.csv")
    final = metrics[(metrics["score"] == "accuracy") & (metrics["epoch"] == 2)]
    tau = final[(final["metric"] == "kendall_tau") & final["ground_truth"].str.contains("curves1k")]
    assert len(tau) == 1 and -1 <= tau["value"].iloc[0] <= 1
    n = final[(final["metric"] == "n_archs") & final["ground_truth"].str.contains("curves1k")]["value"]
    assert (n == 20).all()
    # The partial table is scored on the cells it covers (if at least two), never on made-up values.
    n_partial = final[(final["metric"] == "n_archs") & final["ground_truth"].str.contains("naslib500")]["value"]
    assert (n_partial < 20).all()
    assert result["epochs"] == 2

    # The report compares with the full-coverage table and says why the partial one gets no baseline rows.
    from harness.analysis.report import write_report

    files = write_report(tmp_path, tmp_path / "rep", name="r", baselines=("random",))
    table = pd.read_csv(files.csv)
    curves = table[table["ground_truth"].str.contains("curves1k")]
    assert {"supernet", "params", "baseline"} <= set(curves["kind"])
    assert "cover only part of the architectures" in files.markdown.read_text()
