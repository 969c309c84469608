"""Constant-velocity Kalman filters, batched: ByteTrack's (x, y, a, h), BoT-SORT's (x, y, w, h)
and SORT's (cx, cy, s, r).

State: box centre x, y, aspect ratio a = w / h, height h, and their velocities (8 numbers).
Noise scales with the box height: position weight 1/20, velocity weight 1/160, as in ByteTrack
(and DeepSORT). The process noise of a prediction uses the height *before* the prediction; the
measurement noise of an update uses the *predicted* height. All functions work on stacks of
tracks: ``mean`` float64[N, 8], ``cov`` float64[N, 8, 8]; measurements float64[N, 4].

BoT-SORT's variant (``*_xywh``) tracks width instead of aspect ratio, and every noise term of
x and w scales with the width, of y and h with the height (its ``kalman_filter.py``).

SORT's filter (``sort_*``, Bewley et al. 2016, also OC-SORT's) is filterpy's ``KalmanFilter``
as SORT configures it: state (cx, cy, s = w h, r = w / h, vcx, vcy, vs), fixed noise
R = diag(1, 1, 10, 10), P0 = diag(10, 10, 10, 10, 1e4, 1e4, 1e4), Q = diag(1, 1, 1, 1, 0.01,
0.01, 1e-4), and filterpy's update (K = P H^T S^-1, Joseph-form covariance).
"""

from __future__ import annotations

import numba
import numpy as np

NDIM = 4
POSITION_WEIGHT = 1.0 / 20
VELOCITY_WEIGHT = 1.0 / 160
MOTION = np.eye(2 * NDIM)
MOTION[:NDIM, NDIM:] = np.eye(NDIM)  # x' = x + v (dt = 1 frame)
OBSERVE = np.eye(NDIM, 2 * NDIM)


