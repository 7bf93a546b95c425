"""Tests for lectures_utils.transfer: the gradient-reversal layer against torch.autograd, MMD against a
brute-force double loop, the Frechet distance against scipy.linalg.sqrtm and a 1-D closed form."""

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from lectures_utils import (GradientReversal, fid_from_features, frechet_distance, gaussian_kernel, gaussian_stats,
                            grad_reverse, mmd2)


@pytest.mark.parametrize("lambd", [0.0, 0.3, 1.0, 2.5])
def test_gradient_reversal_is_identity_forward_and_minus_lambda_backward(lambd):
    torch.manual_seed(0)
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    y = grad_reverse(x, lambd)
    assert torch.equal(y, x)
    (g,) = torch.autograd.grad((y * w).sum(), x)
    (g_plain,) = torch.autograd.grad((x * w).sum(), x)
    torch.testing.assert_close(g, -lambd * g_plain)


def test_gradient_reversal_module_inside_a_network():
    torch.manual_seed(1)
    feat, head = torch.nn.Linear(4, 3), torch.nn.Linear(3, 1)
    x = torch.randn(8, 4)
    loss = head(GradientReversal(0.5)(feat(x))).sum()
    loss.backward()
    g_rev = feat.weight.grad.clone()
    feat.zero_grad()
    head(feat(x)).sum().backward()
    torch.testing.assert_close(g_rev, -0.5 * feat.weight.grad)
    assert "lambd=0.5" in repr(GradientReversal(0.5))


def _mmd_brute_force(x, y, h, unbiased):
    k = lambda a, b: np.exp(-np.sum((a - b) ** 2) / (2 * h * h))  # noqa: E731
    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    dx, dy = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    return sxx / dx + syy / dy - 2 * sxy / (n * m)


@pytest.mark.parametrize("unbiased", [True, False])
def test_mmd_matches_a_double_loop(unbiased):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(0.5, 1.0, size=(9, 3))
    got = mmd2(torch.tensor(x), torch.tensor(y), bandwidth=1.3, unbiased=unbiased).item()
    assert got == pytest.approx(_mmd_brute_force(x, y, 1.3, unbiased), abs=1e-10)


def test_mmd_is_small_for_the_same_distribution_and_grows_with_the_shift():
    torch.manual_seed(0)
    x = torch.randn(400, 2)
    values = [mmd2(x, torch.randn(400, 2) + shift).item() for shift in (0.0, 0.5, 1.0)]
    assert abs(values[0]) < 0.01 and values[0] < values[1] < values[2]
    assert mmd2(x, x, unbiased=False).item() == pytest.approx(0.0, abs=1e-7)


def test_gaussian_kernel_values():
    x, y = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    assert gaussian_kernel(x, y, 5.0).item() == pytest.approx(np.exp(-25 / 50))


@pytest.mark.parametrize("d", [1, 3, 8])
def test_frechet_distance_matches_scipy_sqrtm(d):
    rng = np.random.default_rng(d)
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + 0.1 * np.eye(d), b @ b.T + 0.1 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * sqrtm(s1 @ s2).real)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-7, abs=1e-9)


def test_frechet_distance_closed_form_in_1d_and_zero_for_equal_gaussians():
    assert frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(4 + (2 - 3) ** 2)
    rng = np.random.default_rng(0)
    f = rng.normal(size=(200, 4))
    assert fid_from_features(f, f) == pytest.approx(0.0, abs=1e-8)
    mu, sigma = gaussian_stats(torch.tensor(f))
    np.testing.assert_allclose(sigma, np.cov(f.T))


def test_bad_inputs():
    with pytest.raises(TypeError, match="torch.Tensor"):
        grad_reverse(np.zeros(3))
    with pytest.raises(ValueError, match="non-negative"):
        GradientReversal(-1.0)
    with pytest.raises(ValueError, match="same d"):
        mmd2(torch.zeros(4, 2), torch.zeros(4, 3))
    with pytest.raises(ValueError, match="at least 2"):
        mmd2(torch.zeros(1, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="bandwidth"):
        mmd2(torch.zeros(3, 2), torch.zeros(3, 2), bandwidth=0.0)
    with pytest.raises(TypeError, match="tensors"):
        mmd2(np.zeros((3, 2)), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="shape"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        frechet_distance(np.zeros(2), np.array([[1.0, 0.5], [0.0, 1.0]]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="semi-definite"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(ValueError, match="n >= 2"):
        gaussian_stats(np.zeros((1, 3)))
