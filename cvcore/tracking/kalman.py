"""Constant-velocity Kalman filter on (x, y, a, h) with ByteTrack's noise model, batched.

State: box centre x, y, aspect ratio a = w / h, height h, and their velocities (8 numbers).
Noise scales with the box height: position weight 1/20, velocity weight 1/160, as in ByteTrack
(and DeepSORT). The process noise of a prediction uses the height *before* the prediction; the
measurement noise of an update uses the *predicted* height. All functions work on stacks of
tracks: ``mean`` float64[N, 8], ``cov`` float64[N, 8, 8]; measurements float64[N, 4].
"""

from __future__ import annotations

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
    q = process_noise(mean)
    return mean @ MOTION.T, MOTION @ cov @ MOTION.T + q


def project(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted measurement and its covariance S = H P H^T + R."""
    return mean[:, :NDIM], cov[:, :NDIM, :NDIM] + measurement_noise(mean)


def update(mean: np.ndarray, cov: np.ndarray,
           measurement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correct every track with its measurement [N, 4]: K = P H^T S^-1, x += K (z - H x),
    P -= K S K^T."""
    z_pred, s = project(mean, cov)
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
