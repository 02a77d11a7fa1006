"""Learning-curve prediction and "train briefly" estimators on NAS-Bench-101 (issue 17 item 6).

Baker, Gupta, Raskar and Naik, "Accelerating Neural Architecture Search using Performance
Prediction" (2017), predict a network's final accuracy from its architecture and the first part of
its learning curve with simple frequentist regressors (nu-SVR did best), trained on a few fully
trained networks. Here the same idea runs on the 1,000 cells of ``nb101/nb101-1k-curves.json``
(read through ``spaces.nb101.ground_truth.Curves1kSource``), each scored against its 108-epoch
CIFAR-10 validation accuracy (one training run per cell and budget).

What the NB101 numbers are. In NAS-Bench-101 the 4-, 12-, 36- and 108-epoch accuracies are
SEPARATE trainings: each run anneals its learning rate (cosine by step) to zero over its own budget
(the benchmark's ``train_epochs`` setting), so ``accuracy@12`` is the end of a compressed 12-epoch
schedule, not epoch 12 of the 108-epoch run. A "partial curve" (4, 12, 36) therefore costs the
SUM of those runs, and the points are not a prefix of one curve.

Estimators, one score per cell, higher = better predicted 108-epoch accuracy:

* ``train-E`` (E = 4, 12, 36): the accuracy of the E-epoch run used directly ("train briefly").
* ``svr@E``: nu-SVR on architecture features plus the curve points at budgets <= E and their
  successive differences (see ``FEATURES``); ``svr-arch``: the same on architecture features only
  (a control: what the curve adds); ``params``: trainable parameters (log), the classic baseline.

SVR protocol (Baker's setting: a few fully trained networks teach the predictor). The cells are
split into K folds by a seeded generator of its own. For fold k a regressor is fitted on
``n_train = round(train_fraction * n)`` cells drawn from the OTHER folds, whose 108-epoch accuracy
is taken as known, and predicts fold k; so every cell gets exactly one out-of-fold prediction,
from a regressor that never saw it, and every regressor saw only ``n_train`` fully trained cells.
The metrics are then measured over all n cells on those out-of-fold predictions. Model: standardized
features, RBF ``NuSVR``, hyperparameters chosen per fold by a 5-fold inner cross-validation (mean
squared error) on that fold's training cells over ``SVR_GRID``.

Cost, in device hours as NAS-Bench-101 recorded them (TPU v2 seconds / 3600). The file records only
the 108-epoch run's time (``final_training_time``); a budget-E run is APPROXIMATED as
``time108 * E / 108`` (the official benchmark has per-budget times we do not hold; within one run
its halfway time is close to half the final time, so training time is close to linear in epochs).
Then, summed over cells:

* ``train-E``: E/108 of every cell's 108-epoch time;
* ``svr@E``: the 108-epoch time of ``n_train`` training cells (the mean over folds of their sum:
  the cost of one deployment of the protocol) plus, for EVERY cell, the runs its features need,
  sum(B <= E)/108 of its time (4 + 12 = 16 epochs for ``svr@12``);
* ``svr-arch``: the ``n_train`` fully trained cells only; ``params``: nothing.

Full training of all cells is the reference; speed-up = full cost / estimator cost (Baker et al.
report up to about 6x from early stopping with their predictor).
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import metrics as M
from harness.analysis.limits import check_bootstrap
from harness.api.errors import CorruptDataError, WsbenchError, positive_int
from harness.api.ground_truth import GroundTruthQuery
from harness.fileio import atomic_write_text
from harness.settings import writable_folder
from spaces.nb101 import ground_truth as gt
from spaces.nb101.encoding import OPS, Cell

SPACE = "nb101"
BUDGETS = (4, 12, 36)
FULL_EPOCHS = 108
DEVICE = "TPU v2 (NAS-Bench-101's recorded training time)"
#: Architecture features, in column order.
ARCH_FEATURES = ("num_vertices", "num_edges", "n_conv3x3", "n_conv1x1", "n_maxpool", "depth", "log_params")
#: nu-SVR hyperparameter grid searched per fold (gamma as a multiple of 1 / n_features, i.e. of
#: sklearn's "scale" on standardized features).
SVR_GRID = {"C": (1.0, 10.0), "nu": (0.25, 0.5, 0.75), "gamma_factor": (0.5, 1.0, 2.0)}
INNER_FOLDS = 3
DEFAULT_FOLDS = 10
DEFAULT_TRAIN_FRACTION = 0.1
HIT_FRACTION = 0.10
_FOLD_STREAM = b"wsbench.learning_curves.folds"
_INNER_STREAM = b"wsbench.learning_curves.inner-cv"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class CurveData:
    """The 1k cells: ids, cells, accuracy (percent) per budget, 108-epoch time (s) and parameters."""

    keys: tuple[str, ...]
    cells: tuple[Cell, ...]
    accuracy: dict[int, np.ndarray]
    seconds108: np.ndarray
    params: np.ndarray
    provenance: dict[str, Any]

    def __len__(self) -> int:
        return len(self.keys)

    def take(self, indices: Sequence[int]) -> CurveData:
        """The same data restricted to some cells (in the given order), e.g. a fast subset for tests."""
        idx = np.asarray(indices, dtype=np.int64)
        return CurveData(
            keys=tuple(self.keys[i] for i in idx),
            cells=tuple(self.cells[i] for i in idx),
            accuracy={e: v[idx] for e, v in self.accuracy.items()},
            seconds108=self.seconds108[idx],
            params=self.params[idx],
            provenance={**self.provenance, "subset_of_cells": len(idx)},
        )


def _accuracy_query(epochs: int) -> GroundTruthQuery:
    return GroundTruthQuery(SPACE, "curves1k", "cifar10", "valid", f"accuracy@{epochs}", "one-run")


def _raw_column(obj: Any, name: str, n: int, path: Path) -> np.ndarray:
    """One positive numeric column of the parallel-list file, checked for length and finiteness."""
    try:
        col = np.asarray(obj[name], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptDataError(f"{path} lacks the numeric list {name!r} ({type(e).__name__}: {e}); copy the file again") from None
    if col.shape != (n,) or not np.all(np.isfinite(col)) or np.any(col <= 0):
        raise CorruptDataError(f"{path}: {name!r} must hold {n} positive numbers, one per cell; copy the file again")
    return col


def _stored_cells(source: gt.Curves1kSource, keys: Sequence[str], path: Path) -> tuple[Cell, ...]:
    """The cell the file stores for each key, in key order; a damaged cell list is a one-line error."""
    try:
        by_hash = source.cells()
        return tuple(by_hash[k] for k in keys)
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptDataError(
            f"{path} lacks usable 'adjacency' / 'operations' lists ({type(e).__name__}: {e}); copy the file again"
        ) from None


class _RepeatedKey(Exception):
    """A JSON object of the curves file names one key twice."""


def _refuse_repeated(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _RepeatedKey(key)
        seen[key] = value
    return seen


def check_curves_file(path: Path, obj: Any) -> None:
    """What the source's parse lets through and the estimators need: each JSON key once, each cell once.

    A plain JSON reader keeps the last of two equal keys silently (a second time column would
    replace the first), and a cell listed twice would be scored twice (and break the tables).
    """
    try:
        json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_refuse_repeated)
    except _RepeatedKey as e:
        raise CorruptDataError(f"{path}: the key {e.args[0]!r} appears twice in one JSON object; the file is damaged") from None
    keys = obj.get("key") if isinstance(obj, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CorruptDataError(f"{path} lacks the list 'key' of module hashes; copy the file again")
    seen: set[str] = set()
    for key in keys:
        if key in seen:
            raise CorruptDataError(f"{path}: cell {key} is listed twice in 'key'; the file is damaged: copy it again")
        seen.add(key)


def load_curves() -> CurveData:
    """Read the 1k curves file through the NB101 ground-truth source (its path, checksum and checks)."""
    source = gt.Curves1kSource()
    path = source.path()
    raw, _ = source.read()  # checksum-verified and cached: the tables below reuse this parse
    check_curves_file(path, raw)
    tables = {e: source.load(_accuracy_query(e)) for e in (*BUDGETS, FULL_EPOCHS)}
    keys = tables[FULL_EPOCHS].arch_ids
    if any(t.arch_ids != keys for t in tables.values()):
        raise CorruptDataError(f"{path}: the accuracy lists do not share one 'key' order; copy the file again")
    # The same cached, checksum-verified parse the source made: the time and parameter columns are
    # not part of its accuracy tables.
    obj, _, _ = gt._read_json(*gt._identity(path), source.RELATIVE)
    cells = _stored_cells(source, keys, path)
    # Features come from the stored cell, so a damaged file must not pair a key with another cell.
    wrong = next((k for k, c in zip(keys, cells) if c.module_hash != k), None)
    if wrong is not None:
        raise CorruptDataError(f"{path}: the cell stored for {wrong} hashes to another module; copy the file again")
    return CurveData(
        keys=tuple(keys),
        cells=cells,
        accuracy={e: t.values for e, t in tables.items()},
        seconds108=_raw_column(obj, "final_training_time", len(keys), path),
        params=_raw_column(obj, "trainable_parameters", len(keys), path),
        provenance={k: tables[FULL_EPOCHS].provenance[k] for k in ("file", "sha256", "checksum")},
    )


# --------------------------------------------------------------------------- features


def depth(cell: Cell) -> int:
    """Edges on the longest input -> output path (the matrix is upper-triangular: a topological order)."""
    m = cell.array()
    longest = np.full(cell.num_vertices, -np.inf)
    longest[0] = 0
    for j in range(1, cell.num_vertices):
        sources = np.flatnonzero(m[:j, j])
        if sources.size:
            longest[j] = longest[sources].max() + 1
    return int(longest[-1])


def arch_features(cell: Cell, params: float) -> np.ndarray:
    """Vertices, edges, count of each op, depth and log10 of the trainable parameters."""
    interior = cell.ops[1:-1]
    counts = [sum(op == name for op in interior) for name in OPS]
    return np.array([cell.num_vertices, cell.num_edges, *counts, depth(cell), math.log10(params)], dtype=np.float64)


def curve_feature_names(budget: int | None) -> tuple[str, ...]:
    """Names of the curve columns at a budget: acc@B for B <= budget, then their successive differences."""
    seen = [e for e in BUDGETS if budget is not None and e <= budget]
    return (*(f"acc@{e}" for e in seen), *(f"acc@{b}-acc@{a}" for a, b in zip(seen, seen[1:])))


def feature_matrix(data: CurveData, budget: int | None) -> tuple[np.ndarray, tuple[str, ...]]:
    """(n, d) features: architecture, plus the partial curve up to ``budget`` (None: architecture only)."""
    if budget is not None and budget not in BUDGETS:
        raise WsbenchError(f"curve budget {budget!r} is not one of NAS-Bench-101's {BUDGETS}; pick one of them")
    arch = np.stack([arch_features(c, p) for c, p in zip(data.cells, data.params)])
    seen = [e for e in BUDGETS if budget is not None and e <= budget]
    points = [data.accuracy[e] for e in seen]
    slopes = [b - a for a, b in zip(points, points[1:])]
    columns = [arch, *(np.asarray(v)[:, None] for v in (*points, *slopes))]
    return np.hstack(columns), (*ARCH_FEATURES, *curve_feature_names(budget))


# --------------------------------------------------------------------------- out-of-fold SVR


def check_seed(seed: object) -> int:
    """``seed`` as an int >= 0 (random streams are derived from it), else a one-line error."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise WsbenchError(f"seed must be an integer >= 0, got {seed!r}")
    return int(seed)


