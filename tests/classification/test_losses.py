"""The report's loss formulas equal PyTorch's label smoothing and numerical integration."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from cvcore.classification.losses import gaussian_cross_entropy, label_smoothed_cross_entropy


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_equals_torch(eps):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(64, 10, generator=g, dtype=torch.float64) * 3
    target = torch.randint(0, 10, (64,), generator=g)
    ours = label_smoothed_cross_entropy(logits, target, eps)
    ref = F.cross_entropy(logits, target, label_smoothing=eps)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-12)


def test_label_smoothing_per_pixel_with_ignore_index():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 4, 6, generator=g, dtype=torch.float64)
    target = torch.randint(0, 5, (2, 4, 6), generator=g)
    target[0, 0] = 255
    ours = label_smoothed_cross_entropy(logits, target, 0.1, ignore_index=255)
    ref = F.cross_entropy(logits, target, label_smoothing=0.1, ignore_index=255)
    assert ours.item() == pytest.approx(ref.item(), abs=1e-12)


def test_label_smoothing_matches_the_written_formula():
    """One sample, by hand: -(1 - eps + eps/K) log q_c - eps/K sum_{j != c} log q_j."""
    logits = torch.tensor([[2.0, 0.5, -1.0]], dtype=torch.float64)
    q = torch.softmax(logits, 1)[0].tolist()
    eps, k, c = 0.1, 3, 0
    by_hand = -(1 - eps + eps / k) * math.log(q[c]) - eps / k * sum(
        math.log(q[j]) for j in range(k) if j != c)
    assert label_smoothed_cross_entropy(logits, torch.tensor([c]), eps).item() == pytest.approx(
        by_hand, abs=1e-14)


@pytest.mark.parametrize("mu_p, s_p, mu_q, s_q", [(0, 1, 0, 1), (1.5, 0.5, -0.3, 2.0),
                                                  (-2, 3, 1, 0.7)])
def test_gaussian_cross_entropy_against_integration(mu_p, s_p, mu_q, s_q):
    def integrand(x):
        return -stats.norm.pdf(x, mu_p, s_p) * stats.norm.logpdf(x, mu_q, s_q)

    numeric, _ = integrate.quad(integrand, mu_p - 40 * s_p, mu_p + 40 * s_p, limit=200)
    assert gaussian_cross_entropy(mu_p, s_p, mu_q, s_q) == pytest.approx(numeric, abs=1e-9)


def test_gaussian_equal_sigma_special_case_and_entropy():
    # sigma_p = sigma_q: 1/2 ln(2 pi s^2) + 1/2 + (mu_p - mu_q)^2 / (2 s^2); p = q: the entropy.
    assert gaussian_cross_entropy(1.0, 2.0, 3.0, 2.0) == pytest.approx(
        0.5 * np.log(2 * np.pi * 4) + 0.5 + 4 / 8)
    assert gaussian_cross_entropy(0, 1.3, 0, 1.3) == pytest.approx(stats.norm(0, 1.3).entropy())


@settings(max_examples=60, deadline=None)
@given(k=st.integers(2, 20), n=st.integers(1, 40), eps=st.floats(0, 1),
       scale=st.floats(0.01, 30), seed=st.integers(0, 2**31 - 1))
def test_label_smoothing_property_random_shapes(k, n, eps, scale, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g, dtype=torch.float64) * scale
    target = torch.randint(0, k, (n,), generator=g)
    ours = label_smoothed_cross_entropy(logits, target, eps)
    ref = F.cross_entropy(logits, target, label_smoothing=eps)
    assert ours.item() == pytest.approx(ref.item(), rel=1e-12, abs=1e-12)


@settings(max_examples=25, deadline=None)
@given(mu_p=st.floats(-5, 5), s_p=st.floats(0.2, 4), mu_q=st.floats(-5, 5),
       s_q=st.floats(0.2, 4))
def test_gaussian_cross_entropy_property(mu_p, s_p, mu_q, s_q):
    def integrand(x):
        return -stats.norm.pdf(x, mu_p, s_p) * stats.norm.logpdf(x, mu_q, s_q)

    numeric, _ = integrate.quad(integrand, mu_p - 40 * s_p, mu_p + 40 * s_p, limit=400,
                                points=[mu_p], epsabs=1e-12, epsrel=1e-12)
    assert gaussian_cross_entropy(mu_p, s_p, mu_q, s_q) == pytest.approx(numeric, rel=1e-9,
                                                                          abs=1e-9)
