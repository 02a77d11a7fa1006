"""``wsbench report``: Markdown, CSV and the three PNGs from real tiny cells; verdicts; the empty-folder error;
a metric declared once showing in every place it names; an analysis plugin in a real report."""

from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from conftest import needs_data
from test_store import shared_cells

from harness.analysis.report import report_command, verdicts, write_report
from harness.analysis.stability import table_columns
from harness.api.errors import WsbenchError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root, _ = shared_cells(tmp_path_factory)
    out = tmp_path_factory.mktemp("report")
    return out, write_report(root, out, name="r"), root


@needs_data()
def test_report_writes_markdown_csv_pngs_and_interval_tables(report):
    out, files, _ = report
    assert files.markdown == out / "r.md" and files.csv == out / "r.csv"
    names = [p.name for p in files.plots]
    assert names[:3] == ["r-tau-vs-epoch.png", "r-score-vs-truth.png", "r-hit-rates.png"]
    assert "r-picking-vs-pruning.png" in names  # the analyses' plots follow
    assert [p.name for p in files.tables] == ["r-schedule.csv", "r-intervals.csv", "r-agreement.csv"]
    intervals = pd.read_csv(files.tables[1])
    tau = intervals[intervals["metric"] == "kendall_tau"]
    assert len(tau) and (tau["low"] < tau["high"]).all()  # a percentile interval, wider than a point
    assert "## Bootstrap intervals" in files.text and "## Agreement between estimators" in files.text
    for p in files.plots:
        data = p.read_bytes()
        assert p.suffix == ".png" and len(data) > 1000 and data.startswith(PNG_MAGIC), p
        assert f"]({p.name})" in files.text  # the Markdown embeds each plot by its relative name
    text = files.markdown.read_text()
    assert text == files.text
    for label in ("| spos |", "| spos[sampling=deisomorphic] |", "**params (baseline)**", "**ceiling (csv:cifar10/test)**"):
        assert label in text, label
    assert "beat the params baseline" in text or "beats the params baseline" in text


@needs_data()
def test_report_csv_has_separate_mean_and_sd_columns(report):
    _, files, _ = report
    csv = pd.read_csv(files.csv)
    assert list(csv.columns) == table_columns()
    sup = csv[csv["kind"] == "supernet"]
    assert set(sup["label"]) == {"spos", "spos[sampling=deisomorphic]"}
    assert {"params", "ceiling"} <= set(csv["kind"])
    two = sup[sup["label"] == "spos"]
    assert (two["n_seeds"] == 2).all() and two["tau_sd"].notna().all()
    # Every Markdown tau cell shows exactly the CSV's mean ± sd.
    r = two.iloc[0]
    assert f"{r['tau_mean']:.3f} ± {r['tau_sd']:.3f}" in files.text


@needs_data()
def test_report_command_prints_the_first_screen_and_the_reports_path(report, monkeypatch, capsys):
    from harness.cli import main

    out, _, root = report
    monkeypatch.setenv("WSBENCH_RESULTS", str(root))  # no --root: the settings' results folder
    assert main(["report", "--out", str(out / "again"), "--last-k", "1"]) == 0
    text = capsys.readouterr().out
    markdown = (out / "again" / "report.md").read_text()
    assert (out / "again" / "report-hit-rates.png").exists()
    screen, _, last = text.rstrip("\n").rpartition("\n\n")
    assert last.startswith(f"Full report: {out / 'again' / 'report.md'} (") and last.count("\n") == 0
    # The terminal gets the first screen, exactly as the Markdown opens; the rest stays in the file.
    assert markdown.startswith(screen + "\n\n## Setup\n") and "## nb201 at a glance" in screen
    assert "last 1 snapshots" in markdown and "last 1 snapshots" not in text and "## Bootstrap intervals" not in text


