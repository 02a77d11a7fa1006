"""``gt_report``: source listing, availability reasons and pairwise agreement of ground truths."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from harness import metrics
from harness.analysis import gt_report as rep
from harness.api.errors import UnknownNameError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthSource, GroundTruthTable
from harness.api.registry import Registry
from spaces.nb201 import ground_truth as gt
from spaces.nb201.encoding import enumerate_archs, to_arch_str

REAL_DATA = os.environ.get("WSBENCH_DATA", "").strip()
ARCHS = [to_arch_str(a) for a in enumerate_archs()]


def _rows(report: str, needle: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")] for line in report.splitlines() if line.startswith("|") and needle in line
    ]


def fake_source(name: str, dataset: str, split: str, ids: list[str], values: np.ndarray, hib: bool = True, ok: bool = True):
    """A GroundTruthSource subclass answering one (dataset, split) with fixed values."""

    class Fake(GroundTruthSource):
        space = "nb201"
        source = name
        description = f"fake {name}"
        options = {(dataset, split): ("score",)}
        seed_reductions = ("mean",)
        higher_is_better = {"score": hib}

        def available(self):
            return (True, "here") if ok else (False, f"{name} is not here; put it there")

        def _load(self, query: GroundTruthQuery) -> GroundTruthTable:
            return GroundTruthTable(query, list(ids), values, hib, {})

    return Fake


@pytest.fixture
def fakes(monkeypatch):
    rng = np.random.default_rng(0)
    ids_a = ARCHS[:300]
    ids_b = ARCHS[150:350]  # 150 in common with A
    va = rng.normal(size=300)
    # B is a lower-is-better error correlated with A on the common part.
    vb = -np.concatenate([va[150:], rng.normal(size=50)]) + 0.5 * rng.normal(size=200)
    reg: Registry = Registry("ground-truth source")
    reg.register("nb201/a")(fake_source("a", "cifar10", "test", ids_a, va))
    reg.register("nb201/b")(fake_source("b", "cifar10-valid", "valid", ids_b, vb, hib=False))
    reg.register("nb201/c")(fake_source("c", "cifar100", "test", ids_a, rng.normal(size=300)))
    reg.register("nb201/d")(fake_source("d", "cifar10", "test", ids_a, va, ok=False))
    monkeypatch.setattr(rep, "GROUND_TRUTHS", reg)
    return ids_a, va, ids_b, vb


def test_unknown_space_and_bad_bootstrap():
    with pytest.raises(UnknownNameError) as e:
        rep.gt_report("nb210")
    msg = str(e.value)
    assert "\n" not in msg and "did you mean 'nb201'" in msg
    for bad in (1, -3, 2.5, True):
        with pytest.raises(WsbenchError):
            rep.gt_report("nb201", bootstrap=bad)


def test_family():
    assert rep.family("cifar10-valid") == rep.family("cifar10") == "cifar10"
    assert rep.family("cifar100") != rep.family("cifar10")


def test_report_with_fake_sources(fakes):
    ids_a, va, ids_b, vb = fakes
    out = rep.gt_report("nb201", bootstrap=50, seed=3)
    # Listing: every source, availability, sizes, fingerprints; the reason for an absent one.
    a_row = _rows(out, "| nb201/a |")[0]
    assert a_row[1] == "yes" and a_row[3] == "300"
    table_a = rep.source_status("nb201/a").tables[0]
    assert a_row[4] == f"`{table_a.fingerprint[:12]}`"
    d_row = _rows(out, "| nb201/d |")[0]
    assert d_row[1] == "no" and "d is not here" in d_row[5]
    # Pairs: only A with B (same family, cifar10 vs cifar10-valid); C (cifar100) pairs with nobody.
    pair_rows = _rows(out, "a:cifar10/test")
    assert len(pair_rows) == 1 and pair_rows[0][1].startswith("b:cifar10-valid/valid")
    assert not _rows(out, "c:cifar100")  # listed (as nb201/c) but in no pair row
    row = pair_rows[0]
    assert row[2] == "150"
    common = sorted(set(ids_a) & set(ids_b))
    e = va[[ids_a.index(i) for i in common]]
    t = -vb[[ids_b.index(i) for i in common]]  # B is lower-is-better: oriented before comparing
    tau = metrics.kendall_tau(e, t)
    assert tau > 0.3
    lo, hi = metrics.bootstrap_ci(metrics.kendall_tau, e, t, n_resamples=50, seed=3)
    assert row[3] == f"{tau:.3f} [{lo:.3f}, {hi:.3f}]"
    assert row[4] == f"{metrics.spearman_rho(e, t):.3f}"
    assert row[5] == f"{metrics.top_k_hit_rate(e, t, 10):.3f}"
    assert row[7].startswith(f"{metrics.top_k_hit_rate(e, t, 100):.3f} [")
    assert row[8] == f"{metrics.top_k_hit_rate(e, t, 0.05):.3f}"
    assert row[9] == f"{metrics.top_k_hit_rate(e, t, 0.10):.3f}"
    assert row[10] == f"{metrics.br_at_k(e, t, 0.01):.4f}"
    # Deterministic for a seed; no intervals with bootstrap=0.
    assert rep.gt_report("nb201", bootstrap=50, seed=3) == out
    plain = _rows(rep.gt_report("nb201", bootstrap=0), "a:cifar10/test")[0]
    assert plain[3] == f"{tau:.3f}"


def test_report_lists_nb201_sources_without_data(monkeypatch):
    monkeypatch.delenv("WSBENCH_DATA", raising=False)
    monkeypatch.delenv("WSBENCH_NB201_PTH", raising=False)
    monkeypatch.delenv("WSBENCH_NATS_TSS", raising=False)
    gt.clear_cache()
    out = rep.gt_report("nb201", bootstrap=0)
    for name in ("nb201/csv", "nb201/analog", "nb201/nb201-pth", "nb201/nats"):
        assert _rows(out, f"| {name} |"), name
    csv_row = _rows(out, "| nb201/csv |")[0]
    assert csv_row[1] == "no" and "WSBENCH_DATA" in csv_row[5]
    assert "WSBENCH_NB201_PTH" in _rows(out, "| nb201/nb201-pth |")[0][5]


def test_report_real_csv_vs_analog(monkeypatch):
    if not REAL_DATA or not (Path(REAL_DATA) / "nb201/nb201-test-acc-200ep.csv").is_file():
        pytest.skip("WSBENCH_DATA is not set or lacks the NB201 CSV")
    if not gt.AnalogNASBenchSource().available()[0]:
        pytest.skip("analog-nasbench is not installed")
    monkeypatch.setenv("WSBENCH_DATA", REAL_DATA)
    out = rep.gt_report("nb201", bootstrap=20, seed=0)
    row = _rows(out, "analog:cifar10/test/accuracy@as-published | csv:cifar10/test")[0]
    assert row[2] == "15625"
    a = gt.AnalogNASBenchSource().load(GroundTruthQuery("nb201", "analog", "cifar10", "test", "accuracy", "as-published"))
    c = gt.NB201CsvSource().load(GroundTruthQuery("nb201", "csv", "cifar10", "test", "accuracy", "mean"))
    tau = metrics.kendall_tau(a.lookup(sorted(c.arch_ids)), c.lookup(sorted(c.arch_ids)))
    assert row[3].startswith(f"{tau:.3f} [")
    assert 0.85 < tau < 0.99
    assert f"`{c.fingerprint[:12]}`" in out and f"`{a.fingerprint[:12]}`" in out
