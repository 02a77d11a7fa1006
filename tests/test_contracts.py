"""Contract tests driven by the registries: a new space, task or strategy is tested once registered.

- every space passes the Space contract (choices, sampling, parse/format round trip, arch_id
  stability, costs, network config, declared capabilities);
- every task passes the Task contract (score fields, loss, evaluation) on synthetic batches;
- every space x strategy pair the capabilities allow trains two steps and scores two
  architectures; every refused pair is refused with a one-line reason before anything runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from harness.api import space as api
from harness.api.errors import WsbenchError
from harness.api.plugins import pairings
from harness.api.task import estimator_name, estimators
from harness.engine.evaluator import score_architectures
from harness.engine.loop import training_views
from harness.engine.seeding import numpy_stream
from harness.tasks import TASKS
from spaces import SPACES
from strategies import STRATEGIES

PAIRS = pairings()


def _space(name):
    return SPACES.get(name)


def _samples(space, n=6, seed=0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


# ------------------------------------------------------------------------------------ spaces


@pytest.mark.parametrize("name", SPACES.names())
def test_space_declares_known_capabilities_and_choices(name):
    space = _space(name)
    assert space.name == name and isinstance(space.version, int)
    assert space.capabilities <= set(api.CAPABILITIES), space.capabilities - set(api.CAPABILITIES)
    choices = space.choices()
    assert choices and all(c.size >= 1 and len(set(c.options)) == c.size for c in choices)
    assert len({c.name for c in choices}) == len(choices)
    assert space.default_task in TASKS
    assert space.default_ground_truths


@pytest.mark.parametrize("name", SPACES.names())
def test_space_sampling_is_seeded_and_valid(name):
    space = _space(name)
    a, b = _samples(space, seed=3), _samples(space, seed=3)
    assert [space.arch_id(x) for x in a] == [space.arch_id(x) for x in b]
    assert len({space.arch_id(x) for x in _samples(space, n=30, seed=4)}) > 1
    if space.supports(api.GRID):
        sizes = space.grid_shape()
        for arch in a:
            assert len(arch) == len(sizes) and all(0 <= int(o) < n for o, n in zip(arch, sizes))


@pytest.mark.parametrize("name", SPACES.names())
def test_space_format_parse_round_trip_and_stable_ids(name):
    space = _space(name)
    for arch in _samples(space):
        text = space.format(arch)
        assert isinstance(text, str) and text
        assert space.arch_id(space.parse(text)) == space.arch_id(arch) == space.arch_id(space.parse(arch))


@pytest.mark.parametrize("name", SPACES.names())
def test_space_key_formats_decode_its_own_keys_and_refuse_garbage_in_one_line(name):
    # What `wsbench score` reads: every space's arch ids and official forms decode in the auto format.
    space = _space(name)
    formats = space.key_formats()
    assert formats and all(f.description and callable(f.decode) for f in formats.values())
    for arch in _samples(space):
        for key in (space.arch_id(arch), space.format(arch)):
            assert space.arch_id(space.decode_key(key)) == space.arch_id(arch)
    with pytest.raises(WsbenchError) as e:
        space.decode_key("not an architecture")
    assert "\n" not in str(e.value)
    with pytest.raises(WsbenchError, match="unknown key format"):
        space.decode_key(space.arch_id(_samples(space)[0]), "no-such-format")


@pytest.mark.parametrize("name", SPACES.names())
def test_space_rejects_bad_architectures_in_one_line(name):
    space = _space(name)
    for bad in ("not an architecture", "|||", 12345):
        with pytest.raises(WsbenchError) as e:
            space.arch_id(space.parse(bad))
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("name", SPACES.names())
def test_space_costs_are_consistent(name):
    space = _space(name)
    for arch in _samples(space):
        cost = space.cost(arch)
        assert math.isfinite(cost.params_m) and cost.params_m > 0
        if space.supports(api.HAS_FLOPS):
            assert math.isfinite(cost.flops_m) and cost.flops_m > 0
        # A wider network never has fewer parameters.
        wide = {k: 2 * v for k, v in space.smoke_network.items()}
        assert space.cost(arch, **wide).params_m >= space.cost(arch, **space.smoke_network).params_m
    facts = space.describe_arch(_samples(space, n=1)[0])
    assert facts and all(isinstance(k, str) for k in facts)


@pytest.mark.parametrize("name", SPACES.names())
def test_space_network_config_is_checked(name):
    space = _space(name)
    assert set(space.smoke_network) <= set(space.network_defaults)
    assert space.network_config({}) == dict(space.network_defaults)
    with pytest.raises(WsbenchError, match="unknown key"):
        space.network_config({"no_such_key": 1})
    key = next(iter(space.network_defaults))
    for bad in (0, -1, 1.5, "4", True):
        with pytest.raises(WsbenchError, match=f"{key}: must be a positive integer"):
            space.network_config({key: bad})


@pytest.mark.parametrize("name", [n for n in SPACES.names() if _space(n).supports(api.ISOMORPHISM)])
def test_isomorphism_representatives_are_distinct_members(name):
    space = _space(name)
    classes = space.isomorphism_classes()
    reps = space.unique_representatives()
    assert len(reps) == len(classes) and len({space.arch_id(r) for r in reps}) == len(reps)
    assert all(c[0] == r for c, r in zip(classes, reps))
    if space.supports(api.ENUMERABLE):
        assert sum(len(c) for c in classes) == len(space.all_archs()) == space.num_archs


@pytest.mark.parametrize("name", SPACES.names())
def test_capability_methods_exist_where_declared(name):
    space = _space(name)
    needs = {
        api.ENUMERABLE: "all_archs",
        api.ISOMORPHISM: "isomorphism_classes",
        api.STANDALONE: "build_network",
        api.GROUND_TRUTH_ARCHS: "ground_truth_archs",
    }
    for cap, method in needs.items():
        if space.supports(cap):
            assert callable(getattr(space, method, None)), f"{name} declares {cap} but has no {method}"


# ------------------------------------------------------------------------------------- tasks


@pytest.mark.parametrize("name", TASKS.names())
def test_task_contract(name):
    task = TASKS.get(name)
    fields = task.score_fields
    assert fields and len({f.name for f in fields}) == len(fields)
    assert len(estimators(fields)) == len(fields)
    assert task.primary() is fields[0] and estimator_name(task.field(fields[0].name)) in estimators(fields)
    g = torch.Generator().manual_seed(0)
    x, y = task.synthetic_batch(8, g)
    out = torch.randn(8, task.spec().outputs, generator=g)
    loss = task.loss(out, y)
    assert loss.dim() == 0 and math.isfinite(float(loss))
    assert 0 <= int(task.correct(out, y)) <= 8
    # A perfect predictor scores best on every field, a constant one worse.
    perfect = torch.nn.functional.one_hot(y, task.spec().outputs).float() * 50

    class Oracle(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits, self.w = logits, torch.nn.Parameter(torch.zeros(()))

        def forward(self, x, arch):
            return self.logits + 0 * self.w

    good = task.evaluate(Oracle(perfect), None, [(x, y)])
    bad = task.evaluate(Oracle(torch.zeros_like(perfect)), None, [(x, y)])
    assert set(good) == {f.name for f in fields}
    for f in fields:
        assert (good[f.name] > bad[f.name]) == f.higher_is_better, f.name


# -------------------------------------------------------------------- space x strategy pairs


#: The ground truth a strategy that reads one (the seed paper's oracle tricks) gets here, where the
#: space's default is slow to load: NB101's hash20k maps hashes through the 423k-cell enumeration
#: (minutes on a fresh cache); curves1k carries its cells.
QUICK_GROUND_TRUTH = {"nb101": ["curves1k", "cifar10", "valid", "accuracy@108", "one-run"]}


def _train_two_steps_and_score(space_name, strategy_name):
    space = _space(space_name)
    task = TASKS.get(space.default_task)
    torch.manual_seed(0)
    cls = STRATEGIES.get(strategy_name)
    options = (
        {"ground_truth": QUICK_GROUND_TRUTH[space_name]}
        if "ground_truth" in cls.defaults and space_name in QUICK_GROUND_TRUTH
        else {}
    )
    strategy = cls(space, numpy_stream(0, "arch"), **options)
    model = space.build_supernet(space.smoke_network, task.spec(), seed=0)
    model = strategy.bind(model, 2, 1)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    before = [p.detach().clone() for p in params]
    for step in range(2):
        x, y = task.synthetic_batch(8, g)
        strategy.before_step(step, model, opt)
        if strategy.needs_arch_data:
            strategy.arch_step(step, model, *task.synthetic_batch(8, g), task.loss)
        opt.zero_grad(set_to_none=True)
        for arch in training_views(model, strategy.paths(step), x, y, task.loss):
            out = model(x, arch)
            loss = strategy.path_loss(arch, out, y, task)
            assert torch.isfinite(loss)
            loss.backward()
            if strategy.wants_feedback:
                strategy.observe(step, arch, float(loss.detach()), 50.0)
        opt.step()
    assert any(not torch.equal(a, p.detach()) for a, p in zip(before, params)), "two steps changed no weight"
    archs = _samples(space, n=2, seed=1)
    batches = [task.synthetic_batch(8, g) for _ in range(2)]
    scores = score_architectures(
        model, archs, [space.arch_id(a) for a in archs], batches, "recalibrate", calib_batches=batches[:1], task=task
    )
    assert list(scores.columns) == ["arch", *(f.name for f in task.score_fields)]
    assert len(scores) == 2 and np.isfinite(scores.drop(columns="arch").to_numpy()).all()
    chosen = strategy.selected()
    if chosen is not None:
        space.arch_id(chosen)


@pytest.mark.parametrize("pair", [p for p in PAIRS if p.allowed], ids=lambda p: f"{p.space}-{p.strategy}")
def test_allowed_pair_trains_two_steps_and_scores_two_architectures(pair):
    _train_two_steps_and_score(pair.space, pair.strategy)


@pytest.mark.parametrize("pair", [p for p in PAIRS if not p.allowed], ids=lambda p: f"{p.space}-{p.strategy}")
def test_refused_pair_says_why_in_one_line(pair):
    assert pair.reason and "\n" not in pair.reason
    assert f"strategy {pair.strategy!r} needs" in pair.reason and f"space {pair.space!r}" in pair.reason


def test_every_strategy_runs_somewhere_and_every_space_runs_spos():
    assert {p.strategy for p in PAIRS if p.allowed} == set(STRATEGIES.names())
    assert all(p.allowed for p in PAIRS if p.strategy == "spos")
