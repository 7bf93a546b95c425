"""Tests for lectures_utils.gp against scikit-learn, GPyTorch, SciPy and the textbook formulas."""

import math

import gpytorch
import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, WhiteKernel

from lectures_utils import (
    condition_gaussian,
    fit_exact_gp,
    gp_posterior,
    log_marginal_likelihood,
    make_exact_gp,
    rbf_kernel,
    sample_gaussian,
)


def _data(n=25, d=1, seed=0, noise=0.1):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, size=(n, d)) if d > 1 else np.sort(rng.uniform(-3, 3, size=n))
    base = x if d == 1 else x.sum(1)
    y = np.sin(2 * base) + noise * rng.standard_normal(n)
    return x, y


def _sklearn_gpr(x, y, lengthscale, outputscale, noise):
    kernel = ConstantKernel(outputscale, "fixed") * RBF(lengthscale, "fixed") + WhiteKernel(noise, "fixed")
    gpr = GaussianProcessRegressor(kernel=kernel, alpha=0.0, optimizer=None, normalize_y=False)
    return gpr.fit(x.reshape(len(x), -1), y)


def _gpytorch_predict(x, y, xs, lengthscale, outputscale, noise):
    model, likelihood = make_exact_gp(x, y, lengthscale, outputscale, noise)
    model.eval()
    likelihood.eval()
    xs_t = torch.as_tensor(xs, dtype=torch.float64).reshape(len(xs), -1)
    with torch.no_grad(), gpytorch.settings.fast_pred_var(False):
        f = model(xs_t)
    return f.mean.numpy(), f.variance.numpy()


# ----------------------------------------------------------------- kernel
@pytest.mark.parametrize("d", [1, 3])
def test_rbf_kernel_matches_sklearn_and_gpytorch(d):
    x1, _ = _data(7, d, seed=1)
    x2, _ = _data(5, d, seed=2)
    ours = rbf_kernel(x1, x2, lengthscale=0.7, outputscale=2.5).numpy()
    ref = (ConstantKernel(2.5) * RBF(0.7))(x1.reshape(7, -1), x2.reshape(5, -1))
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    kern = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel()).double()
    kern.base_kernel.lengthscale = torch.tensor(0.7, dtype=torch.float64)
    kern.outputscale = torch.tensor(2.5, dtype=torch.float64)
    with torch.no_grad():
        ref_gp = kern(torch.as_tensor(x1).reshape(7, -1), torch.as_tensor(x2).reshape(5, -1)).to_dense().numpy()
    np.testing.assert_allclose(ours, ref_gp, rtol=1e-10, atol=1e-12)


def test_rbf_kernel_reads_the_lecture_kernel():
    x = np.array([0.0, 1.0, 5.0])
    k = rbf_kernel(x, lengthscale=math.sqrt(75), outputscale=3.0).numpy()
    expected = 3 * np.exp(-((x[:, None] - x[None, :]) ** 2) / 150)
    np.testing.assert_allclose(k, expected, rtol=1e-14)
    assert k.shape == (3, 3) and np.allclose(k, k.T)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(x1=np.zeros((2, 2, 2))), ValueError, "shape"),
        (dict(x1=np.array([])), ValueError, "empty"),
        (dict(x1=np.array(["a", "b"])), TypeError, "numeric"),
        (dict(x1=np.array([0.0, np.nan])), ValueError, "NaN"),
        (dict(x1=np.zeros((3, 2)), x2=np.zeros((3, 1))), ValueError, "dimensions"),
        (dict(x1=np.zeros(3), lengthscale=0.0), ValueError, "lengthscale"),
        (dict(x1=np.zeros(3), outputscale=-1.0), ValueError, "outputscale"),
        (dict(x1=np.zeros(3), lengthscale="1"), TypeError, "lengthscale"),
    ],
)
def test_rbf_kernel_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        rbf_kernel(**kwargs)


