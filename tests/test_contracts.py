"""Contract tests driven by the registries: a new space, task, strategy or protocol is tested once declared.

- every space passes the Space contract (choices, sampling, parse/format round trip, arch_id
  stability, costs, network config, declared capabilities, a smoke protocol beside it);
- every task passes the Task contract (score fields, loss, evaluation, synthetic data) on synthetic batches;
- every protocol is valid for the spaces declared beside it (network, task options, archset);
- every ground-truth source loads every query it offers from its own example (``write_example``),
  refuses undeclared ones in one line, and feeds its space's ground-truth archsets;
- every space x strategy pair the capabilities allow trains two steps (``harness.engine.step``)
  and scores two architectures; every refused pair is refused with a one-line reason before anything runs.
None of them reads the data folder: ground truths (the oracle tricks' too) come from a folder the
sources' examples fill, whatever ``WSBENCH_DATA`` says.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch

from harness.api import space as api
from harness.api.errors import DataMissingError, UnknownNameError, WsbenchError
from harness.api.ground_truth import GroundTruthQuery, GroundTruthTable, is_percentage
from harness.api.task import estimator_name, estimators
from harness.catalog import (
    GROUND_TRUTHS,
    PROTOCOL_SPACES,
    PROTOCOLS,
    SPACES,
    STRATEGIES,
    TASKS,
    load_ground_truth,
    pairings,
    task_of,
)
from harness.data import ground_truth_files
from harness.engine.archsets import NEEDS
from harness.engine.evaluator import score_architectures
from harness.engine.step import Tally, Trainer, build_training, train_step
from harness.seeding import numpy_stream
from harness.settings import DATA_ENV

PAIRS = pairings()
GROUND_TRUTH_NAMES = GROUND_TRUTHS.names()


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
    if not task.trainable:  # imported scores: a cell holds them, nothing trains on them
        return
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


# ---------------------------------------------------------------------------------- protocols

PROTOCOL_CASES = [(name, space) for name in PROTOCOLS.names() for space in PROTOCOL_SPACES[name]]


@pytest.mark.parametrize("name, space_name", PROTOCOL_CASES, ids=[f"{n}-{s}" for n, s in PROTOCOL_CASES])
def test_protocol_is_valid_for_the_spaces_beside_it(name, space_name):
    """Every declared protocol resolves on its folder's spaces: network, task options, archset, a hashable config."""
    protocol, space = PROTOCOLS.get(name), _space(space_name)
    assert protocol.name == name and protocol.description
    network = protocol.network_for(space)
    assert set(space.network_defaults) <= set(network)
    task = task_of(space, protocol.task)
    assert task.trainable
    task.check_protocol(protocol)  # options, parts and sizes, before any data is read
    space.require(NEEDS[protocol.archset], f"protocol {name!r}")
    config = protocol.to_dict(space, task)
    assert json.loads(json.dumps(config, sort_keys=True)) == json.loads(json.dumps(config))
    assert config["name"] == name and set(protocol.snapshot_epochs) <= set(range(1, protocol.epochs + 1))


@pytest.mark.parametrize("name", SPACES.names())
def test_space_has_a_smoke_protocol_beside_it_whose_synthetic_data_trains(name):
    """The space's smoke protocol is declared in its own folder, and its task's synthetic data trains a step."""
    space = _space(name)
    protocol = PROTOCOLS.get(space.smoke_protocol)
    assert name in PROTOCOL_SPACES[protocol.name]
    task = task_of(space, protocol.task).configure(protocol)
    data = task.synthetic_data(protocol, 0, torch.device("cpu"))
    model = space.build_supernet(protocol.network_for(space), task.spec(), seed=0)
    params, opt, sched = build_training(protocol, model, 1, 1)
    strategy = STRATEGIES.get("spos")(space, numpy_stream(0, "arch"))
    tally = Tally.zeros(torch.device("cpu"))
    train_step(Trainer(model, params, strategy, task, opt, sched, protocol.grad_clip), 0, next(iter(data.train)), tally=tally)
    assert tally.steps == 1 and math.isfinite(float(tally.loss_sum))
    assert data.eval_batches and (data.calib_batches or not space.supports(api.HAS_BN))


# ------------------------------------------------------------------- ground-truth sources


def _source_rng(name: str) -> np.random.Generator:
    """One stream per source: adding a source leaves every other example as it was."""
    return np.random.default_rng(zlib.crc32(name.encode()))