def fold_generator(seed: int) -> np.random.Generator:
    """The fold-split stream: its own generator, so no other draw moves the folds."""
    return np.random.default_rng(np.random.SeedSequence([check_seed(seed), zlib.crc32(_FOLD_STREAM)]))


def train_size(n: int, folds: int, train_fraction: float) -> int:
    """Fully trained cells per regressor; a one-line error when the folds leave too few to draw from."""
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) or not 0 < train_fraction < 1:
        raise WsbenchError(
            f"train_fraction must lie in (0, 1), e.g. 0.1 for {round(0.1 * n)} of {n} cells, got {train_fraction!r}"
        )
    n_train = round(train_fraction * n)
    available = n - math.ceil(n / folds)
    if not 2 * INNER_FOLDS <= n_train <= available:
        raise WsbenchError(
            f"train_fraction={train_fraction} gives {n_train} training cells; with {folds} folds of {n} cells it must give "
            f"{2 * INNER_FOLDS}..{available}: change train_fraction or the number of folds"
        )
    return n_train


def check_folds(folds: object, n: int | None) -> int:
    """``folds`` as an int in 2..n (n None: not yet known); checked before the training share, which depends on it."""
    folds = positive_int(folds, "folds")
    if folds < 2 or (n is not None and folds > n):
        cells = f"2..{n} for {n} cells" if n is not None else "at least 2"
        raise WsbenchError(f"folds must be {cells} (each fold predicts the cells the others learn from), got {folds}")
    return folds