@needs_data()
def test_the_report_opens_with_the_first_screen(report):
    """One row per strategy with every ground truth's tau and interval, before the full table; its numbers in a CSV."""
    out, files, _ = report
    text = files.text
    assert text.startswith("# wsbench report\n\n## nb201 at a glance (2 strategies, ")
    assert text.index("at a glance") < text.index("## Setup") < text.index("## nb201 · protocol") < text.index("## Bootstrap")
    assert files.first_screen_csv == out / "r-first-screen.csv" and files.first_screen_csv in files.paths()
    screen = pd.read_csv(files.first_screen_csv)
    summary = pd.read_csv(files.csv)
    assert set(screen["strategy"]) == {"spos", "spos[sampling=deisomorphic]"}
    # Every ground truth the cells were scored against (two-truth layouts: tests/test_first_screen.py).
    gts = set(summary.loc[summary["kind"] == "supernet", "ground_truth"])
    assert screen.groupby("strategy")["ground_truth"].apply(set).tolist() == [gts, gts]
    header = next(line for line in text.splitlines() if line.startswith("| strategy "))
    assert header.count("[95 % CI]") == len(gts) and "tau vs analog:cifar10/test [95 % CI]" in header
    rows = [line for line in files.first_screen.splitlines() if line.startswith("| spos")]
    assert len(rows) == 2 and "Verdict against each ground truth" in files.first_screen
    # The intervals are the interval section's, the baseline and ceiling the summary table's.
    intervals = pd.read_csv(files.tables[1])
    tau = intervals[intervals["metric"] == "kendall_tau"].set_index(["label", "ground_truth"])
    for _, r in screen.iterrows():
        assert (r["tau_low"], r["tau_high"]) == tuple(tau.loc[(r["strategy"], r["ground_truth"]), ["low", "high"]])
    params = summary[summary["kind"] == "params"].set_index("ground_truth")["tau_mean"]
    assert (screen["best_baseline"] == "params").all()  # no other baseline in this report
    assert screen["best_baseline_tau"].tolist() == [params[g] for g in screen["ground_truth"]]


def test_empty_results_folder_is_a_one_line_error(tmp_path):
    with pytest.raises(WsbenchError) as err:
        write_report(tmp_path / "nothing-here")
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "nothing-here") in msg and "run a matrix first" in msg
    assert not (tmp_path / "nothing-here" / "reports").exists()


def _row(kind, label, tau, sd=np.nan):
    return {
        "space": "s",
        "protocol": "p",
        "kind": kind,
        "label": label,
        "ground_truth": "s/x:d/test/accuracy@mean",
        "tau_mean": tau,
        "tau_sd": sd,
    }


def test_verdicts_say_plainly_when_params_wins():
    table = pd.DataFrame(
        [
            _row("supernet", "worse", 0.30, 0.05),
            _row("supernet", "close", 0.62, 0.10),
            _row("supernet", "clear", 0.80, 0.05),
            _row("params", "params (baseline)", 0.58),
        ]
    )
    lines = verdicts(table)
    assert len(lines) == 3
    assert "worse" in lines[0] and "does NOT beat the params baseline (0.580)" in lines[0]
    assert "close" in lines[1] and "within one sd" in lines[1]
    assert "clear" in lines[2] and "by more than one sd" in lines[2]


@needs_data()
def test_training_free_baselines_get_rows_and_are_cached(report, tmp_path_factory):
    from harness.analysis import stability

    _, _, root = report
    out = tmp_path_factory.mktemp("report-baselines")
    files = write_report(root, out, name="b", baselines=("random", "flops"))
    table = pd.read_csv(files.csv)
    base = table[table["kind"] == "baseline"]
    assert set(base["label"]) == {"random (baseline)", "flops (baseline)"}
    rnd = base[base["label"] == "random (baseline)"]
    assert (rnd["n_seeds"] == len(stability.BASELINE_SEEDS["random"])).all() and rnd["tau_sd"].notna().all()
    flops = base[base["label"] == "flops (baseline)"]
    params = table[table["kind"] == "params"]
    # On NB201 FLOPs and parameter count order the cells identically.
    np.testing.assert_allclose(sorted(flops["tau_mean"]), sorted(params["tau_mean"]))
    assert any((root / "baselines").glob("nb201-random-seed0-*.csv"))
    assert "random (baseline)" in files.markdown.read_text()


