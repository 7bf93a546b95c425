"""Recurrent cells and attention written out from their equations (chapter 5).

The functions follow PyTorch's parameter layout, so a reader can copy the weights of a
``torch.nn.LSTM``, ``torch.nn.GRU`` or ``torch.nn.MultiheadAttention`` into them and get the same
numbers (the tests check this):

- ``rnn_forward``: the plain recurrent net h_t = tanh(U h_{t-1} + W x_t + b) over a sequence;
- ``lstm_cell`` / ``lstm_forward``: one LSTM step and a whole sequence, gates in PyTorch's order
  (input, forget, cell candidate, output);
- ``gru_cell`` / ``gru_forward``: the same for the GRU (reset, update, candidate);
- ``scaled_dot_product_attention``: softmax(Q K^T / sqrt(d)) V with an optional mask;
- ``multi_head_attention``: the multi-head attention of ``torch.nn.MultiheadAttention``;
- ``sinusoidal_positional_encoding``: the fixed position code of the Transformer.

All tensors are batch-first: sequences are ``(N, T, features)``.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "rnn_forward",
    "lstm_cell",
    "lstm_forward",
    "gru_cell",
    "gru_forward",
    "scaled_dot_product_attention",
    "multi_head_attention",
    "sinusoidal_positional_encoding",
]


def _check_tensor(name: str, value, ndim: int | tuple[int, ...]) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if value.dim() not in allowed:
        raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimensions, got shape {tuple(value.shape)}")
    if value.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(value.shape)})")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {value.dtype}")
    return value


def _check_gate_weights(n_gates: int, x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor,
                        weight_hh: torch.Tensor, bias_ih: torch.Tensor | None, bias_hh: torch.Tensor | None) -> None:
    hidden = h.shape[-1]
    _check_tensor("weight_ih", weight_ih, 2)
    _check_tensor("weight_hh", weight_hh, 2)
    if weight_ih.shape != (n_gates * hidden, x.shape[-1]):
        raise ValueError(f"weight_ih must have shape ({n_gates} * hidden, input) = "
                         f"({n_gates * hidden}, {x.shape[-1]}), got {tuple(weight_ih.shape)}")
    if weight_hh.shape != (n_gates * hidden, hidden):
        raise ValueError(f"weight_hh must have shape ({n_gates * hidden}, {hidden}), got {tuple(weight_hh.shape)}")
    for name, b in (("bias_ih", bias_ih), ("bias_hh", bias_hh)):
        if b is not None and tuple(b.shape) != (n_gates * hidden,):
            raise ValueError(f"{name} must have shape ({n_gates * hidden},), got {tuple(b.shape)}")
    if x.shape[:-1] != h.shape[:-1]:
        raise ValueError(f"x and h must share the batch dimension: x {tuple(x.shape)}, h {tuple(h.shape)}")


def _affine(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    out = x @ weight.T
    return out + bias if bias is not None else out


def rnn_forward(x: torch.Tensor, U: torch.Tensor, W: torch.Tensor, b: torch.Tensor,
                h0: torch.Tensor | None = None, activation=torch.tanh) -> torch.Tensor:
    """Run the plain RNN h_t = f(U h_{t-1} + W x_t + b) over a sequence.

    Parameters
    ----------
    x: (N, T, D) inputs; U: (H, H) recurrent weights; W: (H, D) input weights; b: (H,) bias;
    h0: (N, H) initial state, zeros when omitted; activation: f, tanh by default.

    Returns
    -------
    (N, T, H) hidden states h_1 ... h_T (with tanh and zero biases in ``torch.nn.RNN`` this is its
    first output when weight_hh = U, weight_ih = W, bias_ih + bias_hh = b).
    """
    _check_tensor("x", x, 3)
    _check_tensor("U", U, 2)
    _check_tensor("W", W, 2)
    _check_tensor("b", b, 1)
    hidden = U.shape[0]
    if U.shape != (hidden, hidden):
        raise ValueError(f"U must be square (H, H), got {tuple(U.shape)}")
    if W.shape != (hidden, x.shape[-1]):
        raise ValueError(f"W must have shape (H, D) = ({hidden}, {x.shape[-1]}), got {tuple(W.shape)}")
    if b.shape != (hidden,):
        raise ValueError(f"b must have shape ({hidden},), got {tuple(b.shape)}")
    h = x.new_zeros(x.shape[0], hidden) if h0 is None else _check_tensor("h0", h0, 2)
    if h.shape != (x.shape[0], hidden):
        raise ValueError(f"h0 must have shape (N, H) = ({x.shape[0]}, {hidden}), got {tuple(h.shape)}")
    states = []
    for t in range(x.shape[1]):
        h = activation(h @ U.T + x[:, t] @ W.T + b)
        states.append(h)
    return torch.stack(states, dim=1)


def lstm_cell(x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, weight_ih: torch.Tensor,
              weight_hh: torch.Tensor, bias_ih: torch.Tensor | None = None,
              bias_hh: torch.Tensor | None = None, return_gates: bool = False):
    """One LSTM step from its equations.

    i = sigma(W_i x + U_i h + b_i), f = sigma(W_f x + U_f h + b_f), g = tanh(W_g x + U_g h + b_g),
    o = sigma(W_o x + U_o h + b_o); c' = f * c + i * g; h' = o * tanh(c').

    Parameters
    ----------
    x: (N, D) input; h, c: (N, H) hidden and cell state;
    weight_ih: (4H, D) and weight_hh: (4H, H), the four gates stacked in PyTorch's order
    (input, forget, cell candidate g, output); bias_ih, bias_hh: (4H,) or None.
    return_gates: also return a dict with the gate values ``i, f, g, o``, each (N, H).

    Returns
    -------
    (h', c') each (N, H), plus the gate dict when ``return_gates``.
    """
    _check_tensor("x", x, 2)
    _check_tensor("h", h, 2)
    _check_tensor("c", c, 2)
    if c.shape != h.shape:
        raise ValueError(f"c and h must have the same shape, got c {tuple(c.shape)}, h {tuple(h.shape)}")
    _check_gate_weights(4, x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    z = _affine(x, weight_ih, bias_ih) + _affine(h, weight_hh, bias_hh)
    zi, zf, zg, zo = z.chunk(4, dim=-1)
    i, f, g, o = torch.sigmoid(zi), torch.sigmoid(zf), torch.tanh(zg), torch.sigmoid(zo)
    c_new = f * c + i * g
    h_new = o * torch.tanh(c_new)
    if return_gates:
        return h_new, c_new, {"i": i, "f": f, "g": g, "o": o}
    return h_new, c_new


def lstm_forward(x: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                 bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None,
                 state: tuple[torch.Tensor, torch.Tensor] | None = None):
    """Run ``lstm_cell`` over a sequence ``x`` (N, T, D).

    Returns ``(outputs, (h_T, c_T))`` with outputs (N, T, H), like a one-layer batch-first
    ``torch.nn.LSTM`` (whose final states carry an extra leading layer axis).
    """
    _check_tensor("x", x, 3)
    hidden = weight_hh.shape[-1] if isinstance(weight_hh, torch.Tensor) and weight_hh.dim() == 2 else None
    if hidden is None:
        raise ValueError("weight_hh must be a (4H, H) tensor")
    if state is None:
        h = x.new_zeros(x.shape[0], hidden)
        c = x.new_zeros(x.shape[0], hidden)
    else:
        h, c = state
    outputs = []
    for t in range(x.shape[1]):
        h, c = lstm_cell(x[:, t], h, c, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), (h, c)


def gru_cell(x: torch.Tensor, h: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
             bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None,
             return_gates: bool = False):
    """One GRU step from its equations (PyTorch's convention).

    r = sigma(W_r x + b_ir + U_r h + b_hr), z = sigma(W_z x + b_iz + U_z h + b_hz),
    n = tanh(W_n x + b_in + r * (U_n h + b_hn)), h' = (1 - z) * n + z * h.

    Parameters
    ----------
    x: (N, D); h: (N, H); weight_ih: (3H, D); weight_hh: (3H, H), gates stacked as
    (reset, update, candidate); bias_ih, bias_hh: (3H,) or None.
    """
    _check_tensor("x", x, 2)
    _check_tensor("h", h, 2)
    _check_gate_weights(3, x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    gi = _affine(x, weight_ih, bias_ih)
    gh = _affine(h, weight_hh, bias_hh)
    ir, iz, in_ = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn)
    h_new = (1 - z) * n + z * h
    if return_gates:
        return h_new, {"r": r, "z": z, "n": n}
    return h_new


def gru_forward(x: torch.Tensor, weight_ih: torch.Tensor, weight_hh: torch.Tensor,
                bias_ih: torch.Tensor | None = None, bias_hh: torch.Tensor | None = None,
                h0: torch.Tensor | None = None):
    """Run ``gru_cell`` over ``x`` (N, T, D); returns ``(outputs (N, T, H), h_T (N, H))``."""
    _check_tensor("x", x, 3)
    if not isinstance(weight_hh, torch.Tensor) or weight_hh.dim() != 2:
        raise ValueError("weight_hh must be a (3H, H) tensor")
    h = x.new_zeros(x.shape[0], weight_hh.shape[-1]) if h0 is None else h0
    outputs = []
    for t in range(x.shape[1]):
        h = gru_cell(x[:, t], h, weight_ih, weight_hh, bias_ih, bias_hh)
        outputs.append(h)
    return torch.stack(outputs, dim=1), h


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                                 mask: torch.Tensor | None = None, scale: float | None = None):
    """softmax(Q K^T * scale) V, the Transformer's attention.

    Parameters
    ----------
    q: (..., M, d) queries; k: (..., N, d) keys; v: (..., N, d_v) values.
    mask: optional bool tensor broadcastable to (..., M, N); True marks a key a query may attend
    to (PyTorch's ``F.scaled_dot_product_attention`` convention); every query needs one True.
    scale: the factor on the scores, 1/sqrt(d) when omitted.

    Returns
    -------
    (output (..., M, d_v), weights (..., M, N)); each row of weights sums to 1.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, features), got {tuple(t.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same feature size d, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same length, got {k.shape[-2]} and {v.shape[-2]}")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1)) * scale
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise TypeError("mask must be a bool tensor (True = may attend)")
        try:
            allowed = mask.expand_as(scores) if mask.shape != scores.shape else mask
        except RuntimeError as err:
            raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to the scores "
                             f"{tuple(scores.shape)}") from err
        if not allowed.any(dim=-1).all():
            raise ValueError("every query needs at least one key it may attend to (a mask row is all False)")
        scores = scores.masked_fill(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


def multi_head_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, num_heads: int,
                         in_proj_weight: torch.Tensor, in_proj_bias: torch.Tensor | None,
                         out_proj_weight: torch.Tensor, out_proj_bias: torch.Tensor | None,
                         mask: torch.Tensor | None = None):
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s parameters (batch-first).

    Parameters
    ----------
    query: (N, M, E); key, value: (N, S, E); num_heads: h, which must divide E.
    in_proj_weight: (3E, E), the stacked W_Q, W_K, W_V; in_proj_bias: (3E,) or None;
    out_proj_weight: (E, E); out_proj_bias: (E,) or None;
    mask: optional bool (M, S) or (N, M, S), True = may attend.

    Returns
    -------
    (output (N, M, E), weights (N, h, M, S)): the per-head attention weights.
    """
    _check_tensor("query", query, 3)
    _check_tensor("key", key, 3)
    _check_tensor("value", value, 3)
    if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
        raise ValueError(f"num_heads must be a positive int, got {num_heads!r}")
    n, m, e = query.shape
    if e % num_heads:
        raise ValueError(f"the embedding size {e} must be divisible by num_heads={num_heads}")
    if key.shape != value.shape or key.shape[0] != n or key.shape[2] != e:
        raise ValueError(f"key and value must be (N, S, E) = ({n}, S, {e}), got {tuple(key.shape)}, {tuple(value.shape)}")
    if in_proj_weight.shape != (3 * e, e):
        raise ValueError(f"in_proj_weight must be (3E, E) = ({3 * e}, {e}), got {tuple(in_proj_weight.shape)}")
    if out_proj_weight.shape != (e, e):
        raise ValueError(f"out_proj_weight must be (E, E) = ({e}, {e}), got {tuple(out_proj_weight.shape)}")
    wq, wk, wv = in_proj_weight.chunk(3)
    bq, bk, bv = in_proj_bias.chunk(3) if in_proj_bias is not None else (None, None, None)
    d = e // num_heads

    def split(t: torch.Tensor) -> torch.Tensor:  # (N, L, E) -> (N, h, L, d)
        return t.reshape(t.shape[0], t.shape[1], num_heads, d).transpose(1, 2)

    q, k, v = split(_affine(query, wq, bq)), split(_affine(key, wk, bk)), split(_affine(value, wv, bv))
    if mask is not None and mask.dim() == 3:
        mask = mask[:, None]
    heads, weights = scaled_dot_product_attention(q, k, v, mask=mask)
    concat = heads.transpose(1, 2).reshape(n, m, e)
    return _affine(concat, out_proj_weight, out_proj_bias), weights


def sinusoidal_positional_encoding(length: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """The Transformer's fixed position code, (length, d_model) float32.

    PE[p, 2i] = sin(p / base^(2i / d_model)), PE[p, 2i + 1] = cos(p / base^(2i / d_model)).
    ``d_model`` must be even.
    """
    for name, val in (("length", length), ("d_model", d_model)):
        if isinstance(val, bool) or not isinstance(val, int) or val < 1:
            raise ValueError(f"{name} must be a positive int, got {val!r}")
    if d_model % 2:
        raise ValueError(f"d_model must be even (sine and cosine pairs), got {d_model}")
    position = torch.arange(length, dtype=torch.float64)[:, None]
    freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    pe = torch.zeros(length, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(position * freq)
    pe[:, 1::2] = torch.cos(position * freq)
    return pe.float()
