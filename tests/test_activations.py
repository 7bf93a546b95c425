"""Tests for lectures_utils.activations: values against torch.nn.functional, derivatives against autograd."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lectures_utils import ACTIVATION_NAMES, activation, activation_derivative, rrelu_train, sigmoid

TORCH = {
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "relu": F.relu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.01),
    "prelu": lambda x: F.prelu(x, torch.tensor([0.25], dtype=x.dtype)),
    "rrelu": lambda x: F.rrelu(x, 1 / 8, 1 / 3, training=False),
    "elu": lambda x: F.elu(x, 1.0),
    "selu": F.selu,
    "gelu": F.gelu,
    "softplus": F.softplus,
}


def _inputs(seed=0):
    x = np.random.default_rng(seed).normal(0, 3, size=500)
    return x[np.abs(x) > 1e-6]  # keep away from the kink at 0


def test_every_name_has_a_reference():
    assert set(TORCH) == set(ACTIVATION_NAMES)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_values_and_derivatives_match_torch(name):
    x = _inputs()
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = TORCH[name](xt)
    yt.sum().backward()
    np.testing.assert_allclose(activation(name, x), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(activation_derivative(name, x), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,params,ref", [
    ("leaky_relu", {"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2)),
    ("elu", {"alpha": 0.5}, lambda x: F.elu(x, 0.5)),
    ("prelu", {"alpha": 0.1}, lambda x: F.prelu(x, torch.tensor([0.1], dtype=x.dtype))),
    ("rrelu", {"lower": 0.1, "upper": 0.3}, lambda x: F.rrelu(x, 0.1, 0.3, training=False)),
])
def test_parameters_are_used(name, params, ref):
    x = _inputs(1)
    xt = torch.tensor(x, requires_grad=True)
    ref(xt).sum().backward()
    np.testing.assert_allclose(activation(name, x, **params), ref(xt).detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(activation_derivative(name, x, **params), xt.grad.numpy(), rtol=1e-10)


def test_shape_is_kept_and_large_inputs_do_not_overflow():
    x = np.array([[-1000.0, 0.0], [1000.0, 3.0]])
    for name in ACTIVATION_NAMES:
        y, d = activation(name, x), activation_derivative(name, x)
        assert y.shape == d.shape == x.shape
        assert np.all(np.isfinite(y)) and np.all(np.isfinite(d)), name
    assert sigmoid(np.array([-1000.0]))[0] == 0.0


def test_sigmoid_derivative_is_at_most_a_quarter():
    x = np.linspace(-10, 10, 2001)
    assert activation_derivative("sigmoid", x).max() == pytest.approx(0.25, abs=1e-12)


def test_rrelu_training_slopes_lie_in_range_and_are_reproducible():
    x = np.linspace(-3, 3, 101)
    y, slope = rrelu_train(x, np.random.default_rng(0), 0.1, 0.3)
    y2, _ = rrelu_train(x, np.random.default_rng(0), 0.1, 0.3)
    np.testing.assert_array_equal(y, y2)
    neg = x <= 0  # x = 0 gets a random slope too, as in torch
    assert np.all((slope[neg] >= 0.1) & (slope[neg] <= 0.3))
    np.testing.assert_array_equal(slope[~neg], 1.0)
    np.testing.assert_allclose(y, slope * x)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown activation"):
        activation("swish", [1.0])
    with pytest.raises(TypeError, match="name must be a string"):
        activation(3, [1.0])
    with pytest.raises(TypeError, match="unexpected"):
        activation("relu", [1.0], alpha=0.1)
    with pytest.raises(TypeError, match="numeric"):
        activation("tanh", ["a", "b"])
    with pytest.raises(ValueError, match="lower <= upper"):
        activation("rrelu", [1.0], lower=0.5, upper=0.1)
    with pytest.raises(TypeError, match="Generator"):
        rrelu_train([1.0], rng=0)
    with pytest.raises(ValueError, match="finite"):
        activation("elu", [1.0], alpha=float("nan"))


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "prelu", "rrelu", "elu", "selu"])
def test_derivative_at_the_kink_is_the_left_value_like_torch(name):
    # the module docstring promises torch's convention at x = 0: the left derivative
    xt = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    TORCH[name](xt).sum().backward()
    assert activation_derivative(name, 0.0) == pytest.approx(xt.grad.item(), abs=1e-15)
    assert activation_derivative(name, 0.0) == pytest.approx(activation_derivative(name, -1e-12), abs=1e-9)


def test_rrelu_training_slope_at_zero_is_random_like_torch():
    _, slope = rrelu_train(np.zeros(200), np.random.default_rng(0))
    assert np.all((slope >= 1 / 8) & (slope <= 1 / 3)) and slope.std() > 0.01
