"""Snapshots in their schedule, and the fidelity section: a recipe beside a peer's released scores."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from scipy.stats import kendalltau

from harness.analysis.analyses import fidelity, schedule
from harness.analysis.analyses.base import Groups
from harness.analysis.groups import GroupScores, RunScores, Schedule


def test_a_snapshot_is_annealed_only_at_the_bottom_of_a_cosine():
    s = Schedule(epochs=10, lr=0.1, lr_min=0.001, at={5: 0.0505, 10: 0.001})
    assert s.annealed(10) and not s.annealed(5) and not s.annealed(7)
    assert s.position(10) == "annealed" and s.position(5).startswith("mid-schedule (50 % of the run, lr 0.0505")
    assert Schedule(10, 40.0, 40.0, {10: 40.0}).position(10) == "constant lr"


def test_a_cut_short_cell_gets_its_schedule_from_its_protocol(tmp_path):
    """Cells cut short (no train log) still say where their snapshots sat: the protocol's cosine, recomputed."""
    from harness.analysis.stability import _schedule
    from harness.engine.schedule import cosine_lr

    config = {
        "protocol": {"lr": 0.1, "lr_min": 0.001, "epochs": 100},
        "schedule": {"epochs": 100, "path_passes": 4000, "paths_per_step": 1},
    }
    s = _schedule(SimpleNamespace(config=config, run_dir=tmp_path))
    assert s is not None and s.epochs == 100
    assert s.at[100] == pytest.approx(0.001) and s.annealed(100)
    shape = SimpleNamespace(lr=0.1, lr_min=0.001, epochs=100, warmup_epochs=0, lr_restarts=0)
    assert s.at[50] == pytest.approx(0.1 * cosine_lr(shape, 4000)(2000)) and not s.annealed(50)


def _group(label, runs, truths, imported=False, archs=None):
    archs = archs or [f"a{i}" for i in range(len(next(iter(truths.values()))))]
    return GroupScores("nb201", "p" if not imported else "imported", label, "accuracy", archs, runs, truths, imported)


def _run(seed, snaps, sched=None):
    return RunScores(seed, f"h{seed}", snaps, sched)


def test_fidelity_reads_the_last_annealed_snapshot_and_scales_the_gap_by_the_seed_spread():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=30)
    sched = Schedule(20, 0.1, 0.001, {10: 0.001, 20: 0.05})  # a restart: epoch 10 ends a cycle, 20 is mid-way
    runs = [_run(s, {10: truth + rng.normal(scale=1.0 + s, size=30), 20: rng.normal(size=30)}, sched) for s in (0, 1)]
    recipe = _group("spos", runs, {"gt": truth})
    ref_scores = truth + rng.normal(scale=0.5, size=30)
    reference = _group("released", [_run(0, {1: ref_scores})], {"gt": truth}, imported=True)
    out = fidelity.compute(Groups([recipe, reference]))
    (row,) = out.rows
    mine = [kendalltau(r.snapshots[10], truth)[0] for r in runs]
    theirs = kendalltau(ref_scores, truth)[0]
    assert row["snapshots"] == "10, 10"  # annealed snapshots, not the final mid-schedule ones
    assert row["tau_recipe_mean"] == pytest.approx(np.mean(mine)) and row["tau_reference"] == pytest.approx(theirs)
    assert row["gap"] == pytest.approx(theirs - np.mean(mine))
    assert row["gap_in_seed_sd"] == pytest.approx((theirs - np.mean(mine)) / np.std(mine, ddof=1))
    between = np.mean([kendalltau(r.snapshots[10], ref_scores)[0] for r in runs])
    assert row["tau_recipe_reference"] == pytest.approx(between)
    assert "Fidelity" in "\n".join(fidelity.render(out, "r").lines)


def test_fidelity_compares_on_the_architectures_both_scored_and_says_when_nothing_is_annealed():
    truth = np.arange(6, dtype=float)
    recipe = _group("spos", [_run(0, {5: truth.copy()}, Schedule(10, 0.1, 0.0, {5: 0.05}))], {"gt": truth})
    ref = _group("released", [_run(0, {1: truth[2:][::-1].copy()})], {"gt": truth[2:]}, imported=True,
                 archs=[f"a{i}" for i in range(2, 6)])  # fmt: skip
    (row,) = fidelity.compute(Groups([recipe, ref])).rows
    assert row["archs"] == 4 and row["tau_recipe_reference"] == pytest.approx(-1.0)
    assert row["snapshots"] == "5 (mid-schedule)" and math.isnan(row["gap_in_seed_sd"])  # one seed on each side


def test_without_a_reference_the_fidelity_section_is_absent_and_the_schedule_section_lists_mid_snapshots():
    truth = np.arange(5, dtype=float)
    g = _group("spos", [_run(0, {3: truth, 6: truth}, Schedule(6, 0.1, 0.001, {3: 0.05, 6: 0.001}))], {"gt": truth})
    assert fidelity.render(fidelity.compute(Groups([g])), "r").lines == []
    lines = "\n".join(schedule.render(schedule.compute(Groups([g])), "r").lines)
    assert "1 snapshot(s) were taken mid-schedule, 0 of them a run's final one" in lines and "3 / 6" in lines
