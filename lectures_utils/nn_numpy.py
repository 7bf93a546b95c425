"""A multilayer perceptron in plain NumPy: initialisation, forward pass, backpropagation, losses.

Chapter 3 derives backpropagation as a matrix recursion and checks it numerically; this module is
that recursion written once, so later chapters (and the homework's reference) can reuse it.

Shapes use the row convention of PyTorch: a batch ``X`` is ``(N, d_in)``, layer ``l`` has weights
``W[l]`` of shape ``(d_out, d_in)`` and bias ``b[l]`` of shape ``(d_out,)``, and

    s(l) = o(l-1) W(l)^T + b(l),    o(l) = theta(s(l)),    o(0) = X,

with the identity on the last layer (its outputs are logits or regression values). Backward:

    delta(L) = dLoss/ds(L),   delta(l) = (delta(l+1) W(l+1)) * theta'(s(l)),
    dLoss/dW(l) = delta(l)^T o(l-1),   dLoss/db(l) = sum over the batch of delta(l).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .activations import _lookup, activation, activation_derivative

__all__ = [
    "INIT_SCHEMES",
    "init_weights",
    "MLP",
    "softmax",
    "softmax_cross_entropy",
    "mse_loss",
    "numerical_gradient",
    "relative_error",
]

#: Initialisation schemes ``init_weights`` accepts.
INIT_SCHEMES: tuple[str, ...] = (
    "constant", "normal", "uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform", "orthogonal",
)


def _check_rng(rng) -> np.random.Generator:
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng).__name__}")
    return rng


def init_weights(
    fan_in: int, fan_out: int, scheme: str, rng: np.random.Generator | int = 0, *,
    std: float = 0.01, value: float = 0.5, gain: float = 1.0,
) -> np.ndarray:
    """A weight matrix of shape ``(fan_out, fan_in)`` drawn with ``scheme``.

    - ``constant``: every entry equals ``value`` (shows the symmetry problem);
    - ``normal``: N(0, std^2) with a fixed ``std`` (0.01 by default), ``uniform``: U(-r, r) with the
      same variance, r = sqrt(3) std;
    - ``xavier_normal`` / ``xavier_uniform`` (Glorot): Var = gain^2 * 2 / (fan_in + fan_out);
    - ``he_normal`` / ``he_uniform`` (Kaiming, fan-in mode): Var = gain^2 * 2 / fan_in;
    - ``orthogonal``: ``gain`` times a random matrix with orthonormal rows or columns
      (W W^T = I when fan_out <= fan_in).
    """
    for name, n in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{name} must be a positive int, got {n!r}")
    if not isinstance(scheme, str) or scheme not in INIT_SCHEMES:
        raise ValueError(f"unknown initialisation {scheme!r}: expected one of {', '.join(INIT_SCHEMES)}")
    if std <= 0 or gain <= 0:
        raise ValueError(f"std and gain must be positive, got std={std}, gain={gain}")
    rng = _check_rng(rng)
    shape = (int(fan_out), int(fan_in))
    if scheme == "constant":
        return np.full(shape, float(value))
    if scheme == "normal":
        return rng.normal(0.0, std, size=shape)
    if scheme == "uniform":
        r = np.sqrt(3.0) * std
        return rng.uniform(-r, r, size=shape)
    if scheme.startswith("xavier"):
        target_std = gain * np.sqrt(2.0 / (fan_in + fan_out))
    elif scheme.startswith("he"):
        target_std = gain * np.sqrt(2.0 / fan_in)
    else:  # orthogonal
        a = rng.normal(size=(max(shape), min(shape)))
        q, r = np.linalg.qr(a)
        q = q * np.sign(np.diag(r))  # makes the distribution uniform over orthogonal matrices
        return gain * (q if shape[0] >= shape[1] else q.T)
    if scheme.endswith("normal"):
        return rng.normal(0.0, target_std, size=shape)
    r = np.sqrt(3.0) * target_std
    return rng.uniform(-r, r, size=shape)


def _as_batch(X, name: str = "X") -> np.ndarray:
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    array = np.asarray(X)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, features), got {array.shape}")
    if array.shape[0] == 0:
        raise ValueError(f"{name} is empty: expected at least one row")
    return array.astype(np.float64, copy=False)


def softmax(logits) -> np.ndarray:
    """Row-wise softmax of ``logits`` (N, C), computed stably."""
    z = _as_batch(logits, "logits")
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def softmax_cross_entropy(logits, labels) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of softmax(logits) against integer ``labels``; returns (loss, dLoss/dlogits).

    logits: (N, C) float; labels: (N,) ints in [0, C). Matches ``torch.nn.functional.cross_entropy``.
    """
    z = _as_batch(logits, "logits")
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != z.shape[0]:
        raise ValueError(f"labels must have shape ({z.shape[0]},) to match logits {z.shape}, got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integers (class indices), got dtype {y.dtype}")
    if y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must lie in [0, {z.shape[1]}), got values from {y.min()} to {y.max()}")
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = z.shape[0]
    loss = float(-log_p[np.arange(n), y].mean())
    grad = np.exp(log_p)
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n


def mse_loss(pred, target) -> tuple[float, np.ndarray]:
    """Mean squared error over all entries; returns (loss, dLoss/dpred). Shapes must match exactly."""
    p = _as_batch(pred, "pred")
    t = _as_batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target must have the same shape, got {p.shape} and {t.shape}")
    diff = p - t
    return float(np.mean(diff**2)), 2.0 * diff / diff.size


