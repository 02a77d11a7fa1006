"""Matrix files: which cells (space x strategy x seed, under a protocol) one job runs.

A matrix is a strict TOML file (read with the standard library's ``tomllib``). Every key is
checked: an unknown key, an unknown plugin name or a bad value is a one-line error naming the
file and the key. Schema::

    name = "quick"              # optional; default: the file's stem
    description = "..."         # optional
    seeds = [0, 1]              # required: distinct integers >= 0
    device = "cpu"              # cpu | cuda | auto (cuda when a GPU is visible); default cpu
    workers = 1                 # cells run at once (worker processes; per GPU on a GPU); default 1
    data = "/path/to/data"      # optional: overrides WSBENCH_DATA for the run (relative: to this file)
    baselines = ["random", "synflow"]  # optional: training-free baselines reported beside the
                                # supernets (params is always there); names from harness.baselines

    [[spaces]]                  # one or more
    name = "nb201"              # a registered search space
    protocol = "quick"          # a registered Protocol
    overrides = { epochs = 20, snapshot_epochs = [18, 20], task_options = { subset = 5000 } }
                                # any Protocol field, type-checked by its declared rule, validated by
                                # Protocol; ``network`` and ``task_options`` merge onto the protocol's
                                # (data settings are task options, checked by the task when the matrix loads);
                                # without ``name`` the protocol becomes "<protocol>+<matrix name>"
    ground_truths = [["analog", "cifar10", "test", "accuracy", "as-published"]]
                                # optional: (source, dataset, split, metric, seed_reduction) each;
                                # default: the space's defaults

    [[strategies]]              # one or more
    name = "spos"               # a registered strategy
    label = "spos-deiso"        # optional (default: name); tells option variants apart in reports
    options = { sampling = "deisomorphic" }   # the strategy's options, checked by the strategy
    spaces = ["nb201"]          # optional: default every space of the matrix; "nb201/fewshot-oneshot"
                                # names one [[spaces]] entry (space/protocol, as its table names it):
                                # how a recipe's strategy is paired with its own protocol

TOML has no null, so settings whose default is ``None`` (``eval_images``, ``archset_n``,
``grad_clip``, the task option ``subset``) can be set to a value but not back to ``None``. The matrix's
``data`` folder is not part of a cell's identity (the cell records its data source and sha256
in ``config.json``). Shipped matrices live in the repository's ``matrices/`` folder and are
found by name (``resolve_matrix("quick")``).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.api.errors import UnknownNameError, WsbenchError, did_you_mean
from harness.api.protocol import coerce_changes, merged
from harness.api.protocol_files import read_toml
from harness.api.space import GTSpec
from harness.engine.cell import CellSpec
from harness.run.cluster_options import MAX_WORKERS, ExecutorOptions, check_device, parse_table

MATRICES_DIR = Path(__file__).resolve().parents[2] / "matrices"

TOP_KEYS = ("name", "description", "seeds", "device", "workers", "data", "baselines", "spaces", "strategies", "executor")
SPACE_KEYS = ("name", "protocol", "overrides", "ground_truths")
STRATEGY_KEYS = ("name", "label", "options", "spaces")
DEVICES = ("cpu", "cuda", "auto")

#: A matrix's name: it names the Slurm jobs folder (``<results>/jobs/<name>``) and the protocols
#: its overrides make (``<protocol>+<name>``), so it is a plain file name.
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=,-]{0,63}")
#: Upper bounds that catch typos, not limits of any machine: a seed is a 31-bit integer (what
#: every framework's seeding accepts), and a matrix lists at most this many seeds. (The workers'
#: bound, ``MAX_WORKERS``, is the pool's: ``cluster_options``.)
MAX_SEED = 2**31 - 1
MAX_SEEDS = 1000


@dataclass(frozen=True)
class SpaceEntry:
    """One ``[[spaces]]`` table: a space, its resolved protocol and its ground truths."""

    name: str
    protocol: Any  # harness.api.protocol.Protocol
    ground_truths: tuple[GTSpec, ...] | None = None
    given_protocol: str = ""  # the protocol as the table names it (before overrides rename it)

    def keys(self) -> tuple[str, ...]:
        """How a strategy's ``spaces`` may name this entry: the space, or ``space/protocol``
        (the protocol as the table names it, or as overrides renamed it)."""
        return (self.name, f"{self.name}/{self.given_protocol}", f"{self.name}/{self.protocol.name}")


@dataclass(frozen=True)
class StrategyEntry:
    """One ``[[strategies]]`` table: a strategy with options, the label reports use, its spaces."""

    name: str
    label: str
    options: dict[str, Any]
    spaces: tuple[str, ...]

    def runs_on(self, entry: SpaceEntry) -> bool:
        """Whether this strategy runs on a ``[[spaces]]`` entry (named by space, or space/protocol)."""
        return any(key in self.spaces for key in entry.keys())


@dataclass(frozen=True)
class Matrix:
    """A loaded, validated matrix file."""

    name: str
    description: str
    path: Path | None
    seeds: tuple[int, ...]
    device: str
    workers: int
    data: Path | None
    spaces: tuple[SpaceEntry, ...]
    strategies: tuple[StrategyEntry, ...]
    baselines: tuple[str, ...] = ()
    #: How the cells run (``[executor]``): the local worker pool, or Slurm jobs (``cluster_options``).
    executor: ExecutorOptions = field(default_factory=ExecutorOptions)
    _labels: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def resolved_device(self) -> str:
        """``cpu`` or ``cuda``: ``auto`` becomes ``cuda`` when a GPU is visible."""
        if self.device != "auto":
            return self.device
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def labelled_cells(self) -> list[tuple[str, CellSpec]]:
        """(strategy label, cell) pairs, ordered by space, strategy label, seed."""
        device = self.resolved_device()
        cells = []
        for sp in self.spaces:
            for st in sorted(self.strategies, key=lambda s: s.label):
                if not st.runs_on(sp):
                    continue
                for seed in self.seeds:
                    spec = CellSpec(sp.name, st.name, sp.protocol, seed, dict(st.options), sp.ground_truths, device)
                    cells.append((st.label, spec))
        cells.sort(key=lambda c: (c[1].space, c[0], c[1].seed))
        return cells

    def cells(self) -> list[CellSpec]:
        """The matrix's cells in a deterministic order (space, strategy label, seed)."""
        return [spec for _, spec in self.labelled_cells()]

    def labels(self) -> dict[str, str]:
        """Full cell hash -> strategy label, the ``labels=`` that store/report/stability take."""
        if not self._labels:
            self._labels.update({s.cell_hash(): lab for lab, s in self.labelled_cells()})
        return dict(self._labels)

    def label(self, spec: CellSpec) -> str:
        """The strategy label of one of this matrix's cells (falls back to the strategy name)."""
        return self.labels().get(spec.cell_hash(), spec.strategy)


