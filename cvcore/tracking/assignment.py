"""Linear sum assignment inside Numba kernels, identical to SciPy's.

``linear_sum_assignment_min(cost)`` is the shortest-augmenting-path algorithm (Crouse, 2016) that
``scipy.optimize.linear_sum_assignment`` implements, transcribed operation for operation,
including its tie-breaking (remaining columns scanned in reverse order, unassigned columns
preferred on equal path cost) and its transposition of wide-to-tall matrices, so the kernels that
call it per frame pick exactly the assignments SciPy would (tested on random matrices full of
ties). It minimises; negate the matrix to maximise.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def linear_sum_assignment_min(cost):
    """(row indices, column indices) of a minimum-cost assignment of ``cost`` [R, C],
    rows ascending, as scipy.optimize.linear_sum_assignment returns them."""
    nr0, nc0 = cost.shape
    transpose = nc0 < nr0
    c = cost.T.copy() if transpose else cost.copy()
    nr, nc = c.shape
    u = np.zeros(nr)
    v = np.zeros(nc)
    spc = np.empty(nc)
    path = np.full(nc, -1, np.int64)
    col4row = np.full(nr, -1, np.int64)
    row4col = np.full(nc, -1, np.int64)
    sr = np.zeros(nr, np.bool_)
    sc = np.zeros(nc, np.bool_)
    remaining = np.empty(nc, np.int64)
    for cur in range(nr):
        min_val = 0.0
        i = cur
        num_remaining = nc
        for it in range(nc):
            remaining[it] = nc - it - 1
        sr[:] = False
        sc[:] = False
        spc[:] = np.inf
        sink = -1
        while sink == -1:
            index = -1
            lowest = np.inf
            sr[i] = True
            for it in range(num_remaining):
                j = remaining[it]
                r = min_val + c[i, j] - u[i] - v[j]
                if r < spc[j]:
                    path[j] = i
                    spc[j] = r
                if spc[j] < lowest or (spc[j] == lowest and row4col[j] == -1):
                    lowest = spc[j]
                    index = it
            min_val = lowest
            j = remaining[index]
            if row4col[j] == -1:
                sink = j
            else:
                i = row4col[j]
            sc[j] = True
            num_remaining -= 1
            remaining[index] = remaining[num_remaining]
        u[cur] += min_val
        for i in range(nr):
            if sr[i] and i != cur:
                u[i] += min_val - spc[col4row[i]]
        for j in range(nc):
            if sc[j]:
                v[j] -= min_val - spc[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            tmp = col4row[i]
            col4row[i] = j
            j = tmp
            if i == cur:
                break
    if transpose:
        order = np.argsort(col4row, kind="mergesort")
        return col4row[order], order
    return np.arange(nr), col4row
