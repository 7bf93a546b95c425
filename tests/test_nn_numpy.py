"""Tests for lectures_utils.nn_numpy: the NumPy MLP against torch, init statistics, gradient checks."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lectures_utils import (
    INIT_SCHEMES, MLP, init_weights, mse_loss, numerical_gradient, relative_error, softmax,
    softmax_cross_entropy,
)


def _torch_forward(model, X, act):
    o = torch.tensor(X)
    params = []
    for l, (W, b) in enumerate(zip(model.weights, model.biases)):
        Wt, bt = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
        params += [Wt, bt]
        o = o @ Wt.T + bt
        if l < model.n_layers - 1:
            o = act(o)
    return o, params


@pytest.mark.parametrize("act_name,act", [("tanh", torch.tanh), ("relu", F.relu), ("sigmoid", torch.sigmoid),
                                          ("gelu", F.gelu)])
def test_cross_entropy_gradients_match_torch(act_name, act):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(16, 5)), rng.integers(0, 4, size=16)
    model = MLP([5, 7, 6, 4], activation=act_name, init="xavier_normal", rng=0)
    loss, grads = model.loss_and_gradients(X, y)
    out, params = _torch_forward(model, X, act)
    ref = F.cross_entropy(out, torch.tensor(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), abs=1e-12)
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_mse_gradients_match_torch():
    rng = np.random.default_rng(2)
    X, Y = rng.normal(size=(8, 3)), rng.normal(size=(8, 2))
    model = MLP([3, 4, 2], activation="tanh", rng=1)
    loss, grads = model.loss_and_gradients(X, Y, loss="mse")
    out, params = _torch_forward(model, X, torch.tanh)
    F.mse_loss(out, torch.tensor(Y)).backward()
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_numerical_gradient_check_agrees():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    model = MLP([4, 5, 3], activation="tanh", init="xavier_normal", rng=2)
    _, grads = model.loss_and_gradients(X, y)
    for p, g in zip(model.parameters(), grads):
        num = numerical_gradient(lambda: softmax_cross_entropy(model.forward(X), y)[0], p, eps=1e-5)
        assert relative_error(num, g) < 1e-7


def test_softmax_and_losses_match_torch():
    rng = np.random.default_rng(4)
    z, y = rng.normal(size=(5, 3)) * 10, rng.integers(0, 3, size=5)
    np.testing.assert_allclose(softmax(z), torch.softmax(torch.tensor(z), 1).numpy(), rtol=1e-12)
    loss, _ = softmax_cross_entropy(z, y)
    assert loss == pytest.approx(F.cross_entropy(torch.tensor(z), torch.tensor(y)).item(), abs=1e-12)
    p, t = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    assert mse_loss(p, t)[0] == pytest.approx(F.mse_loss(torch.tensor(p), torch.tensor(t)).item(), abs=1e-14)


@pytest.mark.parametrize("scheme,expected_var", [
    ("xavier_normal", 2 / (300 + 200)), ("xavier_uniform", 2 / (300 + 200)),
    ("he_normal", 2 / 300), ("he_uniform", 2 / 300), ("normal", 1e-4), ("uniform", 1e-4),
])
def test_initialisation_variances(scheme, expected_var):
    W = init_weights(300, 200, scheme, np.random.default_rng(0))
    assert W.shape == (200, 300)
    assert W.var() == pytest.approx(expected_var, rel=0.03)
    assert abs(W.mean()) < 0.05 * np.sqrt(expected_var)


def test_initialisation_matches_torch_init_bounds():
    # torch's xavier_uniform_ / kaiming_uniform_(nonlinearity='relu') use the same bounds
    W = init_weights(50, 40, "xavier_uniform", 0)
    t = torch.empty(40, 50)
    torch.nn.init.xavier_uniform_(t)
    assert np.abs(W).max() <= t.abs().max().item() * 1.02 + 1e-3
    bound = np.sqrt(6 / (50 + 40))
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.9 * bound


def test_orthogonal_and_constant():
    W = init_weights(64, 32, "orthogonal", 0, gain=1.0)
    np.testing.assert_allclose(W @ W.T, np.eye(32), atol=1e-12)
    W = init_weights(16, 64, "orthogonal", 0)
    np.testing.assert_allclose(W.T @ W, np.eye(16), atol=1e-12)
    np.testing.assert_array_equal(init_weights(3, 2, "constant", 0, value=0.5), np.full((2, 3), 0.5))


def test_dropout_zeroes_activations_and_is_off_in_predict():
    model = MLP([10, 1000, 2], activation="relu", rng=0, dropout=0.5)
    X = np.ones((4, 10))
    model.forward(X)
    pre, hidden = model._cache["pre"][0], model._cache["post"][1]
    alive = pre > 0  # ReLU already zeroes the rest
    frac_dropped = np.mean(hidden[alive] == 0)
    assert 0.45 < frac_dropped < 0.55
    np.testing.assert_allclose(hidden[alive & (hidden != 0)], 2 * pre[alive & (hidden != 0)])
    a, b = model.predict(X), model.predict(X)
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_model():
    a, b = MLP([3, 4, 2], rng=5), MLP([3, 4, 2], rng=5)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sizes"):
        MLP([3])
    with pytest.raises(ValueError, match="unknown activation"):
        MLP([3, 2], activation="swish")
    with pytest.raises(ValueError, match="unknown initialisation"):
        init_weights(3, 2, "lecun")
    with pytest.raises(ValueError, match="fan_in"):
        init_weights(0, 2, "normal")
    model = MLP([3, 2])
    with pytest.raises(ValueError, match="3 features"):
        model.forward(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"shape \(N, features\)"):
        model.forward(np.ones(3))
    with pytest.raises(ValueError, match="empty"):
        model.forward(np.ones((0, 3)))
    with pytest.raises(RuntimeError, match="forward before backward"):
        MLP([3, 2]).backward(np.ones((1, 2)))
    with pytest.raises(ValueError, match="labels must lie"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        softmax_cross_entropy(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="same shape"):
        mse_loss(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="same shape"):
        relative_error(np.zeros(2), np.zeros(3))
    with pytest.raises(TypeError, match="float64"):
        numerical_gradient(lambda: 0.0, np.zeros(3, dtype=np.float32))
    with pytest.raises(ValueError, match="dropout"):
        MLP([3, 2], dropout=1.0)


def test_relative_error_is_norm_based():
    a, b = np.array([3.0, 0.0]), np.array([3.0, 4.0])
    assert relative_error(a, b) == pytest.approx(4.0 / 8.0)
    assert relative_error(np.zeros(3), np.zeros(3)) == 0.0


def test_dropout_backward_matches_torch_with_the_same_masks():
    rng = np.random.default_rng(7)
    model = MLP([6, 20, 15, 3], activation="tanh", init="xavier_normal", rng=3, dropout=0.4)
    X, y = rng.normal(size=(9, 6)), rng.integers(0, 3, size=9)
    loss, grads = model.loss_and_gradients(X, y)
    masks = model._cache["masks"]
    assert all(m is not None for m in masks) and any(np.any(m == 0) for m in masks)
    params = [torch.tensor(p, requires_grad=True) for p in model.parameters()]
    out = torch.tensor(X)
    for l in range(model.n_layers):
        out = out @ params[2 * l].T + params[2 * l + 1]
        if l < model.n_layers - 1:
            out = torch.tanh(out) * torch.tensor(masks[l])  # the same inverted-dropout mask
    ref = torch.nn.functional.cross_entropy(out, torch.tensor(y))
    ref.backward()
    assert abs(loss - ref.item()) < 1e-12
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-10, atol=1e-12)
    # with one sample, a hidden unit of layer 1 that was dropped gets no gradient on its weights
    _, grads_one = model.loss_and_gradients(X[:1], y[:1])
    dropped = model._cache["masks"][0][0] == 0
    assert dropped.any() and (~dropped).any()
    np.testing.assert_array_equal(grads_one[0][dropped], 0.0)
    np.testing.assert_array_equal(grads_one[1][dropped], 0.0)
    assert np.all(np.abs(grads_one[1][~dropped]) > 0)
