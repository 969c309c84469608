"""The Numba assignment kernel picks exactly SciPy's assignment, ties included."""

import numpy as np
from scipy.optimize import linear_sum_assignment

from cvcore.tracking.assignment import linear_sum_assignment_min


def test_equals_scipy_on_random_matrices_with_ties():
    rng = np.random.default_rng(0)
    for k in range(4000):
        rows, cols = rng.integers(1, 9, 2)
        kind = k % 4
        if kind == 0:
            cost = rng.integers(0, 3, (rows, cols)).astype(float)   # many exact ties
        elif kind == 1:
            cost = rng.random((rows, cols))
            cost[cost < 0.5] = 0                                    # zeros, like IoU < 0.5
        elif kind == 2:
            cost = -np.round(rng.random((rows, cols)), 1)
        else:
            cost = rng.random((rows, cols))
        expected = linear_sum_assignment(cost)
        got = linear_sum_assignment_min(cost)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_empty_and_single():
    r, c = linear_sum_assignment_min(np.zeros((0, 3)))
    assert len(r) == len(c) == 0
    r, c = linear_sum_assignment_min(np.array([[5.0]]))
    assert r.tolist() == [0] and c.tolist() == [0]
