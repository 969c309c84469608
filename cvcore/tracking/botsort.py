"""BoT-SORT (Aharon et al., 2022) without ReID: ByteTrack's association on a (x, y, w, h)
Kalman state, with camera-motion compensation (``NirAharon/BoT-SORT``'s tracker semantics).

Differences from :class:`cvcore.tracking.bytetrack.ByteTracker` (whose five steps it runs):

- the Kalman state is box centre, width and height with their velocities, noise scaled by the
  width for x and w and by the height for y and h (:func:`cvcore.tracking.kalman.initiate_xywh`
  and friends); lost tracks have both size velocities zeroed before predicting;
- defaults: match cost 0.8 as the official tracker; high-score threshold 0.5 (official 0.6),
  new tracks from 0.9 (0.7) and a 25-frame buffer (30), chosen as the one setting for all
  of MOT15 train with SORT's public detections (HOTA 38.66 there, 38.19 with the official
  values);
- **CMC**: given the frame, the global motion from the previous frame is estimated
  (:class:`CameraMotion`: ``sparse``, corners tracked by pyramidal Lucas-Kanade and a RANSAC
  similarity, or ``ecc``, OpenCV's ECC maximisation with a Euclidean model) on the frame
  downscaled by ``cmc_downscale``, and applied to every predicted track (:func:`warp_tracks`):
  x' = A x + t for the position, A for each velocity and size pair, P' = A P A^T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kalman
from .bytetrack import ByteTrackConfig, ByteTracker, Track

CMC_METHODS = ("none", "sparse", "ecc")


@dataclass
class BoTSORTConfig(ByteTrackConfig):
    """BoT-SORT's settings (``track.py``'s options read them here; the module docstring says
    where they differ from the official ones)."""

    track_thresh: float = 0.5
    new_track_thresh: float | None = 0.9
    track_buffer: int = 25
    cmc: str = "sparse"      # used when frames are given to update(); see CMC_METHODS
    cmc_downscale: int = 2


class BoTTrack(Track):
    @property
    def tlwh(self) -> np.ndarray:
        x, y, w, h = self.mean[:4]
        return np.array([x - w / 2, y - h / 2, w, h])

    @staticmethod
    def boxes(state: np.ndarray) -> np.ndarray:
        out = np.empty((len(state), 4))
        out[:, :2] = state[:, :2] - state[:, 2:4] / 2
        out[:, 2:] = out[:, :2] + state[:, 2:4]
        return out


def warp_tracks(mean: np.ndarray, cov: np.ndarray,
                affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply a 2 x 3 affine camera motion to Kalman states mean [N, 8], cov [N, 8, 8]: each
    (x, y), (w, h), (vx, vy), (vw, vh) pair is multiplied by A = affine[:, :2], the translation
    added to (x, y)."""
    big = np.kron(np.eye(4), affine[:, :2])
    mean = mean @ big.T
    mean[:, :2] += affine[:, 2]
    return mean, big @ cov @ big.T


class CameraMotion:
    """Frame-to-frame global motion (2 x 3 affine, previous frame's pixels to this one's) from
    BGR frames; the first frame, or a failed estimate, gives the identity."""

    def __init__(self, method: str = "sparse", downscale: int = 2):
        if method not in CMC_METHODS[1:]:
            raise ValueError(f"unknown camera-motion method {method!r}")
        self.method, self.downscale = method, max(int(downscale), 1)
        self.previous = None
        self.points = None

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
        if self.downscale > 1:
            gray = cv2.resize(gray, (gray.shape[1] // self.downscale,
                                     gray.shape[0] // self.downscale))
        return gray

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        gray = self._gray(frame)
        previous, self.previous = self.previous, gray
        affine = np.eye(2, 3)
        if self.method == "sparse":
            affine_small = self._sparse(previous, gray)
        else:
            affine_small = self._ecc(previous, gray)
        if affine_small is not None:
            affine = affine_small.astype(np.float64)
            affine[:, 2] *= self.downscale
        return affine

    def _sparse(self, previous, gray):
        import cv2

        points, old = cv2.goodFeaturesToTrack(gray, maxCorners=1000, qualityLevel=0.01,
                                              minDistance=1, blockSize=3), self.points
        self.points = points
        if previous is None or old is None or len(old) < 5 or previous.shape != gray.shape:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, gray, old, None)
        ok = status.ravel() == 1
        if ok.sum() < 5:
            return None
        affine, _ = cv2.estimateAffinePartial2D(old[ok], moved[ok], method=cv2.RANSAC)
        return affine

    def _ecc(self, previous, gray):
        import cv2

        if previous is None or previous.shape != gray.shape:
            return None
        warp = np.eye(2, 3, dtype=np.float32)
        criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5)
        try:
            _, warp = cv2.findTransformECC(cv2.GaussianBlur(previous, (3, 3), 1.5),
                                           cv2.GaussianBlur(gray, (3, 3), 1.5), warp,
                                           cv2.MOTION_EUCLIDEAN, criteria, None, 1)
        except cv2.error:  # no convergence (e.g. a blank frame): no compensation
            return None
        return warp


class BoTSORTTracker(ByteTracker):
    """:class:`ByteTracker` with BoT-SORT's Kalman model and camera-motion compensation; call
    :meth:`update` once per frame (with the frame image for CMC)."""

    track_class = BoTTrack
    lost_frozen = [6, 7]

    def __init__(self, config: BoTSORTConfig | None = None):
        super().__init__(config or BoTSORTConfig())
        method = getattr(self.cfg, "cmc", "none")
        self.motion = (None if method == "none"
                       else CameraMotion(method, getattr(self.cfg, "cmc_downscale", 2)))

    @staticmethod
    def _initiate(tlwh: np.ndarray):
        return kalman.initiate_xywh(kalman.tlwh_to_xywh(tlwh))

    @staticmethod
    def _kf_predict(mean: np.ndarray, cov: np.ndarray):
        return kalman.predict_xywh(mean, cov)

    @staticmethod
    def _kf_update(mean: np.ndarray, cov: np.ndarray, tlwh: np.ndarray):
        return kalman.update_xywh(mean, cov, kalman.tlwh_to_xywh(tlwh))

    def _compensate(self, tracks: list[Track], frame: np.ndarray | None) -> None:
        if self.motion is None or frame is None:
            return
        affine = self.motion(frame)
        if not tracks or np.array_equal(affine, np.eye(2, 3)):
            return
        mean, cov = warp_tracks(np.array([t.mean for t in tracks]),
                                np.array([t.cov for t in tracks]), affine)
        for t, m, c in zip(tracks, mean, cov, strict=True):
            t.mean, t.cov = m, c
