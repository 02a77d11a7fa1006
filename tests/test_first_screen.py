"""The first screen of a report, on constructed numbers: the verdict rule, one row per strategy with every
ground truth side by side, the best training-free baseline and the ceiling, and the paragraph that says it."""

import math

import pandas as pd
import pytest

from harness.analysis import first_screen as FS
from harness.analysis.markdown import table
from harness.analysis.stability import table_columns

NAN = math.nan
A, B = "nb201/analog:cifar10/test/accuracy@as-published", "nb201/csv:cifar10/test/accuracy@mean"


@pytest.mark.parametrize(
    "low,high,baseline,word",
    [
        (0.70, 0.80, 0.60, "useful"),  # wholly above the baseline
        (0.50, 0.70, 0.60, "baseline-level"),  # contains it
        (0.60, 0.70, 0.60, "baseline-level"),  # touching it is not above it
        (0.20, 0.40, 0.60, "worse"),  # wholly below it, clear of 0
        (-0.50, -0.20, 0.60, "worse"),  # a ranking the wrong way round
        (-0.10, 0.30, 0.60, "random"),  # contains 0: before any comparison with the baseline
        (-0.10, 0.30, -0.50, "random"),
        (0.00, 0.30, 0.60, "random"),  # 0 on the edge counts as contained
        (0.10, 0.30, -0.20, "useful"),  # a baseline that ranks the wrong way round
        (0.10, 0.30, NAN, "useful"),  # no baseline: 0 stands in for it
        (-0.30, -0.10, NAN, "worse"),
        (NAN, NAN, 0.60, "n/a"),  # no interval (no bootstrap, too few architectures)
    ],
)
def test_the_verdict_rule(low, high, baseline, word):
    assert FS.verdict(low, high, baseline) == word


def test_a_row_shows_its_least_favourable_word():
    assert FS.combined(["useful", "useful"]) == "useful"
    assert FS.combined(["useful", "baseline-level"]) == "baseline-level"
    assert FS.combined(["baseline-level", "random"]) == "random"
    assert FS.combined(["random", "worse"]) == "worse"
    assert FS.combined(["n/a", "useful"]) == "useful"  # a ground truth without an interval says nothing
    assert FS.combined(["n/a", "n/a"]) == FS.combined([]) == "n/a"
    assert all(w in FS.VERDICT_RULE for w in FS.VERDICTS)  # the rule stated under the table names every word


def _summary_row(kind, label, gt, tau, hit=0.0, seed_tau=NAN, n_seeds=0):
    row = dict.fromkeys(table_columns(), NAN)
    row.update({"space": "nb201", "protocol": "p", "kind": kind, "label": label, "ground_truth": gt, "n_archs": 50,
                "n_seeds": n_seeds, "tau_mean": tau, "hit@5%_mean": hit, "seed_pairwise_tau": seed_tau})  # fmt: skip
    return row


def _numbers():
    """Three strategies, params + two baselines and the ceiling, against two ground truths; and tau intervals."""
    rows, bounds = [], []
    strategies = {  # label -> per ground truth (tau, low, high), hit@5%, seed-vs-seed tau
        "good": ({A: (0.80, 0.72, 0.86), B: (0.78, 0.70, 0.85)}, 0.5, 0.9),
        "mixed": ({A: (0.78, 0.68, 0.86), B: (0.60, 0.50, 0.70)}, 0.25, 0.4),
        "noise": ({A: (0.05, -0.10, 0.20), B: (0.04, -0.12, 0.19)}, 0.0, 0.1),
    }
    for label, (per_gt, hit, seed_tau) in strategies.items():
        for gt, (tau, low, high) in per_gt.items():
            rows.append(_summary_row("supernet", label, gt, tau, hit, seed_tau, n_seeds=2))
            bounds.append({"space": "nb201", "protocol": "p", "label": label, "ground_truth": gt, "metric": "kendall_tau",
                           "value": tau, "low": low, "high": high, "n_runs": 2, "n_archs": 50})  # fmt: skip
    for gt, (params, synflow, ceiling) in {A: (0.55, 0.65, 0.88), B: (0.60, 0.58, 0.88)}.items():
        rows.append(_summary_row("params", "params (baseline)", gt, params))
        rows.append(_summary_row("baseline", "synflow (baseline)", gt, synflow))
        rows.append(_summary_row("baseline", "random (baseline)", gt, 0.01))
        rows.append(_summary_row("ceiling", "ceiling (other)", gt, ceiling))
    return pd.DataFrame(rows, columns=table_columns()), pd.DataFrame(bounds)


def test_one_row_per_strategy_and_ground_truth_with_the_best_baseline_and_the_ceiling():
    screen = FS.compute(*_numbers())
    assert list(screen.columns) == FS.SCREEN_COLUMNS
    assert len(screen) == 6 and set(screen["strategy"]) == {"good", "mixed", "noise"}
    assert set(screen["ground_truth"]) == {A, B}
    by = screen.set_index(["strategy", "ground_truth"])
    # The best training-free baseline per ground truth: synflow against A, params against B.
    assert by.loc[("good", A), ["best_baseline", "best_baseline_tau"]].tolist() == ["synflow", 0.65]
    assert by.loc[("good", B), ["best_baseline", "best_baseline_tau"]].tolist() == ["params", 0.60]
    assert (screen["ceiling_tau"] == 0.88).all()
    assert by.loc[("good", A), ["tau_low", "tau_high"]].tolist() == [0.72, 0.86]
    # mixed: above synflow's 0.65 against A, around params' 0.60 against B: the row says the lesser.
    assert by.loc[("mixed", A), "verdict_vs_gt"] == "useful" and by.loc[("mixed", B), "verdict_vs_gt"] == "baseline-level"
    assert dict(zip(screen["strategy"], screen["verdict"], strict=True)) == {
        "good": "useful", "mixed": "baseline-level", "noise": "random",
    }  # fmt: skip


