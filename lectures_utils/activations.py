"""Activation functions and their derivatives, in NumPy (float64), for the from-scratch networks.

Chapter 3 introduces them; the NumPy MLP (``nn_numpy``) and later chapters reuse them. Each
activation is available by name::

    y = activation("elu", x, alpha=1.0)
    dy_dx = activation_derivative("elu", x, alpha=1.0)

Conventions follow ``torch.nn.functional`` (the tests compare with it and with torch.autograd):
GELU is the exact ``x * Phi(x)``; RReLU is shown in evaluation mode (slope ``(lower + upper) / 2``,
what ``torch.nn.functional.rrelu(training=False)`` computes); ``rrelu_train`` draws the random slopes
of training mode. At the kink ``x = 0`` ReLU-type derivatives take the left value, as torch does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf, expit

__all__ = [
    "ACTIVATION_NAMES",
    "SELU_ALPHA",
    "SELU_SCALE",
    "activation",
    "activation_derivative",
    "rrelu_train",
    "sigmoid",
]

#: The constants of SELU (Klambauer et al., 2017), as torch uses them.
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _as_float_array(x, name: str = "x") -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    array = np.asarray(x)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    return array.astype(np.float64, copy=False)


def sigmoid(x) -> np.ndarray:
    """Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow. x: any shape."""
    return expit(_as_float_array(x))


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)


def _Phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + erf(x / math.sqrt(2.0)))


# name -> (function, derivative, default parameters)
_TABLE: dict[str, tuple[Callable, Callable, dict[str, float]]] = {
    "sigmoid": (lambda x: expit(x), lambda x: expit(x) * (1.0 - expit(x)), {}),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, {}),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(np.float64), {}),
    "leaky_relu": (
        lambda x, negative_slope: np.where(x > 0, x, negative_slope * x),
        lambda x, negative_slope: np.where(x > 0, 1.0, negative_slope),
        {"negative_slope": 0.01},
    ),
    "prelu": (
        lambda x, alpha: np.where(x > 0, x, alpha * x),
        lambda x, alpha: np.where(x > 0, 1.0, alpha),
        {"alpha": 0.25},
    ),
    "rrelu": (
        lambda x, lower, upper: np.where(x > 0, x, 0.5 * (lower + upper) * x),
        lambda x, lower, upper: np.where(x > 0, 1.0, 0.5 * (lower + upper)),
        {"lower": 1.0 / 8.0, "upper": 1.0 / 3.0},
    ),
    "elu": (
        lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))),
        lambda x, alpha: np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))),
        {"alpha": 1.0},
    ),
    "selu": (
        lambda x: SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0))),
        lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0))),
        {},
    ),
    "gelu": (lambda x: x * _Phi(x), lambda x: _Phi(x) + x * _phi(x), {}),
    "softplus": (lambda x: np.logaddexp(0.0, x), lambda x: expit(x), {}),
}

#: The names ``activation`` accepts, in the order the book presents them.
ACTIVATION_NAMES: tuple[str, ...] = tuple(_TABLE)


def _lookup(name: str, params: dict) -> tuple[Callable, Callable, dict[str, float]]:
    if not isinstance(name, str):
        raise TypeError(f"name must be a string such as 'relu', got {type(name).__name__}")
    key = name.strip().lower()
    if key not in _TABLE:
        raise ValueError(f"unknown activation {name!r}: expected one of {', '.join(ACTIVATION_NAMES)}")
    function, derivative, defaults = _TABLE[key]
    unknown = set(params) - set(defaults)
    if unknown:
        allowed = ", ".join(defaults) if defaults else "no parameters"
        raise TypeError(f"activation {key!r} takes {allowed}; got unexpected {sorted(unknown)}")
    merged = {**defaults, **params}
    for pname, value in merged.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"parameter {pname} of {key!r} must be a real number, got {type(value).__name__}")
        if not math.isfinite(float(value)):
            raise ValueError(f"parameter {pname} of {key!r} must be finite, got {value}")
    if key == "rrelu" and not 0 <= merged["lower"] <= merged["upper"]:
        raise ValueError(f"rrelu needs 0 <= lower <= upper, got lower={merged['lower']}, upper={merged['upper']}")
    if key == "elu" and merged["alpha"] < 0:
        raise ValueError(f"elu needs alpha >= 0, got {merged['alpha']}")
    return function, derivative, {k: float(v) for k, v in merged.items()}


def activation(name: str, x, **params: float) -> np.ndarray:
    """Apply the activation ``name`` elementwise to ``x`` (any shape) in float64.

    Parameters (keyword, with torch's defaults): ``leaky_relu``: negative_slope=0.01;
    ``prelu``: alpha=0.25 (learned in a network, fixed here); ``rrelu``: lower=1/8, upper=1/3
    (evaluation mode); ``elu``: alpha=1.0. The others take none.
    """
    function, _, merged = _lookup(name, params)
    return np.asarray(function(_as_float_array(x), **merged), dtype=np.float64)


def activation_derivative(name: str, x, **params: float) -> np.ndarray:
    """The derivative d activation(x) / dx, elementwise, same shape as ``x``."""
    _, derivative, merged = _lookup(name, params)
    array = _as_float_array(x)
    return np.broadcast_to(np.asarray(derivative(array, **merged), dtype=np.float64), array.shape).copy()


def rrelu_train(
    x, rng: np.random.Generator, lower: float = 1.0 / 8.0, upper: float = 1.0 / 3.0
) -> tuple[np.ndarray, np.ndarray]:
    """RReLU in training mode: each negative input gets its own slope drawn from U(lower, upper).

    Returns ``(y, slope)`` where ``slope`` is the derivative dy/dx (1 for x > 0; at x = 0 a random
    slope, the left derivative, as ``torch.nn.functional.rrelu(training=True)`` does).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    _lookup("rrelu", {"lower": lower, "upper": upper})
    array = _as_float_array(x)
    slope = np.where(array > 0, 1.0, rng.uniform(lower, upper, size=array.shape))
    return slope * array, slope
