import numpy as np
import pytest

from harness.seeding import numpy_stream, stream_seed, torch_stream


def test_streams_are_separate_and_reproducible():
    assert stream_seed(0, "init") == stream_seed(0, "init")
    seeds = {stream_seed(0, c) for c in ("init", "data", "arch", "scoring", "archset")}
    assert len(seeds) == 5
    assert stream_seed(0, "arch") != stream_seed(1, "arch")
    a = numpy_stream(3, "arch").integers(0, 1000, 10)
    b = numpy_stream(3, "arch").integers(0, 1000, 10)
    np.testing.assert_array_equal(a, b)
    assert torch_stream(3, "data").initial_seed() == stream_seed(3, "data")


def test_unknown_concern_rejected():
    with pytest.raises(ValueError):
        stream_seed(0, "weights")