# ----------------------------------------------------------------- conditioning and sampling
def test_condition_gaussian_matches_explicit_inverse():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 5))
    cov = a @ a.T + 0.5 * np.eye(5)
    mean = rng.standard_normal(5)
    obs, rest = [3, 0], [1, 2, 4]
    y1 = np.array([0.4, -1.2])
    m, c = condition_gaussian(mean, cov, obs, y1)
    s11, s21, s22 = cov[np.ix_(obs, obs)], cov[np.ix_(rest, obs)], cov[np.ix_(rest, rest)]
    gain = s21 @ np.linalg.inv(s11)
    np.testing.assert_allclose(m.numpy(), mean[rest] + gain @ (y1 - mean[obs]), rtol=1e-10)
    np.testing.assert_allclose(c.numpy(), s22 - gain @ s21.T, rtol=1e-10, atol=1e-12)


def test_condition_gaussian_bivariate_closed_form():
    rho = 0.9
    m, c = condition_gaussian([0.0, 0.0], [[1.0, rho], [rho, 1.0]], [0], [1.5])
    assert abs(m.item() - rho * 1.5) < 1e-12
    assert abs(c.item() - (1 - rho**2)) < 1e-12


def test_condition_gaussian_equals_noise_free_gp_posterior():
    x, y = _data(6, seed=4)
    xs = np.array([-1.0, 0.3])
    allx = np.concatenate([x, xs])
    cov = rbf_kernel(allx, lengthscale=0.8, outputscale=1.3).numpy() + 1e-9 * np.eye(8)
    m, c = condition_gaussian(np.zeros(8), cov, list(range(6)), y)
    post = gp_posterior(x, y, xs, 0.8, 1.3, noise_variance=1e-9, full_cov=True)
    np.testing.assert_allclose(m.numpy(), post.mean.numpy(), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(c.numpy() - 1e-9 * np.eye(2), post.cov.numpy(), atol=1e-8)


@pytest.mark.parametrize(
    "args, error, match",
    [
        (([0.0, 0.0], [[1.0, 0.5], [0.4, 1.0]], [0], [1.0]), ValueError, "symmetric"),
        (([0.0, 0.0], np.eye(3), [0], [1.0]), ValueError, "shape"),
        (([0.0, 0.0], np.eye(2), [2], [1.0]), ValueError, "indices"),
        (([0.0, 0.0], np.eye(2), [0, 0], [1.0, 1.0]), ValueError, "distinct"),
        (([0.0, 0.0], np.eye(2), [0, 1], [1.0, 1.0]), ValueError, "every variable"),
        (([0.0, 0.0], np.eye(2), [0], [1.0, 2.0]), ValueError, "one entry"),
        (([0.0, 0.0], np.eye(2), [0.5], [1.0]), TypeError, "integer"),
        (([0.0, 0.0, 0.0], np.ones((3, 3)), [0, 1], [1.0, 1.0]), ValueError, "positive definite"),
    ],
)
def test_condition_gaussian_rejects_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        condition_gaussian(*args)


def test_sample_gaussian_is_reproducible_and_has_the_right_moments():
    cov = np.array([[1.0, 0.9], [0.9, 1.0]])
    a = sample_gaussian([1.0, -1.0], cov, 20000, generator=torch.Generator().manual_seed(0))
    b = sample_gaussian([1.0, -1.0], cov, 20000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (20000, 2)
    np.testing.assert_allclose(a.mean(0).numpy(), [1.0, -1.0], atol=0.03)
    np.testing.assert_allclose(np.cov(a.numpy().T), cov, atol=0.03)


def test_sample_gaussian_needs_jitter_for_singular_cov():
    grid = np.linspace(0, 10, 200)
    k = rbf_kernel(grid, lengthscale=3.0).numpy()
    with pytest.raises(ValueError, match="jitter"):
        sample_gaussian(np.zeros(200), k, 2)
    assert sample_gaussian(np.zeros(200), k, 2, jitter=1e-8).shape == (2, 200)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="n_samples"):
            sample_gaussian([0.0], [[1.0]], bad)


# ----------------------------------------------------------------- posterior and marginal likelihood
@pytest.mark.parametrize("noise", [1e-6, 0.01, 1.0])
@pytest.mark.parametrize("d", [1, 2])
def test_gp_posterior_matches_sklearn_and_gpytorch(noise, d):
    x, y = _data(30, d, seed=5)
    xs, _ = _data(17, d, seed=6)
    ours = gp_posterior(x, y, xs, lengthscale=0.9, outputscale=1.7, noise_variance=noise)
    gpr = _sklearn_gpr(x, y, 0.9, 1.7, noise)
    # sklearn's std includes the WhiteKernel noise at test points: subtract it to get var(f*).
    mean_sk, std_sk = gpr.predict(xs.reshape(17, -1), return_std=True)
    np.testing.assert_allclose(ours.mean.numpy(), mean_sk, atol=1e-6)
    np.testing.assert_allclose(ours.var.numpy(), np.maximum(std_sk**2 - noise, 0), atol=1e-6)
    mean_gp, var_gp = _gpytorch_predict(x, y, xs, 0.9, 1.7, noise)
    np.testing.assert_allclose(ours.mean.numpy(), mean_gp, atol=1e-6)
    np.testing.assert_allclose(ours.var.numpy(), var_gp, atol=1e-6)
    np.testing.assert_allclose(ours.predictive_var.numpy(), ours.var.numpy() + noise)


def test_gp_posterior_full_cov_diagonal_is_var_and_noise_free_interpolates():
    x = np.linspace(-3, 3, 10)  # well separated, so K is well conditioned
    y = np.sin(2 * x)
    post = gp_posterior(x, y, x, 1.0, 1.0, noise_variance=1e-10, full_cov=True)
    np.testing.assert_allclose(torch.diagonal(post.cov).numpy(), post.var.numpy(), atol=1e-12)
    np.testing.assert_allclose(post.mean.numpy(), y, atol=1e-5)
    assert post.var.max().item() < 1e-6


@pytest.mark.parametrize("noise", [1e-4, 0.05, 2.0])
def test_log_marginal_likelihood_matches_sklearn_gpytorch_scipy(noise):
    x, y = _data(40, 1, seed=8)
    ours = log_marginal_likelihood(x, y, 0.6, 1.4, noise).item()
    post = gp_posterior(x, y, x[:3], 0.6, 1.4, noise)
    assert abs(ours - post.log_marginal_likelihood.item()) < 1e-9
    sk = _sklearn_gpr(x, y, 0.6, 1.4, noise).log_marginal_likelihood_value_
    assert abs(ours - sk) < 1e-6 * max(1.0, abs(sk))
    k = 1.4 * np.exp(-((x[:, None] - x[None, :]) ** 2) / (2 * 0.6**2)) + noise * np.eye(40)
    assert abs(ours - multivariate_normal(np.zeros(40), k).logpdf(y)) < 1e-6 * max(1.0, abs(ours))
    model, likelihood = make_exact_gp(x, y, 0.6, 1.4, noise)
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    model.train()
    likelihood.train()
    with torch.no_grad():
        per_point = mll(model(model.train_inputs[0]), model.train_targets).item()
    # GPyTorch reports the log marginal likelihood divided by the number of points.
    assert abs(per_point * 40 - ours) < 1e-6 * max(1.0, abs(ours))


def test_log_marginal_likelihood_is_differentiable():
    x, y = _data(20, seed=9)
    ell = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    value = log_marginal_likelihood(x, y, ell, 1.0, 0.01)
    value.backward()
    h = 1e-6
    numeric = (log_marginal_likelihood(x, y, 0.8 + h, 1.0, 0.01) - log_marginal_likelihood(x, y, 0.8 - h, 1.0, 0.01)) / (2 * h)
    assert abs(ell.grad.item() - numeric.item()) < 1e-5 * max(1.0, abs(numeric.item()))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(y_train=np.zeros((5, 1))), ValueError, "y_train"),
        (dict(y_train=np.zeros(4)), ValueError, "points"),
        (dict(x_test=np.zeros((3, 2))), ValueError, "dimensions"),
        (dict(noise_variance=-1.0), ValueError, "noise_variance"),
        (dict(noise_variance=0.0, x_train=np.zeros(5)), ValueError, "positive definite"),
        (dict(x_train=np.array([True] * 5)), TypeError, "numeric"),
    ],
)
def test_gp_posterior_rejects_bad_input(kwargs, error, match):
    args = dict(x_train=np.linspace(0, 1, 5), y_train=np.zeros(5), x_test=np.zeros(3))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        gp_posterior(**args)


