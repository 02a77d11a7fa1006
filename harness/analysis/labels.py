"""Short display names of ground-truth labels, for tables and figure titles."""

from __future__ import annotations

#: Seed reductions that name no particular run; any other (``seed:42``, ``run:1``, ``mean-of-seeds``) is shown.
_PLAIN_REDUCTIONS = ("as-published", "mean", "one-run", "mean-of-rows")
#: Metrics a short label leaves out: each is its source's one (or main) metric.
_PLAIN_METRICS = ("accuracy", "perplexity", "best-accuracy", "accuracy@108", "top1")


def short_gt(label: str) -> str:
    """``nb201/analog:cifar10/test/accuracy@as-published`` -> ``analog:cifar10/test`` (for tables and plots).

    A reduction that picks runs stays: ``darts/seedpaper:cifar10/test/accuracy@seed:42`` ->
    ``seedpaper:cifar10/test@seed:42``, so two runs of one source are told apart.
    """
    query = label.split("/", 1)[-1].split("@", 1)[0]  # source:dataset/split/metric
    short, _, metric = query.rpartition("/")
    if not short:  # not a ground-truth label (e.g. "none")
        short = query
    elif metric not in _PLAIN_METRICS:  # e.g. ProxylessNAS's top5 beside its top1
        short = query
    reduction = label.rsplit("@", 1)[-1] if "@" in label else ""
    return short if not reduction or reduction in _PLAIN_REDUCTIONS else f"{short}@{reduction}"