def shipped_matrices() -> dict[str, Path]:
    """Matrices shipped with wsbench (``matrices/*.toml`` of the repository), by name."""
    return {p.stem: p for p in sorted(MATRICES_DIR.glob("*.toml"))}


def resolve_matrix(target: str | Path) -> Path:
    """A matrix file from a path, or a shipped matrix's name (``quick``, ``ci``, ``full``)."""
    path = Path(target).expanduser()
    if path.is_file():
        return path
    shipped = shipped_matrices()
    if str(target) in shipped:
        return shipped[str(target)]
    if path.suffix == ".toml" or "/" in str(target):
        raise WsbenchError(
            f"matrix file {target} not found; give an existing .toml path or a shipped matrix: {', '.join(shipped)}"
        )
    raise UnknownNameError(
        f"unknown matrix {str(target)!r}{did_you_mean(str(target), shipped)}; "
        f"shipped: {', '.join(shipped) or 'none'} (or give a path to a .toml file)"
    )


def load_matrix(target: str | Path) -> Matrix:
    """Read and validate a matrix file (a path or a shipped matrix's name)."""
    path = resolve_matrix(target)
    raw = read_toml(path, "a matrix is a TOML file")
    return parse_matrix(raw, path)


def parse_matrix(raw: dict[str, Any], path: Path | None = None) -> Matrix:
    """Validate a decoded matrix table; errors name ``path`` and the offending key."""
    src = str(path) if path is not None else "<matrix>"
    _check_keys(raw, TOP_KEYS, "the top level", src)
    name = _name(raw, path, src)
    description = _get(raw, "description", str, "", src)
    seeds = _seeds(raw, src)
    device = _get(raw, "device", str, "cpu", src)
    if device not in DEVICES:
        raise _fail(src, "device", f"must be one of {', '.join(DEVICES)}, got {device!r}{did_you_mean(device, DEVICES)}")
    workers = _get(raw, "workers", int, 1, src)
    if not 1 <= workers <= MAX_WORKERS:
        raise _fail(src, "workers", f"must be an integer in 1..{MAX_WORKERS}, got {workers}")
    data_path = _data_folder(raw, path, src)
    baselines = _baselines(raw, src)
    spaces = _spaces(raw, name, src)
    strategies = _strategies(raw, list(dict.fromkeys(key for s in spaces for key in s.keys())), src)
    matrix = Matrix(
        name=name,
        description=description,
        path=path,
        seeds=tuple(seeds),
        device=device,
        workers=workers,
        data=data_path,
        spaces=spaces,
        strategies=strategies,
        baselines=tuple(baselines),
        executor=parse_table(raw["executor"], src) if "executor" in raw else ExecutorOptions(),
    )
    check_device(matrix.executor, device, f"{src}: ")
    _check_distinct_cells(matrix, src)
    return matrix