def test_gp_posterior_is_deterministic():
    x, y = _data(50, seed=10)
    a = gp_posterior(x, y, x, 0.5, 1.0, 0.1)
    b = gp_posterior(x, y, x, 0.5, 1.0, 0.1)
    assert torch.equal(a.mean, b.mean) and torch.equal(a.var, b.var)


# ----------------------------------------------------------------- GPyTorch helpers
def test_fit_exact_gp_recovers_a_known_lengthscale():
    rng = np.random.default_rng(11)
    x = np.sort(rng.uniform(0, 20, 200))
    true_ell, true_noise = 2.0, 0.05
    k = rbf_kernel(x, lengthscale=true_ell, outputscale=1.0).numpy() + true_noise * np.eye(200)
    y = np.linalg.cholesky(k) @ rng.standard_normal(200)
    model, likelihood = make_exact_gp(x, y, lengthscale=1.0, outputscale=1.0, noise_variance=0.5)
    trace = fit_exact_gp(model, likelihood, n_iter=150, lr=0.1, method="adam")
    assert len(trace) <= 151 and trace[-1]["mll"] > trace[0]["mll"]
    learned = model.covar_module.base_kernel.lengthscale.item()
    assert abs(learned - true_ell) / true_ell < 0.2, learned
    assert not model.training and not likelihood.training


