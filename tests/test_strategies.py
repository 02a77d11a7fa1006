"""Weight-sharing strategies: contract, fairness, determinism, exact resume, options, end to end."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs_data

from harness.api.errors import WsbenchError
from harness.api.space import GRID, Choice, Space
from harness.api.strategy import Strategy, uniform_grid
from harness.catalog import PROTOCOLS, SPACES, STRATEGIES
from harness.seeding import numpy_stream
from spaces.nb201.supernet import NB201Supernet
from strategies.fairnas import FairNAS
from strategies.mdenas import MdeNAS
from strategies.multipath import MultiPath

SPACE = SPACES.get("nb201")
NUM_EDGES, NUM_OPS = uniform_grid(SPACE, "test")
# The classes of this task, tested whether or not the registry lists them yet.
CLASSES = {"fairnas": FairNAS, "multipath": MultiPath, "mdenas": MdeNAS}

TINY = PROTOCOLS.get("nb201-smoke").replace(
    name="tiny-strategies",
    epochs=1,
    snapshot_epochs=(1,),
)


def _cls(name: str) -> type[Strategy]:
    return CLASSES[name] if name in CLASSES else STRATEGIES.get(name)


def _all_names() -> list[str]:
    return sorted(set(STRATEGIES.names()) | set(CLASSES))


def _space_name(name: str) -> str:
    """NB201 where the strategy runs on it, else the first registered space that allows it (e.g. sandwich: a width space)."""
    from harness.catalog import pairings

    allowed = [p.space for p in pairings() if p.strategy == name and p.allowed]
    return "nb201" if "nb201" in allowed or not allowed else allowed[0]


def _space_of(name: str):
    return SPACES.get(_space_name(name))


def _make(name: str, seed: int = 0, **opts) -> Strategy:
    s = _cls(name)(_space_of(name), numpy_stream(seed, "arch"), **opts)
    if s.needs_arch_data:
        # Bi-level strategies (DARTS, GDAS) keep their parameters next to a model: bind a tiny one
        # (same weights for every seed) that ``_run`` drives with synthetic architecture batches.
        s.test_model = NB201Supernet(C=2, N=1, seed=0)
        s.bind(s.test_model, steps_per_epoch=50, epochs=10)
    return s


def _feed(strategy: Strategy, step: int, paths: list) -> None:
    """Deterministic synthetic feedback: accuracy depends on the ops, so MdeNAS has a signal."""
    if strategy.wants_feedback:
        for arch in paths:
            acc = 10.0 + 5.0 * arch.count(3) + 2.0 * arch.count(2) - 3.0 * arch.count(0) + (step % 7)
            strategy.observe(step, arch, 2.3 - acc / 100, acc)


def _run(strategy: Strategy, start: int, stop: int) -> list[list[tuple[int, ...]]]:
    out = []
    for step in range(start, stop):
        if strategy.needs_arch_data:
            gen = torch.Generator().manual_seed(step)
            x, y = torch.randn(4, 3, 8, 8, generator=gen), torch.randint(0, 10, (4,), generator=gen)
            strategy.arch_step(step, strategy.test_model, x, y)
        paths = strategy.paths(step)
        _feed(strategy, step, paths)
        if paths and isinstance(paths[0], torch.Tensor):  # op weights: compare values and the pick
            paths = [tuple(p.flatten().tolist()) for p in paths] + [strategy.selected()]
        out.append(paths)
    return out


# ----------------------------------------------------------------- every strategy, same contract


@pytest.mark.parametrize("name", _all_names())
def test_paths_are_valid_archs(name):
    s = _make(name)
    if s.needs_arch_data:  # one op-weight tensor per step; paths_per_step counts compute, not paths
        for step, picked in zip(range(250), _run(s, 0, 250)):
            (w,) = s.paths(250 + step)
            assert w.shape == (NUM_EDGES, NUM_OPS) and not w.requires_grad and (w >= 0).all()
            assert torch.allclose(w.sum(1), torch.ones(NUM_EDGES))
            assert SPACE.parse(picked[-1]) == picked[-1]
        return
    space = _space_of(name)
    for paths in _run(s, 0, 250):
        assert paths and all(space.parse(a) == a for a in paths)
    assert len(s.paths(250)) == s.paths_per_step


@pytest.mark.parametrize("name", _all_names())
def test_same_seed_same_paths_and_other_seed_differs(name):
    a, b, c = _run(_make(name, 0), 0, 120), _run(_make(name, 0), 0, 120), _run(_make(name, 1), 0, 120)
    assert a == b
    assert a != c


@pytest.mark.parametrize("name", _all_names())
def test_state_dict_resumes_exactly(name):
    s = _make(name)
    _run(s, 0, 230)  # MdeNAS: past two updates (every 100 steps) and mid-window
    state = copy.deepcopy(s.state_dict())
    fresh = _make(name, seed=7)  # a different seed: everything must come from the state
    fresh.load_state_dict(state)
    assert _run(fresh, 230, 470) == _run(s, 230, 470)


@pytest.mark.parametrize("name", _all_names())
def test_unknown_option_is_a_one_line_error(name):
    with pytest.raises(WsbenchError, match="unknown option") as e:
        _make(name, bogus=1)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", _all_names())
def test_describe_has_name_version_and_defaults(name):
    d = _make(name).describe()
    assert d["name"] == name and isinstance(d["version"], int) and set(d["options"]) == set(_cls(name).defaults)


# ----------------------------------------------------------------------------------- FairNAS


def test_fairnas_trains_every_op_of_every_edge_exactly_once_per_step():
    s = _make("fairnas")
    for step in range(100):
        paths = np.array(s.paths(step))
        assert paths.shape == (NUM_OPS, NUM_EDGES)
        for e in range(NUM_EDGES):
            assert sorted(paths[:, e]) == list(range(NUM_OPS))
    assert s.paths_per_step == NUM_OPS


def test_fairnas_permutations_are_independent_across_edges():
    # If edges shared one permutation, every path would use the same op on all edges.
    paths = [p for step in range(20) for p in _make("fairnas").paths(step)]
    assert any(len(set(p)) > 1 for p in paths)


class _ToySpace(Space):
    """A grid of ``sizes`` options per choice, for shape tests."""

    name = "toy"
    version = 1

    def __init__(self, sizes, capabilities=frozenset({GRID})):
        self.sizes, self.capabilities = tuple(sizes), frozenset(capabilities)

    def choices(self):
        return tuple(Choice(f"c{i}", tuple(map(str, range(n)))) for i, n in enumerate(self.sizes))


def test_space_shape_comes_from_the_space_or_is_a_one_line_error():
    with pytest.raises(WsbenchError, match="strategy 'fairnas' needs grid, which space 'toy' does not provide") as e:
        FairNAS(_ToySpace([2, 2, 2], capabilities=()), numpy_stream(0, "arch"))
    assert "\n" not in str(e.value)
    paths = FairNAS(_ToySpace([2, 2, 2]), numpy_stream(0, "arch")).paths(0)
    assert len(paths) == 2 and sorted(sorted(col) for col in zip(*paths)) == [[0, 1]] * 3
    assert MdeNAS(_ToySpace([2, 2, 2]), numpy_stream(0, "arch")).probs.shape == (3, 2)


def test_mdenas_on_unequal_choices_never_samples_past_a_choice_and_keeps_distributions():
    m = MdeNAS(_ToySpace([1, 3, 2]), numpy_stream(0, "arch"), update_every=5)
    np.testing.assert_allclose(m.probs, [[1, 0, 0], [1 / 3, 1 / 3, 1 / 3], [0.5, 0.5, 0]])
    seen = set()
    for step in range(200):
        (arch,) = m.paths(step)
        assert arch[0] == 0 and arch[1] < 3 and arch[2] < 2
        seen.add(arch)
        m.observe(step, arch, 1.0, 100.0 * arch[1] / 2)  # option 2 of choice 1 scores best
    assert {a[1] for a in seen} == {0, 1, 2}
    assert m.probs[0, 0] == 1.0 and m.probs[2, 2] == 0.0 and m.probs[1].argmax() == 2
    np.testing.assert_allclose(m.probs.sum(axis=1), 1.0)


def test_fairnas_on_unequal_choices_trains_every_option_floor_or_ceil_times():
    sizes = [4, 3, 2, 4]
    for step in range(5):
        paths = FairNAS(_ToySpace(sizes), numpy_stream(step, "arch")).paths(0)
        assert len(paths) == 4
        for c, n in enumerate(sizes):
            counts = np.bincount([p[c] for p in paths], minlength=n)
            assert counts.min() >= 4 // n and counts.max() <= -(-4 // n) and counts.sum() == 4


# --------------------------------------------------------------------------------- multi-path


def test_multipath_draws_k_paths_and_k1_is_spos():
    s = _make("multipath", k=3)
    assert all(len(s.paths(i)) == 3 for i in range(10)) and s.paths_per_step == 3
    spos = STRATEGIES.get("spos")(SPACE, numpy_stream(0, "arch"))
    one = _make("multipath", k=1)
    assert [one.paths(i) for i in range(50)] == [spos.paths(i) for i in range(50)]


@pytest.mark.parametrize("k", [0, -2, 1.5, "4", True])
def test_multipath_bad_k_is_a_one_line_error(k):
    with pytest.raises(WsbenchError, match="k must be a positive integer"):
        _make("multipath", k=k)


def test_command_line_option_text_takes_the_declared_type(monkeypatch):
    # `wsbench train --option k=2`: the text "2" must reach multipath as the integer 2.
    import harness.engine.loop as loop
    from harness.cli import main

    seen = {}

    def fake_run_cell(spec, **_):
        seen["options"] = spec.strategy_options
        STRATEGIES.get(spec.strategy)(SPACE, numpy_stream(0, "arch"), **spec.strategy_options)
        return {}

    monkeypatch.setattr(loop, "run_cell", fake_run_cell)
    argv = ["train", "--strategy", "multipath", "--option", "k=2", "--option", "sampling=deisomorphic"]
    assert main(argv) == 0
    assert seen["options"] == {"k": 2, "sampling": "deisomorphic"} and type(seen["options"]["k"]) is int
    assert main(["train", "--strategy", "multipath", "--option", "k=two"]) == 2  # still text: the usual one-line error


def test_unknown_option_suggests_the_close_name_and_legacy_defaults_still_work():
    with pytest.raises(WsbenchError, match=r"unknown option\(s\) kk for strategy 'multipath' \(did you mean 'k'\?\)"):
        _make("multipath", kk=2)

    class Legacy(Strategy):  # a plugin written before typed options: plain defaults, any value
        name, version, defaults = "legacy", 1, {"depth": 3}

    assert Legacy.option_specs["depth"].default == 3 and Legacy.defaults == {"depth": 3}
    assert Legacy(SPACE, numpy_stream(0, "arch"), depth="deep").options == {"depth": "deep"}
    assert MultiPath.defaults == {"k": 4, "sampling": "uniform"}  # hashed into every cell: must not move


# ------------------------------------------------------------------------------------ MdeNAS


def test_mdenas_starts_uniform_and_learns_toward_rewarded_ops():
    # Defaults (alpha 0.01, update every 100 steps). Shorter windows are much noisier: a rarely
    # sampled op keeps a lucky stale H^a and keeps winning comparisons (the rule's own dynamics).
    s = _make("mdenas")
    assert np.allclose(s.probs, 1.0 / NUM_OPS)
    _run(s, 0, 3000)
    assert np.allclose(s.probs.sum(1), 1.0) and (s.probs >= 0).all()
    # The synthetic feedback rewards op 3 most and punishes op 0: the distribution must follow.
    assert (s.probs[:, 3] > s.probs[:, 0]).all()
    assert s.trained.sum() == 3000 * NUM_EDGES


def test_mdenas_pairwise_rule_on_a_hand_made_case():
    s = _make("mdenas", alpha=0.1, update_every=1)
    # Edge 0: op 1 trained less than op 2 but more accurate -> op 1 up, op 2 down; others unknown.
    s.trained[0, 1], s.trained[0, 2] = 3, 5
    s._win_sum[0, 1], s._win_n[0, 1] = 60.0, 1
    s._win_sum[0, 2], s._win_n[0, 2] = 40.0, 1
    s.paths(1)
    assert s.probs[0, 1] == pytest.approx(0.3) and s.probs[0, 2] == pytest.approx(0.1)
    assert np.allclose(s.probs[0, [0, 3, 4]], 0.2) and np.allclose(s.probs[1:], 0.2)


def test_mdenas_never_samples_a_zero_probability_op():
    s = _make("mdenas")
    s.probs[:] = 0.0
    s.probs[:, 4] = 1.0
    assert all(p == [(4,) * NUM_EDGES] for p in (s.paths(i) for i in range(1, 50)))


@pytest.mark.parametrize("opts", [{"alpha": 0}, {"alpha": float("nan")}, {"update_every": 0}, {"update_every": 2.5}])
def test_mdenas_bad_options_are_one_line_errors(opts):
    with pytest.raises(WsbenchError, match="mdenas option"):
        _make("mdenas", **opts)


# ------------------------------------------------------------ every registered strategy, end to end


@needs_data()
@pytest.mark.parametrize("name", STRATEGIES.names())
def test_registered_strategy_runs_a_cell(name, tmp_path):
    from harness.engine.cell import CellSpec
    from harness.engine.loop import run_cell

    space = _space_of(name)
    protocol = TINY if space.name == "nb201" else TINY.replace(network=space.smoke_network)
    spec = CellSpec(space.name, name, protocol, seed=0)
    result = run_cell(spec, root=tmp_path, log=lambda *_: None)
    if _cls(name).needs_arch_data:  # weights see half of the training images, alpha the other half
        data = json.loads((spec.run_dir(tmp_path) / "config.json").read_text())["data"]
        assert data["n_train"] == data["n_arch_train"] == TINY.task_options["subset"] // 2
        assert result["steps"] == TINY.epochs * (data["n_train"] // TINY.batch_size)
        assert SPACE.parse(result["selected"]["arch"]) and result["selected"]["ground_truth"]
    else:
        assert result["steps"] == protocol.epochs * (protocol.task_options["subset"] // protocol.batch_size)
    metrics = pd.read_csv(spec.run_dir(tmp_path) / "metrics.csv")
    tau = metrics[(metrics["metric"] == "kendall_tau") & (metrics["score"] == "accuracy")]["value"]
    assert len(tau) >= 1 and tau.between(-1, 1).all()
    log = pd.read_csv(spec.run_dir(tmp_path) / "train_log.csv")
    assert np.isfinite(log["train_loss"]).all()
