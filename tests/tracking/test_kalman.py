"""Our batched Kalman filter equals filterpy's KalmanFilter configured with ByteTrack's model."""

import numpy as np
import pytest
from filterpy.kalman import KalmanFilter

from cvcore.tracking import kalman


def filterpy_track(z0):
    kf = KalmanFilter(dim_x=8, dim_z=4)
    kf.F = kalman.MOTION.copy()
    kf.H = kalman.OBSERVE.copy()
    mean, cov = kalman.initiate(z0)
    kf.x = mean[0].reshape(8, 1)
    kf.P = cov[0].copy()
    return kf


def test_200_steps_with_missed_frames_equal_filterpy():
    rng = np.random.default_rng(0)
    n = 5
    truth = np.column_stack([rng.uniform(100, 800, n), rng.uniform(100, 500, n),
                             rng.uniform(0.3, 0.6, n), rng.uniform(50, 300, n)])
    velocity = rng.normal(0, 2, (n, 4)) * [1, 1, 0.001, 0.2]
    mean, cov = kalman.initiate(truth)
    filters = [filterpy_track(truth[i:i + 1]) for i in range(n)]
    for _ in range(200):
        truth = truth + velocity
        # Process noise from the height before prediction (what ByteTrack's predict uses).
        q = kalman.process_noise(mean)
        mean, cov = kalman.predict(mean, cov)
        for i, kf in enumerate(filters):
            kf.predict(Q=q[i])
        seen = rng.random(n) > 0.3  # missed frames: predict only
        z = truth + rng.normal(0, 1, truth.shape) * [2, 2, 0.01, 2]
        if seen.any():
            r = kalman.measurement_noise(mean[seen])  # from the predicted height
            new_mean, new_cov = kalman.update(mean[seen], cov[seen], z[seen])
            mean[seen], cov[seen] = new_mean, new_cov
            for k, i in enumerate(np.flatnonzero(seen)):
                filters[i].update(z[i].reshape(4, 1), R=r[k])
        for i, kf in enumerate(filters):
            np.testing.assert_allclose(mean[i], kf.x.ravel(), rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(cov[i], kf.P, rtol=1e-9, atol=1e-9)
    assert np.abs(mean[:, :4] - truth).max() < 10  # and it actually tracks


def test_noise_model_weights():
    mean, cov = kalman.initiate(np.array([[10.0, 20.0, 0.5, 100.0]]))
    assert np.diag(cov[0])[:4] == pytest.approx([100.0, 100.0, 1e-4, 100.0])  # (2 * 100 / 20)^2
    assert np.diag(cov[0])[4] == pytest.approx((10 * 100 / 160) ** 2)
    q = kalman.process_noise(mean)[0]
    assert q[0, 0] == pytest.approx((100 / 20) ** 2) and q[7, 7] == pytest.approx((100 / 160) ** 2)
    r = kalman.measurement_noise(mean)[0]
    assert r[2, 2] == pytest.approx(1e-2) and r[3, 3] == pytest.approx(25.0)


def test_box_conversions_round_trip():
    tlwh = np.array([[10.0, 20.0, 30.0, 60.0], [0.5, 1.5, 2.0, 4.0]])
    xyah = kalman.tlwh_to_xyah(tlwh)
    assert xyah[0].tolist() == [25.0, 50.0, 0.5, 60.0]
    np.testing.assert_allclose(kalman.xyah_to_tlwh(xyah), tlwh)