def initiate(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New tracks from measurements [N, 4] (x, y, a, h): zero velocity, height-scaled spread."""
    z = np.atleast_2d(np.asarray(measurement, np.float64))
    h = z[:, 3]
    std = np.stack([2 * POSITION_WEIGHT * h, 2 * POSITION_WEIGHT * h, np.full_like(h, 1e-2),
                    2 * POSITION_WEIGHT * h, 10 * VELOCITY_WEIGHT * h,
                    10 * VELOCITY_WEIGHT * h, np.full_like(h, 1e-5), 10 * VELOCITY_WEIGHT * h],
                   axis=1)
    mean = np.hstack([z, np.zeros_like(z)])
    return mean, _diagonal(std ** 2)


def _diagonal(values: np.ndarray) -> np.ndarray:
    """Stack of diagonal matrices [N, D, D] from their diagonals [N, D]."""
    out = np.zeros(values.shape + values.shape[-1:])
    index = np.arange(values.shape[-1])
    out[:, index, index] = values
    return out


_PROCESS_WEIGHTS = np.array([POSITION_WEIGHT, POSITION_WEIGHT, 0.0, POSITION_WEIGHT,
                             VELOCITY_WEIGHT, VELOCITY_WEIGHT, 0.0, VELOCITY_WEIGHT])


def process_noise(mean: np.ndarray) -> np.ndarray:
    """Q [N, 8, 8] from the current (pre-prediction) heights."""
    std = mean[:, 3:4] * _PROCESS_WEIGHTS  # same products as weight * h, element by element
    std[:, 2] = 1e-2
    std[:, 6] = 1e-5
    return _diagonal(std ** 2)


def measurement_noise(mean: np.ndarray) -> np.ndarray:
    """R [N, 4, 4] from the (predicted) heights."""
    h = mean[:, 3]
    std = np.stack([POSITION_WEIGHT * h, POSITION_WEIGHT * h, np.full_like(h, 1e-1),
                    POSITION_WEIGHT * h], axis=1)
    return _diagonal(std ** 2)


def predict(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One frame ahead for every track: x = F x, P = F P F^T + Q."""
    return linear_predict(mean, cov, MOTION, process_noise(mean))


def linear_predict(mean, cov, motion, q):
    """x = F x, P = F P F^T + Q for stacks ``mean`` [N, D], ``cov`` [N, D, D], ``q`` [N, D, D]
    or [D, D]."""
    return mean @ motion.T, motion @ cov @ motion.T + q


def project(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted measurement and its covariance S = H P H^T + R."""
    return mean[:, :NDIM], cov[:, :NDIM, :NDIM] + measurement_noise(mean)


def update(mean: np.ndarray, cov: np.ndarray,
           measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct every track with its measurement [N, 4]: K = P H^T S^-1, x += K (z - H x),
    P -= K S K^T."""
    return linear_update(mean, cov, measurement, measurement_noise(mean))


def linear_update(mean, cov, measurement, r):
    """ByteTrack's correction with H = [I_4 0] and measurement noise ``r`` [N, 4, 4]."""
    z_pred, s = mean[:, :NDIM], cov[:, :NDIM, :NDIM] + r
    pht = cov[:, :, :NDIM]                                   # P H^T, [N, 8, 4]
    gain = np.linalg.solve(s, pht.transpose(0, 2, 1)).transpose(0, 2, 1)  # S symmetric
    innovation = np.asarray(measurement, np.float64) - z_pred
    new_mean = mean + np.einsum("nij,nj->ni", gain, innovation)
    new_cov = cov - gain @ s @ gain.transpose(0, 2, 1)
    return new_mean, new_cov


def tlwh_to_xyah(tlwh: np.ndarray) -> np.ndarray:
    tlwh = np.atleast_2d(np.asarray(tlwh, np.float64))
    out = np.empty_like(tlwh)
    out[:, 0] = tlwh[:, 0] + tlwh[:, 2] / 2
    out[:, 1] = tlwh[:, 1] + tlwh[:, 3] / 2
    out[:, 2] = tlwh[:, 2] / tlwh[:, 3]
    out[:, 3] = tlwh[:, 3]
    return out


def xyah_to_tlwh(xyah: np.ndarray) -> np.ndarray:
    xyah = np.atleast_2d(xyah)
    w = xyah[:, 2] * xyah[:, 3]
    return np.column_stack([xyah[:, 0] - w / 2, xyah[:, 1] - xyah[:, 3] / 2, w, xyah[:, 3]])


# BoT-SORT: (x, y, w, h); width-scaled noise on x and w, height-scaled on y and h.
def _wh(mean: np.ndarray) -> np.ndarray:
    """[N, 4] of (w, h, w, h) from the state's width and height."""
    return mean[:, [2, 3, 2, 3]]


def initiate_xywh(measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """New BoT-SORT tracks from measurements [N, 4] (x, y, w, h)."""
    z = np.atleast_2d(np.asarray(measurement, np.float64))
    wh = _wh(z)
    std = np.hstack([2 * POSITION_WEIGHT * wh, 10 * VELOCITY_WEIGHT * wh])
    return np.hstack([z, np.zeros_like(z)]), _diagonal(std ** 2)


def predict_xywh(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x = F x, P = F P F^T + Q with Q from the pre-prediction width and height. New arrays."""
    mean, cov = np.array(mean, np.float64), np.array(cov, np.float64)
    _xywh_predict_kernel(mean, cov, POSITION_WEIGHT, VELOCITY_WEIGHT)
    return mean, cov


def update_xywh(mean: np.ndarray, cov: np.ndarray,
                measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ByteTrack's correction (K = P H^T S^-1, P -= K S K^T) with R from the predicted width and
    height. New arrays."""
    mean, cov = np.array(mean, np.float64), np.array(cov, np.float64)
    _xywh_update_kernel(mean, cov, np.ascontiguousarray(measurement, np.float64).reshape(-1, 4),
                        POSITION_WEIGHT)
    return mean, cov


# BoT-SORT's predict and update as kernels over all tracks (as SORT's, below: per frame they
# replace a few dozen small NumPy calls).
@numba.njit(cache=True, nogil=True)
def _xywh_predict_kernel(mean, cov, pos_weight, vel_weight):
    for k in range(mean.shape[0]):
        w, h = mean[k, 2], mean[k, 3]
        q0, q1 = (pos_weight * w) ** 2, (pos_weight * h) ** 2
        q4, q5 = (vel_weight * w) ** 2, (vel_weight * h) ** 2
        for i in range(4):
            mean[k, i] += mean[k, i + 4]
        for i in range(4):  # F P: rows 4..7 added to rows 0..3; then columns likewise
            for j in range(8):
                cov[k, i, j] += cov[k, i + 4, j]
        for i in range(8):
            for j in range(4):
                cov[k, i, j] += cov[k, i, j + 4]
        cov[k, 0, 0] += q0
        cov[k, 1, 1] += q1
        cov[k, 2, 2] += q0
        cov[k, 3, 3] += q1
        cov[k, 4, 4] += q4
        cov[k, 5, 5] += q5
        cov[k, 6, 6] += q4
        cov[k, 7, 7] += q5


@numba.njit(cache=True, nogil=True)
def _gain_and_correct(p, inv, z_k, mean_k, gain):
    """The Kalman gain K = P H^T S^-1 (H observes the first 4 of the gain.shape[0] states; ``p``
    the state covariance, ``inv`` S^-1) into ``gain``, then ``mean_k += K (z_k - H mean_k)`` in
    place, in filterpy's order of operations (shared by SORT's and BoT-SORT's updates)."""
    for i in range(gain.shape[0]):
        for j in range(4):
            acc = 0.0
            for m in range(4):
                acc += p[i, m] * inv[m, j]
            gain[i, j] = acc
    y0, y1 = z_k[0] - mean_k[0], z_k[1] - mean_k[1]
    y2, y3 = z_k[2] - mean_k[2], z_k[3] - mean_k[3]
    for i in range(gain.shape[0]):
        mean_k[i] += gain[i, 0] * y0 + gain[i, 1] * y1 + gain[i, 2] * y2 + gain[i, 3] * y3


@numba.njit(cache=True, nogil=True)
def _xywh_update_kernel(mean, cov, z, pos_weight):
    s = np.empty((4, 4))
    s_copy = np.empty((4, 4))
    inv = np.empty((4, 4))
    gain = np.empty((8, 4))
    ks = np.empty((8, 4))
    for k in range(mean.shape[0]):
        p = cov[k]
        rw, rh = (pos_weight * mean[k, 2]) ** 2, (pos_weight * mean[k, 3]) ** 2
        for i in range(4):
            for j in range(4):
                s[i, j] = p[i, j]
        s[0, 0] += rw
        s[1, 1] += rh
        s[2, 2] += rw
        s[3, 3] += rh
        s_copy[:, :] = s
        _inverse4(s_copy, inv)
        _gain_and_correct(p, inv, z[k], mean[k], gain)
        for i in range(8):  # K S
            for j in range(4):
                acc = 0.0
                for m in range(4):
                    acc += gain[i, m] * s[m, j]
                ks[i, j] = acc
        for i in range(8):  # P -= (K S) K^T
            for j in range(8):
                acc = 0.0
                for m in range(4):
                    acc += ks[i, m] * gain[j, m]
                p[i, j] -= acc


def tlwh_to_xywh(tlwh: np.ndarray) -> np.ndarray:
    out = np.array(np.atleast_2d(tlwh), np.float64)
    out[:, :2] += out[:, 2:] / 2
    return out


# SORT's filter (module docstring).
SORT_MOTION = np.eye(7)
SORT_MOTION[[0, 1, 2], [4, 5, 6]] = 1.0
SORT_R = np.diag([1.0, 1.0, 10.0, 10.0])
SORT_P0 = np.diag([10.0, 10.0, 10.0, 10.0, 1e4, 1e4, 1e4])
SORT_Q = np.diag([1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4])


def tlbr_to_xysr(tlbr: np.ndarray) -> np.ndarray:
    """(cx, cy, s = w h, r = w / h) of (x1, y1, x2, y2) rows, SORT's convert_bbox_to_z."""
    tlbr = np.atleast_2d(np.asarray(tlbr, np.float64))
    w = tlbr[:, 2] - tlbr[:, 0]
    h = tlbr[:, 3] - tlbr[:, 1]
    out = np.empty((len(tlbr), 4))
    out[:, 0] = tlbr[:, 0] + w / 2
    out[:, 1] = tlbr[:, 1] + h / 2
    out[:, 2] = w * h
    out[:, 3] = w / h
    return out


def xysr_to_tlbr(xysr: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) of (cx, cy, s, r) rows, SORT's convert_x_to_bbox (NaN for s r < 0)."""
    xysr = np.atleast_2d(xysr)
    area = xysr[:, 2] * xysr[:, 3]
    w = np.sqrt(np.abs(area))
    w[area < 0] = np.nan  # sqrt of a negative number, without np.errstate's per-call cost
    h = xysr[:, 2] / w
    out = np.empty((len(xysr), 4))
    out[:, 0] = xysr[:, 0] - w / 2
    out[:, 1] = xysr[:, 1] - h / 2
    out[:, 2] = xysr[:, 0] + w / 2
    out[:, 3] = xysr[:, 1] + h / 2
    return out


def sort_initiate(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SORT tracks from measurements [N, 4] (cx, cy, s, r): zero velocity, P0."""
    z = np.atleast_2d(np.asarray(z, np.float64))
    mean = np.hstack([z, np.zeros((len(z), 3))])
    return mean, np.repeat(SORT_P0[None], len(z), axis=0)


def sort_predict(mean: np.ndarray, cov: np.ndarray,
                 clamp: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """SORT's KalmanBoxTracker.predict: a scale velocity that would make the area negative is
    zeroed first (``clamp``; the filter's own predict, used by OC-SORT's ORU, does not), then
    x = F x, P = F P F^T + Q. New arrays; the inputs are left alone."""
    mean, cov = np.array(mean, np.float64), np.array(cov, np.float64)
    _sort_predict_kernel(mean, cov, clamp)
    return mean, cov


def sort_update(mean: np.ndarray, cov: np.ndarray,
                z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """filterpy's KalmanFilter.update with H = [I_4 0], R = SORT_R: K = P H^T S^-1,
    x += K (z - H x), P = (I - K H) P (I - K H)^T + K R K^T. New arrays."""
    mean, cov = np.array(mean, np.float64), np.array(cov, np.float64)
    _sort_update_kernel(mean, cov, np.ascontiguousarray(z, np.float64).reshape(-1, 4))
    return mean, cov


@numba.njit(cache=True, nogil=True, inline="always")
def _inverse4(s, inv):
    """``inv`` = s^-1 for a 4 x 4 (positive definite) ``s``, by Gauss-Jordan elimination with
    partial pivoting; ``s`` is overwritten."""
    for i in range(4):
        for j in range(4):
            inv[i, j] = 1.0 if i == j else 0.0
    for c in range(4):
        piv = c
        for i in range(c + 1, 4):
            if abs(s[i, c]) > abs(s[piv, c]):
                piv = i
        if piv != c:
            for j in range(4):
                s[c, j], s[piv, j] = s[piv, j], s[c, j]
                inv[c, j], inv[piv, j] = inv[piv, j], inv[c, j]
        d = s[c, c]
        for j in range(4):
            s[c, j] /= d
            inv[c, j] /= d
        for i in range(4):
            if i != c:
                f = s[i, c]
                for j in range(4):
                    s[i, j] -= f * s[c, j]
                    inv[i, j] -= f * inv[c, j]


# One kernel each for SORT's predict and update over all tracks: per frame they replace a dozen
# small NumPy calls (SORT's tracker runs at thousands of frames/s, where call overhead rules).
@numba.njit(cache=True, nogil=True)
def _sort_predict_kernel(mean, cov, clamp):
    q = (1.0, 1.0, 1.0, 1.0, 0.01, 0.01, 1e-4)  # SORT_Q's diagonal
    for k in range(mean.shape[0]):
        if clamp and mean[k, 6] + mean[k, 2] <= 0:
            mean[k, 6] = 0.0
        for i in range(3):
            mean[k, i] += mean[k, i + 4]
        # F = I + E (E[i, i + 4] = 1, i < 3): F P adds rows 4..6 to rows 0..2, then (F P) F^T
        # adds columns 4..6 to columns 0..2: the same sums, in the same order, as the products.
        for i in range(3):
            for j in range(7):
                cov[k, i, j] += cov[k, i + 4, j]
        for i in range(7):
            for j in range(3):
                cov[k, i, j] += cov[k, i, j + 4]
        for i in range(7):
            cov[k, i, i] += q[i]


@numba.njit(cache=True, nogil=True)
def _sort_update_kernel(mean, cov, z):
    r = (1.0, 1.0, 10.0, 10.0)  # SORT_R's diagonal
    s = np.empty((4, 4))
    inv = np.empty((4, 4))
    gain = np.empty((7, 4))
    i_kh = np.empty((7, 7))
    tmp = np.empty((7, 7))
    for k in range(mean.shape[0]):
        p = cov[k]
        for i in range(4):
            for j in range(4):
                s[i, j] = p[i, j]
            s[i, i] += r[i]
        _inverse4(s, inv)
        _gain_and_correct(p, inv, z[k], mean[k], gain)
        for i in range(7):  # I - K H
            for j in range(7):
                i_kh[i, j] = (1.0 if i == j else 0.0) - (gain[i, j] if j < 4 else 0.0)
        for i in range(7):  # (I - K H) P
            for j in range(7):
                acc = 0.0
                for m in range(7):
                    acc += i_kh[i, m] * p[m, j]
                tmp[i, j] = acc
        for i in range(7):  # ... (I - K H)^T + K R K^T
            for j in range(7):
                acc = 0.0
                for m in range(7):
                    acc += tmp[i, m] * i_kh[j, m]
                for m in range(4):
                    acc += gain[i, m] * r[m] * gain[j, m]
                p[i, j] = acc