def _fail(src: str, key: str, problem: str) -> WsbenchError:
    return WsbenchError(f"{src}: {key}: {problem}")


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: an error stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name(raw: dict[str, Any], path: Path | None, src: str) -> str:
    """The matrix's name (default: the file's stem), a plain file name: it names folders."""
    given = "name" in raw
    name = _get(raw, "name", str, path.stem if path is not None else "matrix", src)
    if not NAME_RULE.fullmatch(name) or ".." in name:
        fix = "rename it" if given else f'add name = "..." (the file name {name!r} is not one)'
        raise _fail(src, "name", f"{name!r} must be 1-64 letters, digits and _ . + = , - without '..' (it names folders); {fix}")
    return name


def _seeds(raw: dict[str, Any], src: str) -> list[int]:
    """The required ``seeds``: distinct integers in 0..MAX_SEED, at most MAX_SEEDS of them."""
    seeds = _get(raw, "seeds", list, None, src)
    if seeds is None:
        raise _fail(src, "seeds", "missing; add e.g. seeds = [0, 1]")
    if not seeds or any(type(s) is not int or not 0 <= s <= MAX_SEED for s in seeds):
        raise _fail(src, "seeds", f"must be a non-empty list of integers in 0..{MAX_SEED}, got {_short(seeds)}")
    if len(seeds) > MAX_SEEDS:
        raise _fail(src, "seeds", f"lists {len(seeds)} seeds; at most {MAX_SEEDS} (each is a cell per space and strategy)")
    if len(set(seeds)) != len(seeds):
        raise _fail(src, "seeds", f"{seeds!r} repeats a seed; list each seed once")
    return seeds


def _data_folder(raw: dict[str, Any], path: Path | None, src: str) -> Path | None:
    """The optional ``data`` folder (relative: to the matrix file), which must exist."""
    data = _get(raw, "data", str, None, src)
    if data is None:
        return None
    data_path = Path(data).expanduser()
    if not data_path.is_absolute() and path is not None:
        data_path = path.resolve().parent / data_path
    if not data_path.is_dir():
        raise _fail(src, "data", f"folder {data_path} does not exist; fix the path or remove the key to use WSBENCH_DATA")
    return data_path


def _baselines(raw: dict[str, Any], src: str) -> list[str]:
    """The optional ``baselines``, each a registered training-free baseline."""
    baselines = _get(raw, "baselines", list, [], src)
    from harness.baselines import BASELINES

    for b in baselines:
        if not isinstance(b, str) or b not in BASELINES:
            raise _fail(
                src,
                "baselines",
                f"unknown baseline {b!r}{did_you_mean(str(b), BASELINES.names())}; known: {', '.join(BASELINES.names())}",
            )
    if len(set(baselines)) != len(baselines):
        raise _fail(src, "baselines", f"{baselines!r} lists a baseline twice; list each once")
    return baselines


def _spaces(raw: dict[str, Any], matrix_name: str, src: str) -> tuple[SpaceEntry, ...]:
    """The ``[[spaces]]`` tables; one space may repeat, under other protocols only."""
    space_tables = _tables(raw, "spaces", src)
    spaces = tuple(_parse_space(t, f"spaces[{i}]", matrix_name, src) for i, t in enumerate(space_tables))
    # A space may appear under several protocols (e.g. one per channel-sharing rule); cells and
    # report rows are told apart by the protocol's name, so that pair must be unique.
    listed = [f"{s.name}/{s.protocol.name}" for s in spaces]
    if len(set(listed)) != len(listed):
        raise _fail(
            src,
            "spaces",
            f"a space is listed twice with the same protocol ({', '.join(listed)}); "
            "list it once, or give each variant its own overrides.name",
        )
    return spaces


def _strategies(raw: dict[str, Any], space_names: list[str], src: str) -> tuple[StrategyEntry, ...]:
    """The ``[[strategies]]`` tables, each label used once."""
    strategies = tuple(
        _parse_strategy(t, f"strategies[{i}]", space_names, src) for i, t in enumerate(_tables(raw, "strategies", src))
    )
    labels = [s.label for s in strategies]
    for i, lab in enumerate(labels):
        if lab in labels[:i]:
            raise _fail(src, f"strategies[{i}].label", f"{lab!r} is used twice; give each strategy variant its own label")
    return strategies