@needs_data()
def test_partial_report_includes_a_cut_short_cell_only_when_asked(tmp_path):
    """A cell stopped after its first snapshot (e.g. a GPU lease ended) is reportable with --partial."""
    from harness.catalog import PROTOCOLS
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    tiny = PROTOCOLS.get("nb201-smoke").replace(
        name="tiny-partial",
        epochs=3,
        snapshot_epochs=(1, 3),
    )
    spec = CellSpec("nb201", "spos", tiny, seed=0)

    def stop_in_epoch_two(msg):
        if "epoch 2/3" in msg:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_cell(spec, root=tmp_path, log=stop_in_epoch_two)
    run_dir = spec.run_dir(tmp_path)
    assert not (run_dir / "result.json").exists()
    per_snapshot = pd.read_csv(run_dir / "metrics.csv")  # written at every snapshot
    assert set(per_snapshot["epoch"]) == {1}
    with pytest.raises(WsbenchError):  # not finished: not reported by default
        write_report(tmp_path, tmp_path / "r1")
    # Older cells have score files but no metrics.csv: it is rebuilt from the scores, identically.
    (run_dir / "metrics.csv").unlink()
    files = write_report(tmp_path, tmp_path / "r2", partial=True)
    rebuilt = pd.read_csv(run_dir / "metrics.csv")
    pd.testing.assert_frame_equal(rebuilt, per_snapshot)
    text = files.markdown.read_text()
    assert (
        "0 finished cells and 1 unfinished" in text and "PARTIAL" in text and "scored at epochs [1] of the planned [1, 3]" in text
    )


def test_report_command_rejects_an_unknown_baseline(tmp_path):
    with pytest.raises(WsbenchError, match="unknown baseline 'synflw'.*did you mean 'synflow'"):
        report_command(str(tmp_path), None, None, baselines=("synflw",))


def test_selection_notes_name_the_pick_and_its_place_in_the_space(tmp_path):
    from harness.analysis.stability import _selection_notes
    from harness.run.store import Cell

    cfg = {"space": {"name": "nb201"}, "seed": 1}
    picked = {
        "selected": {
            "arch": "|a~0|",
            "ground_truth": {
                "nb201/csv:cifar10/test/accuracy@mean": {"value": 91.79, "fraction_better": 0.3636},
            },
        }
    }
    cells = [Cell(tmp_path, cfg, picked, "darts"), Cell(tmp_path, cfg, {}, "spos")]
    notes = _selection_notes(cells)
    assert notes == ["SELECTED nb201/darts seed 1: |a~0| — csv 91.79 (top 36.4 % of the space)"]


@needs_data()
def test_report_states_the_training_compute_behind_each_row(report):
    """Equal-compute comparisons are checkable: images x paths behind the final snapshot, per strategy."""
    _, files, root = report
    table = pd.read_csv(files.csv)
    sup = table[table["kind"] == "supernet"]
    assert (sup["train_mimg_paths"] > 0).all()
    assert table[table["kind"] != "supernet"]["train_mimg_paths"].isna().all()
    from harness.run.store import scan

    cell = scan(root).cells[0]
    sched, batch = cell.config["schedule"], cell.config["protocol"]["batch_size"]
    row = sup[sup["label"] == cell.label].iloc[0]
    # Every cell of the shared fixture runs its whole schedule, so the final snapshot is the last epoch.
    assert row["final_epoch"] == sched["epochs"]
    assert row["train_mimg_paths"] == pytest.approx(sched["path_passes"] * batch / 1e6)