def _write_examples(root: Path) -> dict[str, str]:
    """Every registered source's example under ``root``; name -> why, for those that cannot write one here."""
    cannot = {}
    for name in GROUND_TRUTH_NAMES:
        try:
            GROUND_TRUTHS.get(name).write_example(root, _source_rng(name))
        except DataMissingError as e:  # an optional package (nas_201_api, nats_bench) is absent
            cannot[name] = str(e)
    return cannot


def _forget_ground_truths() -> None:
    """Drop every table, file and cell read so far: the next load reads the folder ``WSBENCH_DATA`` names now."""
    ground_truth_files.clear_cache()
    for name in GROUND_TRUTH_NAMES:
        clear = getattr(importlib.import_module(GROUND_TRUTHS.get(name).__module__), "clear_cache", None)
        if clear is not None:
            clear()
    # NB101 resolves module hashes through the cells of the first curves1k file it read, cached for the
    # process: stale cells would send the examples' hashes to the 423k-cell enumeration (minutes).
    from spaces.nb101.space import _stored_cells

    _stored_cells.cache_clear()


@contextmanager
def _data_folder(root: Path) -> Iterator[Path]:
    """``WSBENCH_DATA=root`` with the sources' own path settings unset; nothing read before or here outlives it."""
    settings = {getattr(GROUND_TRUTHS.get(name), "ENV", None) for name in GROUND_TRUTH_NAMES} - {None}
    with mock.patch.dict(os.environ, {DATA_ENV: str(root)}):
        for setting in settings:
            os.environ.pop(setting, None)
        _forget_ground_truths()
        try:
            yield root
        finally:
            _forget_ground_truths()


