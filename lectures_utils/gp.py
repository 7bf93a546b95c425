"""Gaussian processes from scratch: kernels, conditioning a Gaussian, the posterior by Cholesky.

Chapter 2 builds a Gaussian-process (GP) regressor out of a few lines of linear algebra and checks
it against scikit-learn and GPyTorch; the homework and the later notebooks reuse these functions.

- ``rbf_kernel``: the squared-exponential kernel ``s * exp(-|x - x'|^2 / (2 l^2))``;
- ``condition_gaussian``: ``Y2 | Y1 = y1`` for a joint Gaussian (the Schur complement);
- ``sample_gaussian``: draws from ``N(mean, cov)`` through a Cholesky factor;
- ``gp_posterior`` / ``log_marginal_likelihood``: Rasmussen and Williams (2006), Algorithm 2.1;
- ``make_exact_gp`` / ``fit_exact_gp``: the same model in GPyTorch (zero or constant mean,
  scaled RBF kernel, Gaussian likelihood with a noise bound low enough for tiny noises), trained
  by maximising the exact marginal likelihood (L-BFGS by default, or Adam) until it converges.

All functions accept NumPy arrays or torch tensors, compute in float64 by default and return torch
tensors on the device of the inputs (pass ``device=`` to choose another one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Any, Sequence

import numpy as np
import torch

__all__ = [
    "rbf_kernel",
    "condition_gaussian",
    "sample_gaussian",
    "GPPosterior",
    "gp_posterior",
    "log_marginal_likelihood",
    "make_exact_gp",
    "fit_exact_gp",
]


# --------------------------------------------------------------------------- input checks
def _as_tensor(value: Any, name: str, dtype: torch.dtype = torch.float64,
               device: torch.device | str | None = None) -> torch.Tensor:
    """Convert ``value`` to a floating tensor, rejecting non-numeric, empty or non-finite input."""
    if isinstance(value, torch.Tensor):
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(f"{name} must be a real floating or integer tensor, got dtype {value.dtype}")
        tensor = value.detach() if not value.requires_grad else value
        tensor = tensor.to(dtype=dtype, device=device if device is not None else tensor.device)
    else:
        array = np.asarray(value)
        if array.dtype == object or not (np.issubdtype(array.dtype, np.integer)
                                         or np.issubdtype(array.dtype, np.floating)):
            raise TypeError(f"{name} must be a real numeric array, got dtype {array.dtype}")
        tensor = torch.as_tensor(array, dtype=dtype, device=device)
    if tensor.numel() == 0:
        raise ValueError(f"{name} is empty: expected at least one value")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return tensor


def _as_inputs(x: Any, name: str, dtype: torch.dtype, device) -> torch.Tensor:
    """Inputs as an (n, d) tensor; a 1D input of length n is n points in one dimension."""
    tensor = _as_tensor(x, name, dtype, device)
    if tensor.ndim == 1:
        tensor = tensor[:, None]
    if tensor.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d), got {tuple(tensor.shape)}")
    return tensor


def _positive(value: Any, name: str, allow_zero: bool = False) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}, got {value}")
    return value


def _device_of(*values: Any, device=None) -> torch.device:
    if device is not None:
        return torch.device(device)
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device
    return torch.device("cpu")


def _cholesky(matrix: torch.Tensor, name: str) -> torch.Tensor:
    factor, info = torch.linalg.cholesky_ex(matrix)
    if int(info.max()) != 0:
        raise ValueError(
            f"{name} is not numerically positive definite (Cholesky failed at column {int(info.max())}); "
            "add a small noise variance or jitter (e.g. 1e-8) to its diagonal"
        )
    return factor


# --------------------------------------------------------------------------- kernel
def rbf_kernel(x1: Any, x2: Any | None = None, lengthscale: float = 1.0, outputscale: float = 1.0,
               dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """Squared-exponential (RBF) kernel matrix ``outputscale * exp(-|x1_i - x2_j|^2 / (2 lengthscale^2))``.

    x1: (n1,) or (n1, d) inputs; x2: (n2,) or (n2, d), default ``x1``. lengthscale (same units as x)
    and outputscale (the prior variance k(x, x), units of y squared) must be > 0.
    The lectures' ``3 exp(-(x - x')^2 / 150)`` is ``outputscale=3, lengthscale=sqrt(75)``.
    Returns an (n1, n2) tensor.
    """
    lengthscale = _positive(lengthscale, "lengthscale")
    outputscale = _positive(outputscale, "outputscale")
    device = _device_of(x1, x2, device=device)
    a = _as_inputs(x1, "x1", dtype, device)
    b = a if x2 is None else _as_inputs(x2, "x2", dtype, device)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"x1 has {a.shape[1]} input dimensions but x2 has {b.shape[1]}")
    # Squared distances from the differences (not |a|^2 + |b|^2 - 2ab) so they are exact and >= 0.
    sq_dist = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1) if a.shape[1] > 1 else (a - b.T) ** 2
    return outputscale * torch.exp(-0.5 * sq_dist / lengthscale**2)


# --------------------------------------------------------------------------- Gaussians
def _check_mean_cov(mean: Any, cov: Any, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    mean_t = _as_tensor(mean, "mean", dtype, device)
    cov_t = _as_tensor(cov, "cov", dtype, device)
    if mean_t.ndim != 1:
        raise ValueError(f"mean must have shape (d,), got {tuple(mean_t.shape)}")
    d = mean_t.shape[0]
    if cov_t.shape != (d, d):
        raise ValueError(f"cov must have shape ({d}, {d}) to match mean, got {tuple(cov_t.shape)}")
    if not torch.allclose(cov_t, cov_t.T, rtol=1e-10, atol=1e-12):
        raise ValueError("cov must be symmetric")
    return mean_t, cov_t


def condition_gaussian(mean: Any, cov: Any, observed: Sequence[int], values: Any,
                       dtype: torch.dtype = torch.float64,
                       device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Condition ``Y ~ N(mean, cov)`` on ``Y[observed] = values``: the Schur complement.

    mean: (d,); cov: (d, d) symmetric positive definite; observed: k distinct indices in [0, d);
    values: (k,). With 1 = observed and 2 = the rest (in increasing index order),
    ``Y2 | Y1 = y1 ~ N(mu2 + S21 S11^-1 (y1 - mu1), S22 - S21 S11^-1 S12)``.
    Returns ``(conditional_mean (d - k,), conditional_cov (d - k, d - k))``.
    """
    device = _device_of(mean, cov, values, device=device)
    mean_t, cov_t = _check_mean_cov(mean, cov, dtype, device)
    d = mean_t.shape[0]
    idx = np.asarray(observed)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"observed must be a non-empty sequence of integer indices, got {observed!r}")
    if len(set(idx.tolist())) != idx.size or idx.min() < 0 or idx.max() >= d:
        raise ValueError(f"observed must hold distinct indices in [0, {d}), got {idx.tolist()}")
    if idx.size == d:
        raise ValueError("observed covers every variable: nothing is left to condition")
    y1 = _as_tensor(values, "values", dtype, device).reshape(-1)
    if y1.shape[0] != idx.size:
        raise ValueError(f"values must have one entry per observed index ({idx.size}), got {y1.shape[0]}")
    rest = np.setdiff1d(np.arange(d), idx)
    i1 = torch.as_tensor(idx, device=device)
    i2 = torch.as_tensor(rest, device=device)
    s11 = cov_t[i1][:, i1]
    s21 = cov_t[i2][:, i1]
    s22 = cov_t[i2][:, i2]
    chol = _cholesky(s11, "cov[observed, observed]")
    # Solving with the Cholesky factor instead of inverting S11 is cheaper and more accurate.
    gain = torch.cholesky_solve(s21.T, chol).T  # S21 S11^-1
    cond_mean = mean_t[i2] + gain @ (y1 - mean_t[i1])
    cond_cov = s22 - gain @ s21.T
    return cond_mean, 0.5 * (cond_cov + cond_cov.T)