@pytest.fixture
def toy_metric(monkeypatch):
    """One more spec, as one more line in ``harness.metrics._SPECS`` would declare it."""
    from harness import metrics as M

    spec = M._spec("toy@5%", M.top_k_hit_rate, "a toy hit rate", k=0.05, column="toy", header="toy top 5%",
                   shows=(M.SUMMARY, M.TABLE, M.HIT_PLOT, M.INTERVAL, M.REGRESSION, M.GT))  # fmt: skip
    monkeypatch.setattr(M, "_SPECS", [*M._SPECS, spec])
    monkeypatch.setattr(M, "METRICS", MappingProxyType({**M.METRICS, spec.name: spec}))
    return spec


def test_a_metric_declared_once_shows_everywhere_it_declares(toy_metric):
    from harness import metrics as M
    from harness.analysis import gt_report, summary_table
    from harness.analysis.analyses import intervals
    from harness.analysis.confidence import interval_table
    from harness.analysis.groups import GroupScores, RunScores
    from harness.analysis.summary_rows import reference_row

    rng = np.random.default_rng(0)
    true = rng.normal(size=200)
    est = true + rng.normal(size=200)
    assert table_columns()[-2:] == ["toy_mean", "toy_sd"]
    assert summary_table.header()[-5] == "toy top 5%"  # after the other table metrics, before seeds/epochs/compute/hours
    row = reference_row("s", "p", "params", "params (baseline)", "s/x:d/test/accuracy@mean", "accuracy", est, true)
    assert row["toy_mean"] == M.top_k_hit_rate(est, true, 0.05)
    line = summary_table.markdown_table(pd.DataFrame([row], columns=table_columns())).splitlines()[-1]
    assert line.split(" | ")[-5] == f"{row['toy_mean']:.3f}"
    group = GroupScores("s", "p", "x", "accuracy", [f"a{i}" for i in range(200)], [RunScores(0, "h", {1: est})], {"gt": true})
    table = interval_table([group], n_resamples=20)
    assert "toy@5%" in set(table["metric"]) and "toy@5%" in intervals.lines(table)[4]
    assert "toy@5%" in [s.name for s in gt_report.columns(M.GT)] and "toy@5%" in M.names_shown(M.REGRESSION)


@needs_data()
def test_a_registered_analysis_shows_in_the_report(report, tmp_path, monkeypatch):
    """One analysis added to the registry: its section, CSV and figure land in the report, in its declared place."""
    import harness.analysis.analyses as analyses
    from harness.analysis.analyses.base import AnalysisPlugin, Figure, Rendered
    from harness.api.registry import Registry

    def draw(path):
        path.write_bytes(PNG_MAGIC + b"toy" * 400)
        return path

    def render(result, name):
        figure = Figure("toy", draw)
        lines = ["", "## Toy", "", *(f"- {label}: {n} runs" for label, n in result.items()), *figure.link(name)]
        return Rendered(lines, {"toy": pd.DataFrame({"label": list(result), "runs": list(result.values())})}, [figure])

    toy = AnalysisPlugin(order=45, compute=lambda groups: {g.label: len(g.runs) for g in groups.strategies}, render=render)
    registry = Registry(analyses.KIND, discover=analyses._fill)
    registry.add("toy", toy)
    monkeypatch.setattr(analyses, "ANALYSES", registry)
    _, _, root = report
    files = write_report(root, tmp_path, name="t", bootstrap=0)
    text = files.markdown.read_text()
    assert "\n## Toy\n\n- spos: 2 runs\n" in text and "![t-toy](t-toy.png)" in text
    assert text.index("## Picking vs pruning") < text.index("## Toy") < text.index("## Variance of the best-found")
    assert [p.name for p in files.tables] == ["t-schedule.csv", "t-agreement.csv", "t-toy.csv"]
    assert (tmp_path / "t-toy.png").read_bytes().startswith(PNG_MAGIC) and tmp_path / "t-toy.png" in files.plots
