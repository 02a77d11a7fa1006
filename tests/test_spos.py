"""SPOS sampling: uniform over strings vs de-isomorphic (uniform over isomorphism classes)."""

import numpy as np
import pytest

from harness.api.errors import WsbenchError
from harness.catalog import SPACES, STRATEGIES
from spaces.nb201.isomorphism import canonical

SPACE = SPACES.get("nb201")


def _class_hits(sampling, n=30000, seed=0):
    spos = STRATEGIES.get("spos")(SPACE, np.random.default_rng(seed), sampling=sampling)
    classes = SPACE.isomorphism_classes()
    index = {a: i for i, c in enumerate(classes) for a in c}
    hits = np.zeros(len(classes))
    for step in range(n):
        (arch,) = spos.paths(step)
        hits[index[arch]] += 1
    sizes = np.array([len(c) for c in classes])
    return hits, sizes


def test_uniform_sampling_favours_large_isomorphism_classes():
    hits, sizes = _class_hits("uniform")
    big = sizes >= 100
    # Expected hits per class = n * size / 15625: the big classes absorb far more than 1/6466 each.
    assert hits[big].mean() > 20 * hits[sizes == 1].mean()


def test_deisomorphic_sampling_is_uniform_over_classes():
    hits, sizes = _class_hits("deisomorphic")
    big, single = sizes >= 100, sizes == 1
    per_class = 30000 / len(sizes)
    assert hits[big].mean() == pytest.approx(per_class, rel=0.5)
    assert hits[single].mean() == pytest.approx(per_class, rel=0.1)


def test_deisomorphic_draws_several_members_of_a_class():
    spos = STRATEGIES.get("spos")(SPACE, np.random.default_rng(1), sampling="deisomorphic")
    drawn = [spos.paths(i)[0] for i in range(20000)]
    largest = max(SPACE.isomorphism_classes(), key=len)
    members = {a for a in drawn if canonical(a) == canonical(largest[0])}
    assert len(members) > 1


def test_resume_gives_the_same_future_paths():
    a = STRATEGIES.get("spos")(SPACE, np.random.default_rng(3))
    for i in range(10):
        a.paths(i)
    state = a.state_dict()
    b = STRATEGIES.get("spos")(SPACE, np.random.default_rng(999))
    b.load_state_dict(state)
    assert [a.paths(i) for i in range(10, 20)] == [b.paths(i) for i in range(10, 20)]


def test_bad_options_are_one_line_errors():
    with pytest.raises(WsbenchError, match="unknown SPOS sampling 'deisomorphc'.*did you mean 'deisomorphic'"):
        STRATEGIES.get("spos")(SPACE, np.random.default_rng(0), sampling="deisomorphc")
    with pytest.raises(WsbenchError, match="unknown option"):
        STRATEGIES.get("spos")(SPACE, np.random.default_rng(0), samples=2)