def sample_gaussian(mean: Any, cov: Any, n_samples: int, generator: torch.Generator | None = None,
                    jitter: float = 0.0, dtype: torch.dtype = torch.float64,
                    device: torch.device | str | None = None) -> torch.Tensor:
    """Draw ``n_samples`` vectors from ``N(mean, cov)`` as ``mean + L z`` with ``L L^T = cov + jitter I``.

    mean: (d,); cov: (d, d). ``jitter`` (>= 0) is added to the diagonal: a GP prior covariance on a
    dense grid is singular to machine precision and needs about 1e-8. The standard normals come
    from ``generator`` (a CPU ``torch.Generator``) so a seed gives the same draws on every device.
    Returns an (n_samples, d) tensor.
    """
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive int, got {n_samples!r}")
    jitter = _positive(jitter, "jitter", allow_zero=True)
    device = _device_of(mean, cov, device=device)
    mean_t, cov_t = _check_mean_cov(mean, cov, dtype, device)
    d = mean_t.shape[0]
    chol = _cholesky(cov_t + jitter * torch.eye(d, dtype=dtype, device=device), "cov")
    z = torch.randn(int(n_samples), d, generator=generator, dtype=dtype).to(device)
    return mean_t + z @ chol.T


# --------------------------------------------------------------------------- GP regression
@dataclass
class GPPosterior:
    """The result of ``gp_posterior``.

    mean: (m,) posterior mean of f at the test inputs; var: (m,) posterior variance of the latent f
    (without observation noise); cov: (m, m) posterior covariance or None; noise_variance: the sigma^2
    used; log_marginal_likelihood: log p(y | X, hyperparameters) (a 0-dim tensor);
    chol: the (n, n) Cholesky factor L of K + sigma^2 I; alpha: (n,) the vector (K + sigma^2 I)^-1 y.
    """

    mean: torch.Tensor
    var: torch.Tensor
    cov: torch.Tensor | None
    noise_variance: float
    log_marginal_likelihood: torch.Tensor
    chol: torch.Tensor
    alpha: torch.Tensor

    @property
    def predictive_var(self) -> torch.Tensor:
        """Variance of a new noisy observation y* = f* + eps: ``var + noise_variance``."""
        return self.var + self.noise_variance


