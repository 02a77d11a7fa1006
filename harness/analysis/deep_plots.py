"""One PNG per deep analysis (matplotlib Agg, the house style of ``harness.analysis.plots``).

Each figure has one panel per strategy group (or per space/protocol where strategies share axes)
and uses each group's first ground truth; an analysis no group could run draws no figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.analysis import bias as B
from harness.analysis.plots import _grid, _pyplot, _save
from harness.analysis.stability import short_gt

if TYPE_CHECKING:
    from harness.analysis.deep_report import DeepGroup

#: Bins of the mean-error line over the complexity scatter.
ERROR_BINS = 10
#: At most this many isomorphism classes are drawn per panel (the widest spreads first).
MAX_CLASSES = 60


def _title(d: DeepGroup, truth: str) -> str:
    return f"{d.group.where}\nvs {short_gt(truth)}"


def plot_complexity(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """Rank error (estimator minus truth, first run's final snapshot) vs params, with its binned mean."""
    drawn = [d for d in deeps if d.complexity]
    if not drawn:
        return None
    plt = _pyplot()
    fig, axes = _grid(plt, len(drawn), width=4.2, height=3.4)
    for ax, d in zip(axes, drawn):
        c = d.complexity[0]
        params, error = B.error_scatter(d.group, c.truth, d.costs)
        ax.scatter(params, error, s=6, alpha=0.35, label=f"architectures (seed {d.group.runs[0].seed})")
        bins = B.strata(params, ERROR_BINS)
        centers = [params[bins == b].mean() for b in np.unique(bins)]
        means = [error[bins == b].mean() for b in np.unique(bins)]
        ax.plot(centers, means, color="C3", marker="o", ms=3, label="mean per params bin")
        ax.axhline(0, color="k", lw=0.8)
        ax.set_title(f"{_title(d, c.truth)}: tau(err, params)={c.error_vs_params.mean:.2f}", fontsize=8)
        ax.set_xlabel("params (M)", fontsize=8)
        ax.set_ylabel("rank error (> 0: overrated)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _save(fig, plt, path)


def _op_matrix(o: B.OpBias) -> np.ndarray:
    """(options, choices) mean error over runs; NaN where no scored cell uses the option."""
    m = np.full((len(o.options), len(o.choices)), np.nan)
    for (choice, option), v in o.cells.items():
        m[o.options.index(option), o.choices.index(choice)] = v.mean
    return m


def plot_op_bias(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """Heatmap of the mean rank error per option (rows) and choice (columns); red = overrated."""
    drawn = [d for d in deeps if d.ops]
    if not drawn:
        return None
    plt = _pyplot()
    matrices = [_op_matrix(d.ops[0]) for d in drawn]
    bound = max(float(np.nanmax(np.abs(m))) for m in matrices) or 1.0
    fig, axes = _grid(plt, len(drawn), width=5.0, height=3.6)
    for ax, d, m in zip(axes, drawn, matrices):
        o = d.ops[0]
        image = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound, aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            if np.isfinite(v):
                ax.text(j, i, f"{v:+.2f}", ha="center", va="center", fontsize=7)
        ax.set_xticks(range(len(o.choices)), o.choices, rotation=45, ha="right", fontsize=7)
        ax.set_yticks(range(len(o.options)), o.options, fontsize=7)
        ax.set_title(f"{_title(d, o.truth)}: mean rank error", fontsize=8)
        fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=7)
    return _save(fig, plt, path)


def plot_isomorphism(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """Scores of the members of each isomorphism class with > 1 scored member (first run): a bar per class."""
    drawn = [d for d in deeps if d.isomorphism is not None and d.isomorphism.measurable]
    if not drawn:
        return None
    plt = _pyplot()
    fig, axes = _grid(plt, len(drawn), width=4.6, height=3.2)
    for ax, d in zip(axes, drawn):
        classes = B.isomorphism_classes_of(B.space_named(d.group.space), d.group.archs)
        scores = np.asarray(d.group.runs[0].final, dtype=float)
        ids, sizes = np.unique(classes, return_counts=True)
        multi = sorted(ids[sizes > 1], key=lambda c: -float(np.ptp(scores[classes == c])))[:MAX_CLASSES]
        for x, c in enumerate(sorted(multi, key=lambda c: float(scores[classes == c].mean()))):
            inside = scores[classes == c]
            ax.vlines(x, inside.min(), inside.max(), color="C0", lw=1)
            ax.scatter(np.full(inside.size, x), inside, s=8, color="C0")
        iso = d.isomorphism
        assert iso is not None and iso.ratio is not None
        ax.set_title(f"{d.group.where}: within/overall sd={iso.ratio.mean:.2f}", fontsize=8)
        ax.set_xlabel(f"isomorphism class (by mean score; {len(multi)} of {iso.n_multi})", fontsize=8)
        ax.set_ylabel(f"supernet {d.group.estimator}", fontsize=8)
        ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _band(ax: Any, x: np.ndarray, values: Sequence[B.OverRuns], label: str, color: str) -> None:
    """Mean over seeds with a min-max band."""
    mean = np.array([v.mean for v in values])
    low = np.array([v.finite.min() if v.finite.size else np.nan for v in values])
    high = np.array([v.finite.max() if v.finite.size else np.nan for v in values])
    ax.plot(x, mean, marker="o", ms=3, color=color, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.2)


def plot_picking(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """Per group: hit@k and P@bottom-k vs k, and BR@k and WR@k vs k, each with its chance line."""
    drawn = [d for d in deeps if d.picking]
    if not drawn:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(len(drawn), 2, figsize=(9.0, 3.2 * len(drawn)), squeeze=False)
    for (left, right), d in zip(axes, drawn):
        pp = d.picking[0]
        k = 100 * np.asarray(pp.ks)
        _band(left, k, pp.hit, "hit@k (top)", "C0")
        _band(left, k, pp.bottom, "P@bottom-k", "C1")
        left.plot(k, pp.chance_hit, color="grey", ls="--", lw=1, label="chance")
        left.set_ylabel("share found (band: min-max over seeds)", fontsize=8)
        left.set_ylim(-0.02, 1.02)
        _band(right, k, pp.br, "BR@k (best in top k)", "C2")
        _band(right, k, pp.wr, "WR@k (worst in top k)", "C3")
        right.plot(k, pp.chance_br, color="grey", ls="--", lw=1, label="chance BR")
        right.plot(k, pp.chance_wr, color="grey", ls=":", lw=1, label="chance WR")
        right.set_ylabel("normalized true rank (0 = best)", fontsize=8)
        right.set_ylim(-0.02, 1.02)
        for ax in (left, right):
            ax.set_xscale("log")
            ax.set_xticks(k, [f"{v:g}" for v in k])
            ax.set_xlabel("k (% of the archset)", fontsize=8)
            ax.set_title(_title(d, pp.truth), fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
    return _save(fig, plt, path)


def plot_pruned_tau(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """Kendall tau inside the estimator's top x vs x, beside random subsets, the true top x and the full set."""
    drawn = [d for d in deeps if d.pruned]
    if not drawn:
        return None
    plt = _pyplot()
    fig, axes = _grid(plt, len(drawn), width=4.2, height=3.4)
    for ax, d in zip(axes, drawn):
        pt = d.pruned[0]
        x = 100 * np.asarray(pt.keep)
        _band(ax, x, pt.pruned, "estimator's top x", "C0")
        _band(ax, x, pt.random, "random subset, same size", "C1")
        _band(ax, x, pt.oracle, "true top x", "C2")
        ax.axhline(pt.full.mean, color="k", ls="--", lw=1, label=f"full set {pt.full.mean:.2f}")
        ax.set_xlabel("kept (% of the archset)", fontsize=8)
        ax.set_ylabel("Kendall tau inside (band: min-max over seeds)", fontsize=8)
        ax.set_title(_title(d, pt.truth), fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, framealpha=0.6)
    return _save(fig, plt, path)


def plot_best_found(deeps: Sequence[DeepGroup], path: Path) -> Path | None:
    """True rank of the best-found architecture per strategy: every (seed, snapshot), finals filled."""
    drawn = [d for d in deeps if d.best]
    if not drawn:
        return None
    blocks = sorted({(d.group.space, d.group.protocol) for d in drawn})
    plt = _pyplot()
    fig, axes = _grid(plt, len(blocks), width=4.6, height=3.4)
    for ax, (space, protocol) in zip(axes, blocks):
        members = [d for d in drawn if (d.group.space, d.group.protocol) == (space, protocol)]
        for x, d in enumerate(members):
            bf = d.best[0]
            for i, run in enumerate(bf.runs):
                ranks = 100 * np.asarray(run.ranks)
                offsets = x + np.linspace(-0.15, 0.15, len(ranks)) if len(ranks) > 1 else np.array([x])
                color = f"C{i % 10}"  # one colour per seed, so a run's snapshots read as one series
                ax.scatter(offsets[:-1], ranks[:-1], s=18, facecolors="none", edgecolors=color)
                ax.scatter(offsets[-1:], ranks[-1:], s=24, color=color)
            ax.hlines(100 * bf.chance, x - 0.35, x + 0.35, color="grey", ls="--", lw=1)
            if bf.params_pick is not None:
                ax.hlines(100 * bf.params_pick, x - 0.35, x + 0.35, color="k", ls=":", lw=1)
        ax.set_xticks(range(len(members)), [d.group.label for d in members], fontsize=8)
        ax.set_xlim(-0.6, len(members) - 0.4)
        ax.set_ylim(-2, 102)
        ax.set_title(f"{space}/{protocol} vs {short_gt(members[0].best[0].truth)}", fontsize=8)
        ax.set_ylabel("archs truly better than the pick (%)", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(handles=_best_found_legend(), fontsize=7)
    return _save(fig, plt, path)


def _best_found_legend() -> list[Any]:
    """Proxy artists: the markers and lines of the best-found plot say nothing by themselves."""
    from matplotlib.lines import Line2D

    return [
        Line2D([], [], marker="o", ls="", color="grey", label="final snapshot (colour: seed)"),
        Line2D([], [], marker="o", ls="", mfc="none", color="grey", label="earlier snapshot"),
        Line2D([], [], color="grey", ls="--", label="random pick"),
        Line2D([], [], color="k", ls=":", label="params pick (largest)"),
    ]


#: Section key -> (file suffix, plot function).
PLOTS = {
    "complexity": ("complexity-bias", plot_complexity),
    "ops": ("op-bias", plot_op_bias),
    "isomorphism": ("isomorphism", plot_isomorphism),
    "picking": ("picking-vs-pruning", plot_picking),
    "pruned": ("pruned-space-tau", plot_pruned_tau),
    "variance": ("best-found-rank", plot_best_found),
}


def write_plots(deeps: Sequence[DeepGroup], out_dir: Path, name: str) -> dict[str, Path]:
    """Every figure some group could fill, as section key -> ``<out_dir>/<name>-<suffix>.png``."""
    written = {}
    for key, (suffix, plot) in PLOTS.items():
        path = plot(deeps, Path(out_dir) / f"{name}-{suffix}.png")
        if path is not None:
            written[key] = path
    return written