def _check_keys(table: dict[str, Any], allowed: tuple[str, ...], where: str, src: str) -> None:
    for key in table:
        if key not in allowed:
            raise UnknownNameError(
                f"{src}: unknown key {key!r} in {where}{did_you_mean(key, allowed)}; known: {', '.join(allowed)}"
            )


def _get(table: dict[str, Any], key: str, kind: type, default: Any, src: str, where: str = "") -> Any:
    if key not in table:
        return default
    value = table[key]
    # bool is an int subclass in Python; a TOML boolean is never a count.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise WsbenchError(f"{src}: {where}{key}: must be {_kind_name(kind)}, got {value!r} ({_toml_type(value)})")
    return value


def _tables(raw: dict[str, Any], key: str, src: str) -> list[dict[str, Any]]:
    tables = raw.get(key)
    if tables is None:
        raise WsbenchError(f"{src}: {key}: missing; add at least one [[{key}]] table")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise WsbenchError(f"{src}: {key}: must be one or more [[{key}]] tables, got {tables!r}")
    return tables


def _parse_space(t: dict[str, Any], where: str, matrix_name: str, src: str) -> SpaceEntry:
    from harness.api.ground_truth import GroundTruthQuery
    from harness.catalog import GROUND_TRUTHS, PROTOCOLS, SPACES

    _check_keys(t, SPACE_KEYS, where, src)
    name = _get(t, "name", str, None, src, f"{where}.")
    if name is None:
        raise WsbenchError(f'{src}: {where}.name: missing; name the search space, e.g. name = "nb201"')
    try:
        SPACES.get(name)
    except UnknownNameError as e:
        raise UnknownNameError(f"{src}: {where}.name: {e}") from None
    proto_name = _get(t, "protocol", str, None, src, f"{where}.")
    if proto_name is None:
        raise WsbenchError(f'{src}: {where}.protocol: missing; name a protocol, e.g. protocol = "quick"')
    try:
        protocol = PROTOCOLS.get(proto_name)
    except UnknownNameError as e:
        raise UnknownNameError(f"{src}: {where}.protocol: {e}") from None
    overrides = _get(t, "overrides", dict, {}, src, f"{where}.")
    if overrides:
        protocol = _overridden(protocol, overrides, SPACES.get(name), f"{where}.overrides", f"{proto_name}+{matrix_name}", src)
    try:  # the task's own checks (its split, parts and image counts), before any cell runs
        from harness.catalog import task_of

        task_of(SPACES.get(name), protocol.task).check_protocol(protocol)
    except WsbenchError as e:
        raise WsbenchError(f"{src}: {where}: {e}") from None
    _check_archset(SPACES.get(name), protocol, overrides, where, src)
    gts = _get(t, "ground_truths", list, None, src, f"{where}.")
    specs = None
    if gts is not None:
        specs = []
        for j, g in enumerate(gts):
            key = f"{where}.ground_truths[{j}]"
            if not isinstance(g, list) or len(g) != 5 or not all(isinstance(x, str) for x in g):
                raise WsbenchError(f"{src}: {key}: must be 5 strings [source, dataset, split, metric, seed_reduction], got {g!r}")
            try:
                cls = GROUND_TRUTHS.get(f"{name}/{g[0]}")
                cls().validate(GroundTruthQuery(name, *g))
            except UnknownNameError as e:
                raise UnknownNameError(f"{src}: {key}: {e}") from None
            specs.append(tuple(g))
        if not specs:
            raise WsbenchError(f"{src}: {where}.ground_truths: empty; list at least one or remove the key for the defaults")
        if len(set(specs)) != len(specs):
            raise WsbenchError(f"{src}: {where}.ground_truths: a ground truth is listed twice")
    return SpaceEntry(name, protocol, tuple(specs) if specs is not None else None, proto_name)


