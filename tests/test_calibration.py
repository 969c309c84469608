"""ECE: hand-computed cases, an independent plain implementation, the bin-edge rule."""

import numpy as np
import pytest

from cvcore.calibration import classification_ece, expected_calibration_error
from cvcore.errors import InputError


def plain_ece(conf, correct, n_bins=10):
    """Independent loop over bins [k/10, (k+1)/10) (the last one closed), comparing each
    score with the doubles nearest k/10."""
    total = 0.0
    for b in range(n_bins):
        members = [i for i, c in enumerate(conf)
                   if c >= b / n_bins and (b == n_bins - 1 or c < (b + 1) / n_bins)]
        if members:
            acc = sum(correct[i] for i in members) / len(members)
            mean = sum(conf[i] for i in members) / len(members)
            total += len(members) / len(conf) * abs(acc - mean)
    return total


def test_hand_computed():
    # Bin [0.9, 1]: conf 0.95 x2, one right -> |0.5 - 0.95| * 2/4; bin [0.2, 0.3): conf 0.25 x2,
    # both wrong -> |0 - 0.25| * 2/4.
    r = expected_calibration_error([0.95, 0.95, 0.25, 0.25], [True, False, False, False])
    assert r.ece == pytest.approx(0.5 * 0.45 + 0.5 * 0.25, abs=1e-15)
    assert r.counts.tolist() == [0, 0, 2, 0, 0, 0, 0, 0, 0, 2]
    assert np.isnan(r.accuracy[0]) and r.accuracy[9] == 0.5


def test_perfectly_calibrated_is_zero():
    r = expected_calibration_error([0.5, 0.5, 1.0, 1.0], [True, False, True, True])
    assert r.ece == 0.0


def test_random_against_plain_implementation():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 300))
        conf = np.round(rng.random(n), int(rng.integers(1, 6)))  # many scores on bin edges
        correct = rng.random(n) < conf
        got = expected_calibration_error(conf, correct).ece
        assert got == pytest.approx(plain_ece(conf.tolist(), correct.tolist()), abs=1e-12)


def test_edge_scores_land_in_the_upper_bin():
    edges = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    r = expected_calibration_error(edges, [True] * 11)
    assert r.counts.tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
    # floor(10 c) agrees with our bins on every 5-decimal score; linspace edges do not.
    c = np.round(np.random.default_rng(1).random(200000), 5)
    ours = np.minimum(np.searchsorted(np.arange(11) / 10, c, side="right") - 1, 9)
    assert (np.minimum(np.floor(10 * c), 9) == ours).all()
    linspace = np.searchsorted(np.linspace(0, 1, 11), [0.3, 0.6, 0.7], side="right") - 1
    assert linspace.tolist() == [2, 5, 6]


def test_classification_ece():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.85, 0.05], [0.4, 0.35, 0.25]])
    labels = np.array([0, 2, 0])
    r = classification_ece(probs, labels)
    expected = plain_ece([0.7, 0.85, 0.4], [True, False, True])
    assert r.ece == pytest.approx(expected, abs=1e-15) and r.n == 3


def test_rejects_non_probabilities():
    with pytest.raises(InputError, match="outside"):
        expected_calibration_error([1.5], [True])
