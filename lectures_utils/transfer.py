"""Transfer learning and generative-model helpers: gradient reversal (DANN), MMD and the Frechet distance.

- ``grad_reverse`` / ``GradientReversal``: the identity in the forward pass, ``-lambda`` times the
  incoming gradient in the backward pass (Ganin & Lempitsky's gradient-reversal layer);
- ``gaussian_kernel`` and ``mmd2``: the squared maximum mean discrepancy between two samples with a
  Gaussian (RBF) kernel, biased (V-statistic) or unbiased (U-statistic) estimate;
- ``frechet_distance`` and ``fid_from_features``: the Frechet (2-Wasserstein) distance between two
  Gaussians, the formula behind FID, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "grad_reverse",
    "GradientReversal",
    "gaussian_kernel",
    "mmd2",
    "gaussian_stats",
    "frechet_distance",
    "fid_from_features",
]


class _ReverseGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        return -ctx.lambd * grad_output, None


def _check_lambda(lambd) -> float:
    if isinstance(lambd, bool) or not isinstance(lambd, (int, float)):
        raise TypeError(f"lambd must be a float, got {type(lambd).__name__}")
    if not np.isfinite(lambd) or lambd < 0:
        raise ValueError(f"lambd must be a finite non-negative float, got {lambd}")
    return float(lambd)


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; backward multiplies the gradient by ``-lambd``. ``x``: any float tensor."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    return _ReverseGrad.apply(x, _check_lambda(lambd))


class GradientReversal(torch.nn.Module):
    """The gradient-reversal layer as a module; ``lambd`` may be changed during training."""

    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = _check_lambda(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


def _check_samples(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must be (n, d) and (m, d) with the same d, got {tuple(x.shape)} and {tuple(y.shape)}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"need at least 2 samples on each side, got {len(x)} and {len(y)}")
    return x, y


def gaussian_kernel(x: torch.Tensor, y: torch.Tensor, bandwidth: float) -> torch.Tensor:
    """``k(x_i, y_j) = exp(-|x_i - y_j|^2 / (2 bandwidth^2))``: ``(n, m)`` for x ``(n, d)``, y ``(m, d)``."""
    if not (isinstance(bandwidth, (int, float)) and bandwidth > 0):
        raise ValueError(f"bandwidth must be a positive float, got {bandwidth!r}")
    sq = (x.pow(2).sum(1)[:, None] + y.pow(2).sum(1)[None, :] - 2 * x @ y.T).clamp_min(0)
    return torch.exp(-sq / (2 * bandwidth ** 2))


def mmd2(x: torch.Tensor, y: torch.Tensor, bandwidth: float = 1.0, unbiased: bool = True) -> torch.Tensor:
    """Squared MMD between samples ``x`` (n, d) and ``y`` (m, d) with a Gaussian kernel (differentiable).

    ``MMD^2 = E k(x, x') + E k(y, y') - 2 E k(x, y)``; the unbiased estimate leaves the diagonal
    terms ``k(x_i, x_i)`` out of the first two means (it can be slightly negative), the biased one
    keeps them (it is the squared distance between the two kernel mean embeddings, always >= 0).
    """
    x, y = _check_samples(x, y)
    n, m = len(x), len(y)
    kxx, kyy, kxy = gaussian_kernel(x, x, bandwidth), gaussian_kernel(y, y, bandwidth), gaussian_kernel(x, y, bandwidth)
    if unbiased:
        term_x = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
        term_y = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    else:
        term_x, term_y = kxx.mean(), kyy.mean()
    return term_x + term_y - 2 * kxy.mean()


def gaussian_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(d,)`` and sample covariance ``(d, d)`` (divisor n - 1) of ``features`` ``(n, d)``."""
    f = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"features must be (n, d) with n >= 2, got shape {f.shape}")
    f = f.astype(np.float64)
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Square root of a symmetric positive semi-definite matrix by its eigendecomposition."""
    w, v = np.linalg.eigh((matrix + matrix.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1^1/2 sigma2 sigma1^1/2)^1/2)``;
    the last trace equals ``tr((sigma1 sigma2)^1/2)`` of the usual FID formula, computed here with
    symmetric eigendecompositions only (no complex matrix square root). mu: ``(d,)``, sigma: ``(d, d)``
    symmetric positive semi-definite.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"expected mu1, mu2 of shape (d,) and sigma1, sigma2 of shape (d, d); got "
                         f"{mu1.shape}, {mu2.shape}, {s1.shape}, {s2.shape}")
    for name, s in (("sigma1", s1), ("sigma2", s2)):
        if not np.allclose(s, s.T, atol=1e-8 * max(1.0, np.abs(s).max())):
            raise ValueError(f"{name} must be symmetric")
        if np.linalg.eigvalsh((s + s.T) / 2).min() < -1e-6 * max(1.0, np.abs(s).max()):
            raise ValueError(f"{name} must be positive semi-definite")
    root1 = _sqrt_psd(s1)
    cross = np.trace(_sqrt_psd(root1 @ s2 @ root1))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * cross)


def fid_from_features(real, fake) -> float:
    """Frechet distance between Gaussians fitted to two feature sets ``(n, d)`` and ``(m, d)``."""
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(fake))