def test_without_intervals_every_verdict_is_na():
    summary, _ = _numbers()
    screen = FS.compute(summary, None)
    assert (screen["verdict"] == "n/a").all() and screen["tau_low"].isna().all()


def test_the_table_has_a_row_per_strategy_and_a_column_per_ground_truth():
    lines = FS.lines(FS.compute(*_numbers()))
    assert lines[0] == "## nb201 at a glance (3 strategies, 50 architectures, 2 seeds each)"
    header = [c.strip() for c in lines[2].strip("|").split("|")]
    assert header == ["strategy", "verdict", "tau vs analog [95 % CI]", "tau vs csv [95 % CI]", "hit@5 %",
                      "seed-vs-seed tau", "best baseline", "ceiling"]  # fmt: skip
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[4:7]]
    assert [r[0] for r in rows] == ["good", "mixed", "noise"]  # best first
    assert rows[0] == [
        "good",
        "useful",
        "0.800 [0.720, 0.860]",
        "0.780 [0.700, 0.850]",
        "0.500",
        "0.900",
        "0.650 / 0.600",
        "0.880",
    ]
    assert lines[7] == "" and len({len(line) for line in lines[2:7]}) == 1  # padded: every line as wide
    assert " ".join(lines).count("**useful** if low > b") == 1  # the rule, stated under the table


def test_the_paragraph_names_the_strategies_that_beat_the_baseline():
    text = FS.paragraph(FS.compute(*_numbers()))
    assert text.startswith("good beats the best training-free baseline (synflow / params, tau 0.650 / 0.600)")
    assert "1 is at its level (mixed)" in text and "1 cannot be told from a random ranking (noise)" in text
    assert "The ground truths split on mixed (useful against analog, baseline-level against csv)." in text
    assert "Seed-vs-seed tau ranges from 0.100 (noise) to 0.900 (good)" in text
    assert "The best strategy by tau, good (0.800 / 0.780), is 0.080 / 0.100 below the ceiling (0.880)" in text
    summary, bounds = _numbers()
    worse = FS.paragraph(FS.compute(summary[summary["label"] != "good"], bounds))
    assert worse.startswith("No strategy beats the best training-free baseline")


def test_one_seed_and_no_ground_truth_are_said_plainly():
    summary, _ = _numbers()
    one = summary[summary["label"].isin(["good"]) | (summary["kind"] != "supernet")].copy()
    one.loc[one["kind"] == "supernet", ["n_seeds", "seed_pairwise_tau"]] = [1, NAN]
    screen = FS.compute(one, None)
    assert "Each strategy has one run, so seed agreement is not measured." in FS.paragraph(screen)
    assert "| good     | n/a     |" in "\n".join(FS.lines(screen)) and "—" in "\n".join(FS.lines(screen))
    stability = pd.DataFrame([_summary_row("supernet", "spos", "none", NAN, NAN, 0.5, n_seeds=2)], columns=table_columns())
    screen = FS.compute(stability, None)
    assert screen["verdict"].tolist() == ["n/a"]
    assert FS.paragraph(screen).startswith("No ground truth for these supernets' data, so no verdict")
    assert "seed-vs-seed tau" in FS.lines(screen)[2]


def test_a_padded_table_is_still_markdown():
    lines = table(["name", "value"], [["a", "1.000"], ["longer", "-0.5"]], names=1, pad=True)
    assert lines == ["| name   | value |", "|--------|------:|", "| a      | 1.000 |", "| longer |  -0.5 |"]
    assert all(line.startswith("|") and line.endswith("|") for line in lines)


def test_one_table_per_space_with_a_row_per_protocol_and_strategy():
    summary, bounds = _numbers()
    other = summary.assign(protocol="q")
    screen = FS.compute(pd.concat([summary, other]), pd.concat([bounds, bounds.assign(protocol="q")]))
    lines = FS.lines(screen)
    assert sum(line.startswith("## ") for line in lines) == 1
    assert lines[0] == "## nb201 at a glance (3 strategies, 2 protocols, 50 architectures, 2 seeds each)"
    assert [c.strip() for c in lines[2].strip("|").split("|")][:3] == ["protocol", "strategy", "verdict"]
    rows = [[c.strip() for c in line.strip("|").split("|")][:3] for line in lines[4:10]]
    assert rows == [["p", "good", "useful"], ["p", "mixed", "baseline-level"], ["p", "noise", "random"],
                    ["q", "good", "useful"], ["q", "mixed", "baseline-level"], ["q", "noise", "random"]]  # fmt: skip
    assert FS.paragraph(screen).startswith("good (`p`) and good (`q`) beat the best training-free baseline (")
