"""Losses from the reference report's theory questions, as working code.

``label_smoothed_cross_entropy``: the report's formula for K classes and smoothing epsilon,

    H(p, q) = -(1 - eps + eps / K) log q_c - (eps / K) sum_{j != c} log q_j,

i.e. cross-entropy against the target distribution p_c = 1 - eps + eps / K, p_j = eps / K. It
equals ``torch.nn.functional.cross_entropy(logits, target, label_smoothing=eps)`` (tested).

``gaussian_cross_entropy``: the closed form derived in the report for two univariate normals,

    H(N(mu_p, s_p^2), N(mu_q, s_q^2)) = 1/2 ln(2 pi s_q^2) + (s_p^2 + (mu_p - mu_q)^2) / (2 s_q^2),

in nats (tested against numerical integration).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def label_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, eps: float = 0.1,
                                 ignore_index: int = -100) -> torch.Tensor:
    """Mean loss over samples (and pixels): logits float[N, K, ...], target int64[N, ...].

    Targets equal to ``ignore_index`` are left out of the mean, as in ``F.cross_entropy``.
    """
    num_classes = logits.shape[1]
    log_q = F.log_softmax(logits, dim=1)
    valid = target != ignore_index
    safe = torch.where(valid, target, torch.zeros_like(target))
    log_q_correct = log_q.gather(1, safe.unsqueeze(1)).squeeze(1)
    sum_log_q = log_q.sum(dim=1)
    # -(1 - eps + eps/K) log q_c - eps/K * sum_{j != c} log q_j
    #   = -(1 - eps) log q_c - eps/K * sum_j log q_j
    loss = -(1 - eps) * log_q_correct - eps / num_classes * sum_log_q
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return loss.sum() / valid.sum().clamp(min=1)


def gaussian_cross_entropy(mu_p: float, sigma_p: float, mu_q: float, sigma_q: float) -> float:
    """Cross-entropy H(p, q) in nats, p = N(mu_p, sigma_p^2), q = N(mu_q, sigma_q^2)."""
    if sigma_p <= 0 or sigma_q <= 0:
        raise ValueError("standard deviations must be positive")
    return (0.5 * math.log(2 * math.pi * sigma_q ** 2)
            + (sigma_p ** 2 + (mu_p - mu_q) ** 2) / (2 * sigma_q ** 2))