@pytest.fixture(scope="module")
def example_root(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A data folder every source's example filled (written once per module), and the sources that could not write one."""
    root = tmp_path_factory.mktemp("ground-truth-examples")
    return root, _write_examples(root)


@pytest.fixture
def example_data(example_root) -> Iterator[tuple[Path, dict[str, str]]]:
    """The example folder as ``WSBENCH_DATA`` for one test."""
    root, cannot = example_root
    with _data_folder(root):
        yield root, cannot


def _example_source(name: str, example_data: tuple[Path, dict[str, str]]) -> Any:
    """The source class of ``name``; a skip where its example could not be written (an optional package absent)."""
    cannot = example_data[1]
    if name in cannot:
        pytest.skip(f"{name} cannot write its example here: {cannot[name]}")
    return GROUND_TRUTHS.get(name)


def _queries(cls: Any) -> list[GroundTruthQuery]:
    """Every (dataset, split, metric) the source offers, under every seed reduction."""
    return [
        GroundTruthQuery(cls.space, cls.source, dataset, split, metric, reduction)
        for (dataset, split), metrics in cls.options.items()
        for metric in metrics
        for reduction in cls.seed_reductions
    ]


def _load(query: GroundTruthQuery) -> GroundTruthTable:
    """The table of ``query``, through the catalog as every caller loads one."""
    return load_ground_truth(query.space, query.source, query.dataset, query.split, query.metric, query.seed_reduction)


def _check_table(cls: Any, query: GroundTruthQuery, table: GroundTruthTable) -> None:
    """The table answers the query: distinct ids, finite values in the metric's range, the declared direction."""
    assert table.query == query and len(table) > 0 and len(set(table.arch_ids)) == len(table)
    assert table.higher_is_better is cls.higher_is_better[query.metric]
    values = table.values
    assert np.isfinite(values).all()
    if is_percentage(query.metric):
        assert 0 <= values.min() and values.max() <= 100 and values.max() > 1, (query.label(), values.min(), values.max())
    if "perplexity" in query.metric:
        assert values.min() >= 1, (query.label(), values.min())


@pytest.mark.parametrize("name", GROUND_TRUTH_NAMES)
def test_ground_truth_example_writes_only_what_its_source_reads(name, tmp_path):
    cls = GROUND_TRUTHS.get(name)
    try:
        cls.write_example(tmp_path, _source_rng(name))
    except DataMissingError as e:
        pytest.skip(f"{name} cannot write its example here: {e}")
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    with _data_folder(tmp_path):
        ok, where = cls().available()
    assert ok, f"{name} is not available on its own example ({where}); give it a write_example"
    reads = [Path(p) for p in where.split(", ")]
    strays = [p for p in written if not any(p == r or r in p.parents for r in reads)]
    assert not strays, f"{name}'s example wrote files its source does not read: {strays}"


@pytest.mark.parametrize("name", GROUND_TRUTH_NAMES)
def test_ground_truth_source_loads_every_query_it_offers_from_its_example(name, example_data):
    cls = _example_source(name, example_data)
    space = SPACES.get(cls.space)
    ok, why = cls().available()
    assert ok, why
    queries = _queries(cls)
    assert queries and {m for ms in cls.options.values() for m in ms} <= set(cls.higher_is_better)
    tables = {q: _load(q) for q in queries}
    for query, table in tables.items():
        _check_table(cls, query, table)
    _forget_ground_truths()  # the second load reads the files again: a stable fingerprint, not a cached table
    assert {q: _load(q).fingerprint for q in queries} == {q: t.fingerprint for q, t in tables.items()}
    for arch_id in sorted(set().union(*(t.arch_ids for t in tables.values()))):
        assert space.arch_id(space.parse(arch_id)) == arch_id


@pytest.mark.parametrize("name", GROUND_TRUTH_NAMES)
def test_ground_truth_source_refuses_undeclared_queries_in_one_line(name, example_data):
    cls = _example_source(name, example_data)
    good = _queries(cls)[0]
    for field in ("dataset", "split", "metric", "seed_reduction"):
        bad = dataclasses.replace(good, **{field: f"no-such-{field}"})
        with pytest.raises(UnknownNameError) as e:
            _load(bad)
        assert "\n" not in str(e.value) and f"no-such-{field}" in str(e.value), str(e.value)


def _pools_of(space: Any, source: str) -> list[str]:
    """The space's archset pools drawn from ``source`` (grid spaces name them; others take the source's name)."""
    pools = getattr(space, "pools", None)
    return [pool for pool, spec in pools.items() if spec[0] == source] if pools is not None else [source]


@pytest.mark.parametrize(
    "name", [n for n in GROUND_TRUTH_NAMES if _space(GROUND_TRUTHS.get(n).space).supports(api.GROUND_TRUTH_ARCHS)]
)
def test_ground_truth_archs_are_the_parsed_architectures_of_a_table(name, example_data):
    cls = _example_source(name, example_data)
    space = SPACES.get(cls.space)
    tables = [sorted(_load(q).arch_ids) for q in _queries(cls)]
    checked = 0
    for pool in _pools_of(space, cls.source):
        try:
            archs = space.ground_truth_archs(pool)
        except UnknownNameError:
            continue  # a source the space draws no archset from (NB101's tfrecord)
        ids = [space.arch_id(a) for a in archs]
        assert ids == sorted(ids) and ids in tables, f"{name}: pool {pool!r} is not the architectures of one of its tables"
        checked += 1
    if not checked:
        pytest.skip(f"{name} is none of space {space.name!r}'s archset pools")


# -------------------------------------------------------------------- space x strategy pairs


def _train_two_steps_and_score(space_name, strategy_name):
    space = _space(space_name)
    protocol = PROTOCOLS.get(space.smoke_protocol)
    task = task_of(space, protocol.task).configure(protocol)
    torch.manual_seed(0)
    strategy = STRATEGIES.get(strategy_name)(space, numpy_stream(0, "arch"))
    model = strategy.bind(space.build_supernet(space.smoke_network, task.spec(), seed=0), 2, 1)
    params, opt, sched = build_training(protocol, model, 2, 1)
    trainer = Trainer(model, params, strategy, task, opt, sched, protocol.grad_clip)
    g = torch.Generator().manual_seed(0)
    before = [p.detach().clone() for p in params]
    tally = Tally.zeros(torch.device("cpu"))
    for step in range(2):
        arch_batch = task.synthetic_batch(8, g) if strategy.needs_arch_data else None
        train_step(trainer, step, task.synthetic_batch(8, g), arch_batch, tally)
    assert math.isfinite(float(tally.loss_sum)) and tally.steps == 2
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
def test_allowed_pair_trains_two_steps_and_scores_two_architectures(pair, example_data):
    # The oracle tricks read the space's default ground truth: here, its source's example.
    _train_two_steps_and_score(pair.space, pair.strategy)


@pytest.mark.parametrize("pair", [p for p in PAIRS if not p.allowed], ids=lambda p: f"{p.space}-{p.strategy}")
def test_refused_pair_says_why_in_one_line(pair):
    assert pair.reason and "\n" not in pair.reason
    assert f"strategy {pair.strategy!r} needs" in pair.reason and f"space {pair.space!r}" in pair.reason


def test_every_strategy_runs_somewhere_and_every_space_runs_spos():
    assert {p.strategy for p in PAIRS if p.allowed} == set(STRATEGIES.names())
    assert all(p.allowed for p in PAIRS if p.strategy == "spos")
