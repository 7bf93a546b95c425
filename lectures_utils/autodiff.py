"""A small reverse-mode automatic differentiation engine, written from scratch in NumPy.

Chapter 3 builds it to show what ``loss.backward()`` does: every operation records its inputs and
a function that turns the gradient of its output into gradients of its inputs (the local
derivative times the incoming gradient, i.e. the chain rule); ``backward`` visits the graph in
reverse topological order and adds the contributions up. Values are float64 arrays of any shape
(a scalar is a 0-d array); NumPy broadcasting is supported and undone in the backward pass.

    w, b = Var(0.5, name="w"), Var(-0.2, name="b")
    f = (w * 1.5 + b).sigmoid()
    f.backward()
    w.grad, b.grad
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from numbers import Real

import numpy as np
from scipy.special import expit

__all__ = ["Var", "topological_order"]


def _to_array(value, name: str) -> np.ndarray:
    if isinstance(value, Var):
        raise TypeError(f"{name} is already a Var")
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a real number or a numeric array, got {type(value).__name__}"
                        f" (dtype {array.dtype})")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    return np.array(array, dtype=np.float64)


def _unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, to get back ``shape``."""
    while grad.ndim > len(shape):
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad.reshape(shape)


class Var:
    """A node of the computation graph: a float64 value, its gradient, and how it was made.

    Parameters
    ----------
    value:
        A real number or numeric array (copied to float64).
    name:
        Optional label, used when the graph is printed (``topological_order``).

    Attributes
    ----------
    value: np.ndarray
        Assigning to it between a forward pass and its ``backward`` makes ``backward`` raise a
        RuntimeError (a version counter, as torch uses for in-place changes).
    grad: np.ndarray or None
        d(output)/d(this node) after ``output.backward()``; same shape as ``value``. Gradients
        accumulate over several ``backward`` calls, as in torch; ``zero_grad`` resets them.
    op: str
        The operation that produced the node ("" for a leaf).
    """

    __array_priority__ = 1000  # so that ndarray * Var calls Var.__rmul__

    def __init__(self, value, name: str = "", *, _parents: tuple = (), _op: str = "") -> None:
        self._version = 0
        self.value = _to_array(value, "value")
        self.grad: np.ndarray | None = None
        self.name = str(name)
        self.op = _op
        # each parent comes with the function mapping d(out) -> d(parent)
        self._parents: tuple[tuple[Var, Callable[[np.ndarray], np.ndarray]], ...] = _parents
        # the version of each parent's value when this node was computed (checked by backward)
        self._saved_versions = tuple(parent._version for parent, _ in _parents)

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new) -> None:
        """Assigning a new value (also ``v.value -= ...``) bumps the version counter, as in torch.

        A node computed from the old value then refuses to run ``backward``: its local derivatives
        would be evaluated at the new value and the gradient would be silently wrong. Writing into
        the array element by element (``v.value[0] = 1``) bypasses the counter, like torch's ``.data``.
        """
        self._value = _to_array(new, "value")
        self._version += 1

    # -- construction helpers ------------------------------------------------------------------
    @staticmethod
    def _lift(other) -> Var:
        if isinstance(other, Var):
            return other
        return Var(_to_array(other, "operand"))

    def _make(self, value: np.ndarray, op: str, parents: Iterable[tuple[Var, Callable]]) -> Var:
        return Var(value, _parents=tuple(parents), _op=op)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    def __repr__(self) -> str:
        label = f" name={self.name!r}" if self.name else ""
        return f"Var({np.array2string(self.value, precision=6)}{label}, op={self.op or 'leaf'!r})"

    # -- arithmetic -----------------------------------------------------------------------------
    def __add__(self, other) -> Var:
        other = self._lift(other)
        return self._make(self.value + other.value, "add", [
            (self, lambda g: _unbroadcast(g, self.shape)),
            (other, lambda g: _unbroadcast(g, other.shape)),
        ])

    __radd__ = __add__

    def __neg__(self) -> Var:
        return self._make(-self.value, "neg", [(self, lambda g: -g)])

    def __sub__(self, other) -> Var:
        return self + (-self._lift(other))

    def __rsub__(self, other) -> Var:
        return self._lift(other) + (-self)

    def __mul__(self, other) -> Var:
        other = self._lift(other)
        return self._make(self.value * other.value, "mul", [
            (self, lambda g: _unbroadcast(g * other.value, self.shape)),
            (other, lambda g: _unbroadcast(g * self.value, other.shape)),
        ])

    __rmul__ = __mul__

    def __truediv__(self, other) -> Var:
        return self * self._lift(other).reciprocal()

    def __rtruediv__(self, other) -> Var:
        return self._lift(other) * self.reciprocal()

    def __pow__(self, exponent: float) -> Var:
        if isinstance(exponent, bool) or not isinstance(exponent, Real):
            raise TypeError(f"only a constant real exponent is supported, got {type(exponent).__name__}")
        p = float(exponent)
        if p == 0.0:  # x ** 0 = 1 everywhere: gradient 0, also at x = 0 (where p * x ** (p - 1) is 0 * inf)
            return self._make(np.ones_like(self.value), "pow0", [(self, lambda g: np.zeros_like(self.value))])
        return self._make(self.value**p, f"pow{p:g}", [(self, lambda g: g * p * self.value ** (p - 1.0))])

    def __matmul__(self, other) -> Var:
        other = self._lift(other)
        if self.value.ndim != 2 or other.value.ndim != 2:
            raise ValueError(f"matmul supports 2-D operands only, got shapes {self.shape} and {other.shape}")
        if self.shape[1] != other.shape[0]:
            raise ValueError(f"matmul shapes do not match: {self.shape} @ {other.shape}")
        return self._make(self.value @ other.value, "matmul", [
            (self, lambda g: g @ other.value.T),
            (other, lambda g: self.value.T @ g),
        ])

    def __rmatmul__(self, other) -> Var:
        return self._lift(other) @ self

    # -- shape ----------------------------------------------------------------------------------
    def transpose(self, *axes: int) -> Var:
        """Permute the axes (reverse them when none are given), as ``np.transpose``."""
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        order = tuple(int(a) for a in axes) if axes else tuple(range(self.value.ndim))[::-1]
        if sorted(order) != list(range(self.value.ndim)):
            raise ValueError(f"axes must be a permutation of 0..{self.value.ndim - 1}, got {order}")
        inverse = tuple(np.argsort(order))
        return self._make(np.transpose(self.value, order), "transpose",
                          [(self, lambda g: np.transpose(g, inverse))])

    @property
    def T(self) -> Var:  # noqa: N802 (NumPy's name)
        return self.transpose()

    def reshape(self, *shape: int) -> Var:
        """The same values in a new shape (one entry may be -1), as ``np.reshape``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            out = self.value.reshape(shape)
        except (ValueError, TypeError) as err:
            raise ValueError(f"cannot reshape a Var of shape {self.shape} into {shape}") from err
        old = self.shape
        return self._make(out, "reshape", [(self, lambda g: np.reshape(g, old))])

    # -- elementary functions --------------------------------------------------------------------
    def reciprocal(self) -> Var:
        return self._make(1.0 / self.value, "reciprocal", [(self, lambda g: -g / self.value**2)])

    def exp(self) -> Var:
        out = np.exp(self.value)
        return self._make(out, "exp", [(self, lambda g: g * out)])

    def log(self) -> Var:
        return self._make(np.log(self.value), "log", [(self, lambda g: g / self.value)])

    def tanh(self) -> Var:
        out = np.tanh(self.value)
        return self._make(out, "tanh", [(self, lambda g: g * (1.0 - out**2))])

    def sigmoid(self) -> Var:
        out = expit(self.value)
        return self._make(out, "sigmoid", [(self, lambda g: g * out * (1.0 - out))])

    def relu(self) -> Var:
        return self._make(np.maximum(self.value, 0.0), "relu", [(self, lambda g: g * (self.value > 0))])

    def sum(self, axis: int | None = None) -> Var:
        out = self.value.sum(axis=axis)
        def back(g):
            g = np.asarray(g)
            if axis is not None:
                g = np.expand_dims(g, axis)
            return np.broadcast_to(g, self.shape).copy()
        return self._make(out, "sum", [(self, back)])

    def mean(self, axis: int | None = None) -> Var:
        count = self.value.size if axis is None else self.value.shape[axis]
        return self.sum(axis) * (1.0 / count)

    # -- the reverse pass -----------------------------------------------------------------------
    def backward(self, grad=None) -> None:
        """Accumulate d(self)/d(node) into ``node.grad`` for every node self depends on.

        ``grad`` is the gradient flowing in from above (default 1 for a scalar output; required,
        with the output's shape, otherwise, as in ``torch.Tensor.backward``).
        """
        if grad is None:
            if self.value.size != 1:
                raise ValueError(f"backward() without grad needs a scalar output, got shape {self.shape}")
            seed = np.ones_like(self.value)
        else:
            seed = _to_array(grad, "grad")
            if seed.shape != self.shape:
                raise ValueError(f"grad must have the output's shape {self.shape}, got {seed.shape}")
        order = topological_order(self)
        pending: dict[int, np.ndarray] = {id(self): seed}
        for node in reversed(order):
            g = pending.pop(id(node), None)
            if g is None:
                continue
            node.grad = g.copy() if node.grad is None else node.grad + g
            for (parent, _), saved in zip(node._parents, node._saved_versions):
                if parent._version != saved:
                    raise RuntimeError(
                        f"the value of an input of the {node.op!r} node was changed after the forward pass "
                        f"(version {saved} -> {parent._version}); backward would give the gradient at the new "
                        "value. Run the forward pass again after changing .value.")
            for parent, local in node._parents:
                contribution = local(g)
                key = id(parent)
                pending[key] = contribution if key not in pending else pending[key] + contribution

    def zero_grad(self) -> None:
        """Reset ``grad`` to None on this node and every node it depends on."""
        for node in topological_order(self):
            node.grad = None


def topological_order(output: Var) -> list[Var]:
    """The nodes ``output`` depends on, inputs first, ``output`` last (iterative: deep graphs are fine)."""
    if not isinstance(output, Var):
        raise TypeError(f"output must be a Var, got {type(output).__name__}")
    order: list[Var] = []
    seen: set[int] = set()
    stack: list[tuple[Var, bool]] = [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for parent, _ in node._parents:
            if id(parent) not in seen:
                stack.append((parent, False))
    return order