def _check_archset(space: Any, protocol: Any, overrides: dict[str, Any], where: str, src: str) -> None:
    """The archset every cell will score, checked now rather than when each cell starts.

    The kind's capability; a source only where a ground-truth archset reads one (set by the
    matrix with another kind it would have no effect); a source among the pools the space declares
    (``pools``: every grid space; a space without that list checks its source when a cell starts).
    """
    from harness.engine.archsets import NEEDS

    kind, source = protocol.archset, protocol.archset_source
    try:
        space.require(NEEDS[kind], f"archset {kind!r}")
    except WsbenchError as e:
        raise WsbenchError(f"{src}: {where}: {e}") from None
    if source is None:
        return
    if "archset_source" in overrides and not kind.startswith("ground-truth"):
        raise WsbenchError(
            f"{src}: {where}.overrides.archset_source: {source!r} has no effect with archset {kind!r}: only the "
            "ground-truth archsets (ground-truth, ground-truth-sample) read a source; remove it or change archset"
        )
    pools = getattr(space, "pools", None)
    if isinstance(pools, Mapping) and source not in pools:
        raise UnknownNameError(
            f"{src}: {where}: archset_source {source!r} is not a ground-truth pool of space {space.name!r}"
            f"{did_you_mean(str(source), list(pools))}; its pools: {', '.join(pools)}"
        )


def _overridden(protocol: Any, overrides: dict[str, Any], space: Any, where: str, default_name: str, src: str) -> Any:
    """``protocol`` with a matrix's overrides: type-checked by the fields' rules, network and task options merged."""
    try:
        changes = merged(protocol, {"name": default_name, **coerce_changes(overrides, where)})
    except WsbenchError as e:
        raise WsbenchError(f"{src}: {e}") from None
    if "network" in overrides:  # checked by the space, with the override's own key in the error
        try:
            space.network_config(changes["network"], where=f"{where}.network")
        except WsbenchError as e:
            raise WsbenchError(f"{src}: {e}") from None
    try:
        return protocol.replace(**changes)
    except WsbenchError as e:
        hint = "; set overrides.snapshot_epochs too" if "snapshot" in str(e) and "snapshot_epochs" not in overrides else ""
        raise WsbenchError(f"{src}: {where}: {e}{hint}") from None


def _parse_strategy(t: dict[str, Any], where: str, space_names: list[str], src: str) -> StrategyEntry:
    import numpy as np

    from harness.catalog import SPACES, STRATEGIES

    _check_keys(t, STRATEGY_KEYS, where, src)
    name = _get(t, "name", str, None, src, f"{where}.")
    if name is None:
        raise WsbenchError(f'{src}: {where}.name: missing; name the strategy, e.g. name = "spos"')
    try:
        cls = STRATEGIES.get(name)
    except UnknownNameError as e:
        raise UnknownNameError(f"{src}: {where}.name: {e}") from None
    label = _get(t, "label", str, name, src, f"{where}.")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]*", label):
        raise WsbenchError(f"{src}: {where}.label: {label!r} must be letters, digits and _ . + - (it names report rows)")
    options = _get(t, "options", dict, {}, src, f"{where}.")
    spaces = _get(t, "spaces", list, [n for n in space_names if "/" not in n], src, f"{where}.")
    if not spaces:
        raise WsbenchError(f"{src}: {where}.spaces: empty; list the spaces it runs on or remove the key for all")
    if len(set(map(str, spaces))) != len(spaces):
        raise WsbenchError(f"{src}: {where}.spaces: {spaces!r} lists a space twice; list each once")
    for s in spaces:
        if s not in space_names:
            raise UnknownNameError(
                f"{src}: {where}.spaces: {s!r} is not a space of this matrix{did_you_mean(str(s), space_names)}; "
                f"its spaces: {', '.join(space_names)}"
            )
    # The strategy checks its own options (names and values) when built; do it now, not mid-run.
    for s in spaces:
        try:
            cls(SPACES.get(s.split("/")[0]), np.random.default_rng(0), **options)
        except WsbenchError as e:
            raise WsbenchError(f"{src}: {where}.options: {e}") from None
    return StrategyEntry(name, label, dict(options), tuple(spaces))


def _check_distinct_cells(matrix: Matrix, src: str) -> None:
    """Two strategy entries that resolve to the same config would train the same cells twice."""
    seen: dict[str, str] = {}
    first_seed = matrix.seeds[:1]
    probe = dataclasses.replace(matrix, seeds=first_seed)
    for label, spec in probe.labelled_cells():
        h = spec.cell_hash()
        if h in seen:
            raise WsbenchError(
                f"{src}: strategies {seen[h]!r} and {label!r} resolve to the same configuration on {spec.space}; remove one"
            )
        seen[h] = label


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", list: "a list", dict: "a table"}.get(kind, kind.__name__)


def _hint_name(hint: Any) -> str:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return " or ".join(_hint_name(a) for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return f"a list of {_hint_name(typing.get_args(hint)[0]).removeprefix('a ').removeprefix('an ')}s"
    if typing.get_origin(hint) in (Mapping, collections.abc.Mapping):
        return "a table"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def _toml_type(value: Any) -> str:
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array", dict: "table"}.get(
        type(value), type(value).__name__
    )
