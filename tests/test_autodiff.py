"""Tests for lectures_utils.autodiff: gradients equal torch.autograd's on random graphs (float64)."""

import numpy as np
import pytest
import torch

from lectures_utils import Var, topological_order

UNARY = ["exp", "tanh", "sigmoid", "relu", "square", "log_softplus", "recip"]
BINARY = ["add", "sub", "mul", "div"]


def _unary(op, a):
    if op == "exp":
        return (a * 0.3).exp()
    if op == "tanh":
        return a.tanh()
    if op == "sigmoid":
        return a.sigmoid()
    if op == "relu":
        return a.relu()
    if op == "square":
        return a ** 2
    if op == "log_softplus":  # log(1 + exp(x)) keeps log's argument positive
        return ((a * 0.5).exp() + 1.0).log()
    if op == "recip":
        return 1.0 / (a ** 2 + 1.0)
    raise AssertionError(op)


def _binary(op, a, b):
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    return a / (b ** 2 + 0.5)


def _random_program(rng, n_inputs, n_ops):
    prog = []
    n_nodes = n_inputs
    for _ in range(n_ops):
        if rng.random() < 0.5:
            prog.append(("u", str(rng.choice(UNARY)), int(rng.integers(n_nodes))))
        else:
            prog.append(("b", str(rng.choice(BINARY)), int(rng.integers(n_nodes)), int(rng.integers(n_nodes))))
        n_nodes += 1
    return prog


def _run(prog, inputs):
    nodes = list(inputs)
    for step in prog:
        if step[0] == "u":
            nodes.append(_unary(step[1], nodes[step[2]]))
        else:
            nodes.append(_binary(step[1], nodes[step[2]], nodes[step[3]]))
    # every node contributes so that all inputs get a gradient path most of the time
    total = nodes[-1].sum()
    for node in nodes[len(inputs):]:
        total = total + node.mean() * 0.1
    return total


@pytest.mark.parametrize("seed", range(25))
def test_random_graphs_match_torch_autograd(seed):
    rng = np.random.default_rng(seed)
    shapes = [(3, 4), (1, 4), (3, 1), ()]
    values = [rng.normal(size=shapes[i % len(shapes)]) for i in range(4)]
    prog = _random_program(rng, len(values), 12)
    ours = [Var(v) for v in values]
    out = _run(prog, ours)
    out.backward()
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    ref = _run(prog, theirs)
    ref.backward()
    assert abs(out.value - ref.item()) < 1e-10
    for a, t in zip(ours, theirs):
        expected = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        got = np.zeros(t.shape) if a.grad is None else a.grad
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_matmul_mlp_matches_torch():
    rng = np.random.default_rng(0)
    X, W1, b1, W2 = rng.normal(size=(5, 3)), rng.normal(size=(3, 4)), rng.normal(size=(4,)), rng.normal(size=(4, 2))
    vs = [Var(a) for a in (W1, b1, W2)]
    loss = (((Var(X) @ vs[0] + vs[1]).tanh() @ vs[2]) ** 2).mean()
    loss.backward()
    ts = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2)]
    ref = (((torch.tensor(X) @ ts[0] + ts[1]).tanh() @ ts[2]) ** 2).mean()
    ref.backward()
    for v, t in zip(vs, ts):
        np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_sigmoid_graph_h1_to_h6():
    x, w, b = 1.5, Var(0.8), Var(-0.3)
    h6 = 1.0 / ((-(w * x + b)).exp() + 1.0)
    h6.backward()
    s = 1 / (1 + np.exp(-(0.8 * 1.5 - 0.3)))
    assert h6.value == pytest.approx(s, abs=1e-15)
    assert w.grad == pytest.approx(s * (1 - s) * x, abs=1e-15)
    assert b.grad == pytest.approx(s * (1 - s), abs=1e-15)


def test_reused_node_gradients_add_up_and_accumulate_over_calls():
    a = Var(3.0)
    y = a * a + a  # dy/da = 2a + 1 = 7
    y.backward()
    assert a.grad == pytest.approx(7.0)
    y.backward()
    assert a.grad == pytest.approx(14.0)
    y.zero_grad()
    assert a.grad is None