def _prepare_training(x_train, y_train, dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = _as_inputs(x_train, "x_train", dtype, device)
    y = _as_tensor(y_train, "y_train", dtype, device)
    if y.ndim != 1:
        raise ValueError(f"y_train must have shape (n,), got {tuple(y.shape)}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"x_train has {x.shape[0]} points but y_train has {y.shape[0]} values")
    return x, y


def gp_posterior(x_train: Any, y_train: Any, x_test: Any, lengthscale: float = 1.0,
                 outputscale: float = 1.0, noise_variance: float = 1e-8, full_cov: bool = False,
                 dtype: torch.dtype = torch.float64,
                 device: torch.device | str | None = None) -> GPPosterior:
    """Zero-mean GP regression with an RBF kernel: Rasmussen and Williams (2006), Algorithm 2.1.

    x_train: (n,) or (n, d); y_train: (n,); x_test: (m,) or (m, d). The model is
    ``y = f(x) + eps`` with ``f ~ GP(0, rbf_kernel(lengthscale, outputscale))`` and
    ``eps ~ N(0, noise_variance)``. ``noise_variance`` is a variance (sigma^2, units of y squared);
    a "noise-free" GP uses a tiny value such as 1e-8 so that the Cholesky factor exists.
    Steps: L = chol(K + sigma^2 I); alpha = L^T \\ (L \\ y); mean = K*^T alpha; v = L \\ K*;
    var = k(x*, x*) - sum(v^2); log p(y) = -y^T alpha / 2 - sum(log diag L) - n/2 log(2 pi).
    """
    noise_variance = _positive(noise_variance, "noise_variance", allow_zero=True)
    device = _device_of(x_train, y_train, x_test, device=device)
    x, y = _prepare_training(x_train, y_train, dtype, device)
    xs = _as_inputs(x_test, "x_test", dtype, device)
    if xs.shape[1] != x.shape[1]:
        raise ValueError(f"x_test has {xs.shape[1]} input dimensions but x_train has {x.shape[1]}")
    n = x.shape[0]
    k = rbf_kernel(x, x, lengthscale, outputscale, dtype=dtype)
    k_star = rbf_kernel(x, xs, lengthscale, outputscale, dtype=dtype)  # (n, m)
    chol = _cholesky(k + noise_variance * torch.eye(n, dtype=dtype, device=device), "K + noise_variance I")
    alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
    mean = k_star.T @ alpha
    v = torch.linalg.solve_triangular(chol, k_star, upper=False)  # (n, m)
    if full_cov:
        cov = rbf_kernel(xs, xs, lengthscale, outputscale, dtype=dtype) - v.T @ v
        cov = 0.5 * (cov + cov.T)
        var = torch.diagonal(cov).clone()
    else:
        cov = None
        var = outputscale - (v**2).sum(0)
    var = var.clamp_min(0.0)  # round-off can make a variance of ~1e-17 slightly negative
    lml = -0.5 * (y @ alpha) - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)
    return GPPosterior(mean, var, cov, noise_variance, lml, chol, alpha)


def log_marginal_likelihood(x_train: Any, y_train: Any, lengthscale: Any = 1.0, outputscale: Any = 1.0,
                            noise_variance: Any = 1e-8, dtype: torch.dtype = torch.float64,
                            device: torch.device | str | None = None) -> torch.Tensor:
    """log p(y | X, lengthscale, outputscale, noise_variance) of the zero-mean RBF GP (a 0-dim tensor).

    ``-1/2 y^T (K + s^2 I)^-1 y - 1/2 log|K + s^2 I| - n/2 log(2 pi)``, computed with a Cholesky
    factor. The hyperparameters may be tensors that require grad: the result is differentiable.
    """
    device = _device_of(x_train, y_train, device=device)
    x, y = _prepare_training(x_train, y_train, dtype, device)
    params = []
    for value, name, allow_zero in ((lengthscale, "lengthscale", False), (outputscale, "outputscale", False),
                                    (noise_variance, "noise_variance", True)):
        _positive(value, name, allow_zero)  # validates tensors too (via .item())
        params.append(value.to(dtype=dtype, device=device) if isinstance(value, torch.Tensor)
                      else torch.tensor(float(value), dtype=dtype, device=device))
    ell, scale, noise = params
    sq_dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    k = scale * torch.exp(-0.5 * sq_dist / ell**2)
    n = x.shape[0]
    chol = _cholesky(k + noise * torch.eye(n, dtype=dtype, device=device), "K + noise_variance I")
    alpha = torch.cholesky_solve(y[:, None], chol)[:, 0]
    return -0.5 * (y @ alpha) - torch.log(torch.diagonal(chol)).sum() - 0.5 * n * math.log(2 * math.pi)


# --------------------------------------------------------------------------- GPyTorch
def make_exact_gp(x_train: Any, y_train: Any, lengthscale: float = 1.0, outputscale: float = 1.0,
                  noise_variance: float = 1e-2, mean: str = "zero", noise_lower_bound: float = 1e-10,
                  dtype: torch.dtype = torch.float64, device: torch.device | str | None = None):
    """The same GP in GPyTorch: returns ``(model, likelihood)``, both in ``dtype`` on ``device``.

    mean: ``"zero"`` (ZeroMean, matches ``gp_posterior``) or ``"constant"`` (a learned constant);
    kernel: ScaleKernel(RBFKernel); likelihood: GaussianLikelihood whose noise may go down to
    ``noise_lower_bound`` (GPyTorch's default bound, 1e-4, would forbid the small noises compared in
    the book). Hyperparameters start at the given values. Call ``model.eval()`` before predicting.
    """
    import gpytorch  # imported here so that importing lectures_utils stays fast

    if mean not in {"zero", "constant"}:
        raise ValueError(f"mean must be 'zero' or 'constant', got {mean!r}")
    lower = _positive(noise_lower_bound, "noise_lower_bound")
    lengthscale = _positive(lengthscale, "lengthscale")
    outputscale = _positive(outputscale, "outputscale")
    noise_variance = _positive(noise_variance, "noise_variance")
    if noise_variance <= lower:
        raise ValueError(f"noise_variance ({noise_variance}) must exceed noise_lower_bound ({lower})")
    device = _device_of(x_train, y_train, device=device)
    x, y = _prepare_training(x_train, y_train, dtype, device)

    class _ExactGP(gpytorch.models.ExactGP):
        def __init__(self, train_x, train_y, likelihood):
            super().__init__(train_x, train_y, likelihood)
            self.mean_module = gpytorch.means.ZeroMean() if mean == "zero" else gpytorch.means.ConstantMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, inputs):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(inputs), self.covar_module(inputs))

    likelihood = gpytorch.likelihoods.GaussianLikelihood(
        noise_constraint=gpytorch.constraints.GreaterThan(lower)).to(device=device, dtype=dtype)
    model = _ExactGP(x, y, likelihood).to(device=device, dtype=dtype)
    # Set values as tensors of the final dtype: a Python float goes through float32 (error ~1e-8).
    as_tensor = lambda value: torch.tensor(value, dtype=dtype, device=device)  # noqa: E731
    model.covar_module.base_kernel.lengthscale = as_tensor(lengthscale)
    model.covar_module.outputscale = as_tensor(outputscale)
    likelihood.noise = as_tensor(noise_variance)
    return model, likelihood