def _sklearn_optimum(x, y):
    kernel = ConstantKernel(1.0, (1e-3, 1e3)) * RBF(1.0, (1e-2, 1e2)) + WhiteKernel(1.0, (1e-6, 1e2))
    sk = GaussianProcessRegressor(kernel=kernel, alpha=0.0, optimizer="fmin_l_bfgs_b").fit(x[:, None], y)
    return sk.log_marginal_likelihood_value_


@pytest.mark.parametrize("seed", [21, 22])
def test_fit_exact_gp_reaches_the_scikit_learn_optimum_on_400_points(seed):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(0, 40, 400))
    k = rbf_kernel(x, lengthscale=1.5, outputscale=2.0).numpy() + 0.1 * np.eye(400)
    y = np.linalg.cholesky(k) @ rng.standard_normal(400)
    model, likelihood = make_exact_gp(x, y, lengthscale=1.0, outputscale=1.0, noise_variance=1.0)
    trace = fit_exact_gp(model, likelihood)  # defaults: L-BFGS until converged
    theta = (model.covar_module.base_kernel.lengthscale.item(), model.covar_module.outputscale.item(),
             likelihood.noise.item())
    ours = log_marginal_likelihood(x, y, *theta).item()
    best = _sklearn_optimum(x, y)
    assert len(trace) < 100, len(trace)  # it stopped by the convergence criterion, not by n_iter
    assert abs(ours - best) < 1e-3, (ours, best, theta)
    assert abs(trace[-1]["mll"] * 400 - ours) < 1e-6  # the last trace entry holds the final values


def test_fit_exact_gp_adam_stops_when_converged():
    rng = np.random.default_rng(23)
    x = np.sort(rng.uniform(0, 20, 100))
    y = np.sin(x) + 0.3 * rng.standard_normal(100)
    model, likelihood = make_exact_gp(x, y, lengthscale=1.0, outputscale=1.0, noise_variance=0.1)
    trace = fit_exact_gp(model, likelihood, n_iter=5000, lr=0.1, method="adam", tol=1e-3)
    assert len(trace) < 5000
    assert abs(trace[-1]["mll"] - trace[-11]["mll"]) * 100 < 1e-3


def test_make_exact_gp_allows_small_noise_and_validates():
    x, y = _data(10, seed=12)
    _, likelihood = make_exact_gp(x, y, noise_variance=1e-8)
    assert abs(likelihood.noise.item() - 1e-8) < 1e-12
    with pytest.raises(ValueError, match="mean"):
        make_exact_gp(x, y, mean="linear")
    with pytest.raises(ValueError, match="noise_lower_bound"):
        make_exact_gp(x, y, noise_variance=1e-12)
    with pytest.raises(TypeError, match="ExactGP"):
        fit_exact_gp(object(), likelihood)
    model, likelihood = make_exact_gp(x, y)
    with pytest.raises(ValueError, match="n_iter"):
        fit_exact_gp(model, likelihood, n_iter=0)
    with pytest.raises(ValueError, match="method"):
        fit_exact_gp(model, likelihood, method="newton")
    with pytest.raises(ValueError, match="tol"):
        fit_exact_gp(model, likelihood, tol=-1.0)