class MLP:
    """A fully connected network with one activation on every hidden layer and a linear output.

    Parameters
    ----------
    sizes:
        Layer widths including input and output, e.g. ``(64, 128, 10)``.
    activation:
        Any name of ``lectures_utils.activations.ACTIVATION_NAMES`` (hidden layers only).
    init:
        A scheme of ``init_weights``; biases start at zero. ``init_kwargs`` are passed on.
    rng:
        Generator or int seed for the initial weights (and dropout masks).
    dropout:
        Probability of zeroing each hidden activation during training (inverted dropout: kept
        activations are scaled by 1/(1-p), so evaluation needs no change).
    """

    def __init__(
        self, sizes: Sequence[int], activation: str = "relu", init: str = "he_normal",
        rng: np.random.Generator | int = 0, dropout: float = 0.0, **init_kwargs: float,
    ) -> None:
        sizes = list(sizes)
        if len(sizes) < 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1
                                 for s in sizes):
            raise ValueError(f"sizes must list at least two positive ints (input and output), got {sizes}")
        _lookup(activation, {})
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.rng = _check_rng(rng)
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.dropout = float(dropout)
        self.training = True
        self.weights = [init_weights(a, b, init, self.rng, **init_kwargs) for a, b in zip(sizes[:-1], sizes[1:])]
        self.biases = [np.zeros(b) for b in sizes[1:]]
        self._cache: dict | None = None

    @property
    def n_layers(self) -> int:
        return len(self.weights)

    def parameters(self) -> list[np.ndarray]:
        """[W1, b1, W2, b2, ...]: the arrays themselves (updating them in place updates the model)."""
        out = []
        for W, b in zip(self.weights, self.biases):
            out += [W, b]
        return out

    def forward(self, X) -> np.ndarray:
        """Outputs (N, sizes[-1]) for inputs X (N, sizes[0]); caches what backward needs."""
        o = _as_batch(X)
        if o.shape[1] != self.sizes[0]:
            raise ValueError(f"X must have {self.sizes[0]} features, got {o.shape[1]}")
        pre, post, masks = [], [o], []
        for l, (W, b) in enumerate(zip(self.weights, self.biases)):
            s = o @ W.T + b
            pre.append(s)
            if l == self.n_layers - 1:
                o = s
            else:
                o = activation(self.activation, s)
                if self.training and self.dropout > 0:
                    mask = (self.rng.random(o.shape) >= self.dropout) / (1.0 - self.dropout)
                    o = o * mask
                    masks.append(mask)
                else:
                    masks.append(None)
            post.append(o)
        self._cache = {"pre": pre, "post": post, "masks": masks}
        return o

    __call__ = forward

    def backward(self, grad_output) -> list[np.ndarray]:
        """Gradients [dW1, db1, dW2, db2, ...] given dLoss/doutput (N, sizes[-1]) of the last forward."""
        if self._cache is None:
            raise RuntimeError("call forward before backward")
        pre, post, masks = self._cache["pre"], self._cache["post"], self._cache["masks"]
        delta = _as_batch(grad_output, "grad_output")
        if delta.shape != post[-1].shape:
            raise ValueError(f"grad_output must have shape {post[-1].shape}, got {delta.shape}")
        grads: list[np.ndarray] = [None] * (2 * self.n_layers)  # type: ignore[list-item]
        for l in range(self.n_layers - 1, -1, -1):
            grads[2 * l] = delta.T @ post[l]
            grads[2 * l + 1] = delta.sum(axis=0)
            if l > 0:
                upstream = delta @ self.weights[l]
                if masks[l - 1] is not None:
                    upstream = upstream * masks[l - 1]
                delta = upstream * activation_derivative(self.activation, pre[l - 1])
        return grads

    def loss_and_gradients(self, X, y, loss: str = "cross_entropy") -> tuple[float, list[np.ndarray]]:
        """Forward, loss (``cross_entropy`` with integer labels, or ``mse``), backward."""
        out = self.forward(X)
        if loss == "cross_entropy":
            value, grad = softmax_cross_entropy(out, y)
        elif loss == "mse":
            value, grad = mse_loss(out, y)
        else:
            raise ValueError(f"unknown loss {loss!r}: expected 'cross_entropy' or 'mse'")
        return value, self.backward(grad)

    def predict(self, X) -> np.ndarray:
        """Class indices (argmax of the outputs) in evaluation mode (no dropout)."""
        was = self.training
        self.training = False
        try:
            return self.forward(X).argmax(axis=1)
        finally:
            self.training = was


def numerical_gradient(f: Callable[[], float], param: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central finite differences (f(p + eps) - f(p - eps)) / (2 eps) for every entry of ``param``.

    ``f`` takes no argument and reads ``param`` (which is changed in place and restored).
    """
    if not isinstance(param, np.ndarray) or param.dtype != np.float64:
        raise TypeError("param must be a float64 numpy array that f reads")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps}")
    grad = np.zeros_like(param)
    flat, gflat = param.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, param):
        raise ValueError("param must be contiguous so that it can be perturbed in place")
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = float(f())
        flat[i] = old - eps
        down = float(f())
        flat[i] = old
        gflat[i] = (up - down) / (2.0 * eps)
    return grad


def relative_error(a, b, floor: float = 1e-300) -> float:
    """||a - b|| / (||a|| + ||b||) with Euclidean norms over all entries: the gradient-check measure.

    Unlike an entrywise maximum it is not dominated by entries that are nearly zero in both arrays.
    Returns 0 when both are zero.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("a and b are empty")
    denom = np.linalg.norm(a) + np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / max(denom, floor))