def fit_exact_gp(model, likelihood, n_iter: int = 200, lr: float | None = None, method: str = "lbfgs",
                 tol: float = 1e-6) -> list[dict[str, float]]:
    """Maximise GPyTorch's exact marginal log likelihood; return the per-step trace.

    method:
        ``"lbfgs"`` (default): L-BFGS with a strong-Wolfe line search (``lr`` default 1), which
        reaches the optimum in a few dozen steps; ``"adam"``: Adam (``lr`` default 0.05), whose
        path is easy to plot but which needs many steps to converge.
    n_iter:
        The most steps taken.
    tol:
        Convergence criterion in nats: stop once the total log marginal likelihood (not divided by
        n) has changed by less than ``tol`` over the last step (L-BFGS) or the last 10 steps (Adam).

    Each trace entry holds ``step``, ``mll`` (the log marginal likelihood divided by n, as
    ``ExactMarginalLogLikelihood`` reports it), ``lengthscale``, ``outputscale`` and ``noise``
    (hyperparameter values before that step's update); the last entry holds the final values
    (after the last update). Leaves model and likelihood in eval mode.
    """
    import gpytorch

    if not isinstance(model, gpytorch.models.ExactGP):
        raise TypeError(f"model must be a gpytorch ExactGP (from make_exact_gp), got {type(model).__name__}")
    if not isinstance(likelihood, gpytorch.likelihoods.GaussianLikelihood):
        raise TypeError(f"likelihood must be a GaussianLikelihood, got {type(likelihood).__name__}")
    if isinstance(n_iter, bool) or not isinstance(n_iter, (int, np.integer)) or n_iter < 1:
        raise ValueError(f"n_iter must be a positive int, got {n_iter!r}")
    if method not in {"lbfgs", "adam"}:
        raise ValueError(f"method must be 'lbfgs' or 'adam', got {method!r}")
    lr = _positive(1.0 if method == "lbfgs" else 0.05, "lr") if lr is None else _positive(lr, "lr")
    tol = _positive(tol, "tol", allow_zero=True)
    model.train()
    likelihood.train()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(likelihood, model)
    params = list(model.parameters())  # likelihood's noise is among model's parameters
    if method == "lbfgs":
        optimizer = torch.optim.LBFGS(params, lr=lr, max_iter=1, max_eval=25, history_size=20, line_search_fn="strong_wolfe",
                                      tolerance_grad=1e-9, tolerance_change=1e-12)
    else:
        optimizer = torch.optim.Adam(params, lr=lr)
    x, y = model.train_inputs[0], model.train_targets
    n = y.numel()

    def closure():
        optimizer.zero_grad()
        loss = -mll(model(x), y)
        loss.backward()
        return loss

    def snapshot(step: int) -> dict[str, float]:
        with torch.no_grad():
            value = mll(model(x), y)
        return {
            "step": step,
            "mll": float(value.item()),
            "lengthscale": float(model.covar_module.base_kernel.lengthscale.item()),
            "outputscale": float(model.covar_module.outputscale.item()),
            "noise": float(likelihood.noise.item()),
        }

    window = 1 if method == "lbfgs" else 10
    trace = []
    for step in range(int(n_iter)):
        trace.append(snapshot(step))
        if len(trace) > window and abs(trace[-1]["mll"] - trace[-1 - window]["mll"]) * n < tol:
            break
        optimizer.step(closure)
    else:
        trace.append(snapshot(int(n_iter)))
    model.eval()
    likelihood.eval()
    return trace