def test_deep_chain_does_not_hit_the_recursion_limit():
    a = Var(0.5)
    y = a
    for _ in range(5000):
        y = y * 1.0
    y.backward()
    assert a.grad == 1.0
    assert len(topological_order(y)) > 5000


def test_bad_inputs():
    with pytest.raises(TypeError, match="numeric"):
        Var("abc")
    with pytest.raises(ValueError, match="scalar output"):
        Var(np.ones(3)).backward()
    with pytest.raises(ValueError, match="shape"):
        Var(np.ones(3)).backward(np.ones(2))
    with pytest.raises(ValueError, match="matmul"):
        Var(np.ones((2, 3))) @ Var(np.ones((2, 3)))
    with pytest.raises(TypeError, match="exponent"):
        Var(1.0) ** Var(2.0)
    with pytest.raises(TypeError, match="Var"):
        topological_order(3.0)


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_sum_and_mean_over_an_axis_match_torch(axis, reduction):
    rng = np.random.default_rng(4)
    a, w = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    v = Var(a)
    out = getattr(v * w, reduction)(axis)
    (out.tanh()).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    tw = torch.tensor(w)
    ref = getattr(t * tw, reduction)() if axis is None else getattr(t * tw, reduction)(dim=axis)
    ref.tanh().sum().backward()
    np.testing.assert_allclose(out.value, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_division_by_negative_denominators_matches_torch():
    a = np.array([[1.5, -2.0, 0.3]])
    b = np.array([[-0.5, -3.0, -1e-3]])  # all negative, one close to 0
    va, vb = Var(a), Var(b)
    (va / vb).sum().backward()
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ta / tb).sum().backward()
    np.testing.assert_allclose(va.grad, ta.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(vb.grad, tb.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(vb.grad, -a / b**2, rtol=1e-13)  # d(a/b)/db = -a / b^2


def test_power_zero_has_zero_gradient_at_zero_like_torch():
    v = Var(np.array([0.0, 2.0, -1.0]))
    (v ** 0).sum().backward()
    t = torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64, requires_grad=True)
    (t ** 0).sum().backward()
    np.testing.assert_array_equal(v.grad, t.grad.numpy())
    np.testing.assert_array_equal(v.grad, np.zeros(3))


def test_changing_value_between_forward_and_backward_raises():
    w = Var(np.array([0.5, -1.0]))
    loss = (w.tanh() * w).sum()
    w.value = np.array([2.0, 3.0])
    with pytest.raises(RuntimeError, match="changed after the forward pass"):
        loss.backward()
    t = torch.tensor([0.5, -1.0], dtype=torch.float64, requires_grad=True)  # torch refuses too
    ref = (t.tanh() * t).sum()
    with torch.no_grad():
        t.add_(1.0)
    with pytest.raises(RuntimeError):
        ref.backward()
    # a new forward pass after the update is fine, and the usual training update works
    loss = (w.tanh() * w).sum()
    loss.backward()
    w.value -= 0.1 * w.grad
    assert w.value.shape == (2,)


def test_transpose_and_reshape_match_torch():
    rng = np.random.default_rng(5)
    a, m = rng.normal(size=(2, 3, 4)), rng.normal(size=(6, 4))
    v = Var(a)
    out = ((v.transpose(2, 0, 1).reshape(4, 6) @ m).tanh()).sum() + (v.reshape(-1) ** 2).sum()
    out.backward()
    t = torch.tensor(a, requires_grad=True)
    ref = ((t.permute(2, 0, 1).reshape(4, 6) @ torch.tensor(m)).tanh()).sum() + (t.reshape(-1) ** 2).sum()
    ref.backward()
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12, atol=1e-14)
    w = Var(rng.normal(size=(3, 5)))
    (w.T @ Var(np.ones((3, 1)))).sum().backward()
    np.testing.assert_allclose(w.grad, np.ones((3, 5)))
    assert w.T.shape == (5, 3) and w.transpose().shape == (5, 3)
    with pytest.raises(ValueError, match="reshape"):
        w.reshape(4, 4)
    with pytest.raises(ValueError, match="permutation"):
        w.transpose(0, 0)