def fold_plan(n: int, folds: int, n_train: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per fold: (indices of the fully trained cells it learns from, indices it predicts), disjoint."""
    folds = check_folds(folds, n)
    rng = fold_generator(seed)
    parts = np.array_split(rng.permutation(n), folds)
    plan = []
    for k, predict in enumerate(parts):
        others = np.concatenate([p for i, p in enumerate(parts) if i != k])
        plan.append((np.sort(rng.choice(others, size=n_train, replace=False)), np.sort(predict)))
    return plan


def _inner_seed(seed: int, fold: int) -> int:
    """The inner-CV split seed of one fold: fixed by the run seed, unrelated to the fold split."""
    return int(np.random.SeedSequence([check_seed(seed), zlib.crc32(_INNER_STREAM), fold]).generate_state(1)[0])


def svr_configs(n_features: int) -> list[dict[str, float]]:
    """The (C, nu, gamma) grid as NuSVR keyword sets, gamma scaled by 1 / n_features."""
    return [
        {"C": c, "nu": nu, "gamma": g / n_features}
        for c in SVR_GRID["C"]
        for nu in SVR_GRID["nu"]
        for g in SVR_GRID["gamma_factor"]
    ]


def fit_svr(x: np.ndarray, y: np.ndarray, config: dict[str, float]) -> Any:
    """Standardize features and target on these cells, fit an RBF NuSVR; returns a predict function."""
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import NuSVR

    scaler = StandardScaler().fit(x)
    # A standardized target makes C mean the same on any accuracy scale (and keeps libsvm fast).
    mu, sd = float(y.mean()), float(y.std()) or 1.0
    model = NuSVR(kernel="rbf", **config).fit(scaler.transform(x), (y - mu) / sd)
    return lambda z: model.predict(scaler.transform(z)) * sd + mu


def inner_cv_error(
    x: np.ndarray, y: np.ndarray, config: dict[str, float], splits: Sequence[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Mean squared error of one configuration over the inner splits."""
    return float(np.mean([np.mean((fit_svr(x[a], y[a], config)(x[b]) - y[b]) ** 2) for a, b in splits]))


def tuned_svr(x: np.ndarray, y: np.ndarray, inner_seed: int) -> Any:
    """The grid configuration with the lowest inner-CV error (first on ties), refitted on all these cells."""
    from sklearn.model_selection import KFold

    splits = list(KFold(INNER_FOLDS, shuffle=True, random_state=inner_seed).split(x))
    configs = svr_configs(x.shape[1])
    errors = [inner_cv_error(x, y, c, splits) for c in configs]
    return fit_svr(x, y, configs[int(np.argmin(errors))])


def out_of_fold_svr(x: np.ndarray, y: np.ndarray, plan: Sequence[tuple[np.ndarray, np.ndarray]], seed: int) -> np.ndarray:
    """One prediction per cell, each from the regressor of the fold that holds it (fitted without it)."""
    pred = np.full(len(y), np.nan)
    for k, (train, predict) in enumerate(plan):
        pred[predict] = tuned_svr(x[train], y[train], _inner_seed(seed, k))(x[predict])
    if np.isnan(pred).any():
        raise WsbenchError("the fold plan left some cells without a prediction; every cell must lie in exactly one fold")
    return pred


# --------------------------------------------------------------------------- estimators


@dataclass(frozen=True)
class Estimate:
    """One estimator's scores over the cells, what it cost and what it is."""

    label: str
    scores: np.ndarray
    device_hours: float
    what: str
    note: str
    n_full_trained: int
    epochs_per_cell: int


def hours(seconds: np.ndarray | float) -> float:
    """Device seconds (summed) as hours."""
    return float(np.sum(seconds)) / 3600.0


def full_training_hours(data: CurveData) -> float:
    """Cost of training every cell for 108 epochs, the reference the speed-ups divide."""
    return hours(data.seconds108)


def partial_hours(data: CurveData, epochs: int) -> float:
    """Cost of ``epochs`` epochs of runs on every cell, approximated as time108 * epochs / 108."""
    return hours(data.seconds108 * epochs / FULL_EPOCHS)


def _mean_training_hours(data: CurveData, plan: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """108-epoch cost of one regressor's training cells, averaged over the folds (one deployment)."""
    return float(np.mean([hours(data.seconds108[train]) for train, _ in plan]))


def train_briefly(data: CurveData, epochs: int) -> Estimate:
    """The E-epoch run's accuracy as the ranking."""
    return Estimate(
        label=f"train-{epochs}",
        scores=data.accuracy[epochs].copy(),
        device_hours=partial_hours(data, epochs),
        what=f"one {epochs}-epoch run of every cell (time approximated as the 108-epoch run's x {epochs}/108)",
        note=f"CIFAR-10 validation accuracy after NAS-Bench-101's separate {epochs}-epoch run (its own compressed schedule).",
        n_full_trained=0,
        epochs_per_cell=epochs,
    )


def svr_estimate(data: CurveData, budget: int | None, plan: Sequence[tuple[np.ndarray, np.ndarray]], seed: int) -> Estimate:
    """Out-of-fold nu-SVR predictions from architecture features plus the curve up to ``budget``."""
    x, names = feature_matrix(data, budget)
    pred = out_of_fold_svr(x, data.accuracy[FULL_EPOCHS], plan, seed)
    n_train = len(plan[0][0])
    epochs = sum(e for e in BUDGETS if budget is not None and e <= budget)
    runs = " + ".join(f"{e}" for e in BUDGETS if budget is not None and e <= budget)
    paid = f"108-epoch runs of {n_train} training cells" + (f", plus {runs}-epoch runs of every cell" if epochs else "")
    return Estimate(
        label="svr-arch" if budget is None else f"svr@{budget}",
        scores=pred,
        device_hours=_mean_training_hours(data, plan) + partial_hours(data, epochs),
        what=paid + " (partial-run times approximated as time108 x epochs / 108).",
        note=(
            f"nu-SVR (RBF, standardized {', '.join(names)}) fitted on {n_train} fully trained cells per fold, "
            f"{len(plan)}-fold out-of-fold prediction of 108-epoch validation accuracy."
        ),
        n_full_trained=n_train,
        epochs_per_cell=epochs,
    )


def params_estimate(data: CurveData) -> Estimate:
    """Trainable parameters (log10) as the ranking: the free baseline."""
    return Estimate(
        label="params",
        scores=np.log10(data.params),
        device_hours=0.0,
        what="nothing: the parameter count follows from the architecture.",
        note="log10 of the trainable parameters (NAS-Bench-101's count): bigger predicted better.",
        n_full_trained=0,
        epochs_per_cell=0,
    )


def build_estimators(
    data: CurveData, folds: int = DEFAULT_FOLDS, seed: int = 0, train_fraction: float = DEFAULT_TRAIN_FRACTION
) -> list[Estimate]:
    """Every estimator: train-E, svr@E, svr-arch and params, on one fold plan for all SVRs."""
    folds = check_folds(folds, len(data))
    plan = fold_plan(len(data), folds, train_size(len(data), folds, train_fraction), seed)
    return [
        *(train_briefly(data, e) for e in BUDGETS),
        *(svr_estimate(data, e, plan, seed) for e in BUDGETS),
        svr_estimate(data, None, plan, seed),
        params_estimate(data),
    ]


# --------------------------------------------------------------------------- score files


def _file_name(label: str) -> str:
    return "nb101-" + re.sub(r"[^A-Za-z0-9._-]", "-", label) + ".json"


def score_document(estimate: Estimate, data: CurveData, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """The wsbench score-file object of one estimator, keyed by module hash."""
    if len(estimate.scores) != len(data):
        raise WsbenchError(f"{estimate.label} has {len(estimate.scores)} scores for {len(data)} cells; score every cell once")
    return {
        "wsbench_scores": 1,
        "space": SPACE,
        "label": estimate.label,
        "higher_is_better": True,
        "key_format": "auto",
        "cost": {"device_hours": estimate.device_hours, "device": DEVICE, "what": estimate.what},
        "note": estimate.note,
        "provenance": {"ground_truth": data.provenance, **(provenance or {})},
        "scores": {k: float(s) for k, s in zip(data.keys, estimate.scores)},
    }


def write_estimator_files(
    out_dir: str | Path, estimates: Sequence[Estimate], data: CurveData, provenance: dict[str, Any] | None = None
) -> list[Path]:
    """One score file per estimator under ``out_dir`` (written atomically); returns their paths."""
    folder = writable_folder(Path(out_dir).expanduser(), "score-file folder")
    paths = []
    for est in estimates:
        path = folder / _file_name(est.label)
        atomic_write_text(path, json.dumps(score_document(est, data, provenance), indent=1) + "\n")
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- table


def reference_estimate(data: CurveData) -> Estimate:
    """Full 108-epoch training of every cell: the ground truth itself (tau 1), at full cost."""
    return Estimate(
        label="train-108 (full)",
        scores=data.accuracy[FULL_EPOCHS].copy(),
        device_hours=full_training_hours(data),
        what="one 108-epoch run of every cell",
        note="the ground truth itself",
        n_full_trained=len(data),
        epochs_per_cell=FULL_EPOCHS,
    )


def _metric_row(est: Estimate, truth: np.ndarray, full_hours: float, bootstrap: int, seed: int) -> dict[str, Any]:
    # The same bootstrap seed for every estimator: all rows are measured on the same resamples.
    tau_lo, tau_hi = M.bootstrap_ci(M.kendall_tau, est.scores, truth, n_resamples=bootstrap, seed=seed)
    hit_lo, hit_hi = M.bootstrap_ci(M.top_k_hit_rate, est.scores, truth, n_resamples=bootstrap, seed=seed, k=HIT_FRACTION)
    return {
        "estimator": est.label,
        "kendall_tau": M.kendall_tau(est.scores, truth),
        "tau_low": tau_lo,
        "tau_high": tau_hi,
        "hit@10%": M.top_k_hit_rate(est.scores, truth, k=HIT_FRACTION),
        "hit_low": hit_lo,
        "hit_high": hit_hi,
        "spearman": M.spearman_rho(est.scores, truth),
        "device_hours": est.device_hours,
        "speed_up": full_hours / est.device_hours if est.device_hours > 0 else math.inf,
        "n_cells": len(truth),
        "n_full_trained": est.n_full_trained,
        "epochs_per_cell": est.epochs_per_cell,
    }


def curve_table(data: CurveData, estimates: Sequence[Estimate], bootstrap: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per estimator: tau and hit@10% (95% bootstrap over cells), Spearman, cost, speed-up; full training last."""
    bootstrap = positive_int(bootstrap, "bootstrap")
    truth = data.accuracy[FULL_EPOCHS]
    full = full_training_hours(data)
    rows = [_metric_row(e, truth, full, bootstrap, seed) for e in (*estimates, reference_estimate(data))]
    return pd.DataFrame(rows)


def _interval(value: float, low: float, high: float) -> str:
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _speed(x: float) -> str:
    return "no training" if math.isinf(x) else f"{x:.2f}x"


def render_markdown(table: pd.DataFrame, folds: int, seed: int, bootstrap: int, train_fraction: float) -> str:
    """The table as markdown with the protocol and cost conventions beneath it."""
    head = "| estimator | Kendall tau [95% CI] | hit@10% [95% CI] | Spearman | device hours | speed-up vs full | n cells | fully trained |"
    lines = [head, "|" + "---|" * 8]
    for d in table.to_dict("records"):
        lines.append(
            f"| {d['estimator']} | {_interval(d['kendall_tau'], d['tau_low'], d['tau_high'])} "
            f"| {_interval(d['hit@10%'], d['hit_low'], d['hit_high'])} | {d['spearman']:.3f} | {d['device_hours']:.1f} "
            f"| {_speed(d['speed_up'])} | {d['n_cells']} | {d['n_full_trained']} |"
        )
    n = int(table["n_cells"].iloc[0])
    notes = [
        "",
        f"NAS-Bench-101, {n} cells of nb101-1k-curves.json; truth: 108-epoch CIFAR-10 validation accuracy (one run per cell).",
        "The 4/12/36-epoch accuracies are separate NB101 trainings with schedules compressed to that budget, not prefixes of the 108-epoch run.",
        f"SVRs: {folds}-fold out-of-fold predictions (seed {seed}); each fold's regressor learns from "
        f"{round(train_fraction * n)} fully trained cells drawn from the other folds; metrics over all {n} cells.",
        f"Intervals: percentile bootstrap over cells, {bootstrap} resamples, seed {seed}, the same resamples for every row.",
        f"Cost: device hours on {DEVICE}; a budget-E run is approximated as the 108-epoch time x E/108; "
        "svr@E pays its training cells' 108-epoch runs plus every cell's runs at all budgets <= E.",
    ]
    return "\n".join(lines + notes) + "\n"


# --------------------------------------------------------------------------- entry


def learning_curve_command(
    out: str | None, folds: int, seed: int, bootstrap: int, train_fraction: float = DEFAULT_TRAIN_FRACTION
) -> str:
    """Build every estimator, return the markdown table, and write score files under ``out`` when given."""
    folds = check_folds(folds, None)  # the upper bound, the number of cells, once the file is read
    bootstrap = check_bootstrap(bootstrap, allow_zero=False)  # the table's intervals need resamples
    seed = check_seed(seed)
    if out is not None:
        writable_folder(Path(out).expanduser(), "score-file folder")  # before minutes of fitting, not after
    data = load_curves()
    estimates = build_estimators(data, folds=folds, seed=seed, train_fraction=train_fraction)
    text = render_markdown(curve_table(data, estimates, bootstrap, seed), folds, seed, bootstrap, train_fraction)
    if out is not None:
        settings = {
            "folds": folds,
            "seed": seed,
            "train_fraction": train_fraction,
            "svr_grid": SVR_GRID,
            "inner_folds": INNER_FOLDS,
        }
        paths = write_estimator_files(out, estimates, data, settings)
        text += "\nScore files:\n" + "".join(f"- {p}\n" for p in paths)
    return text
