"""lectures_utils.sequences against torch.nn (LSTM, GRU, RNN, MultiheadAttention, F.sdpa) and bad inputs."""
from __future__ import annotations

import math

import pytest
import torch

from lectures_utils.sequences import (gru_cell, gru_forward, lstm_cell, lstm_forward, multi_head_attention,
                                      rnn_forward, scaled_dot_product_attention, sinusoidal_positional_encoding)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_rnn_forward_matches_torch_rnn():
    net = torch.nn.RNN(3, 5, batch_first=True)
    x = torch.randn(2, 7, 3)
    expected, _ = net(x)
    got = rnn_forward(x, net.weight_hh_l0, net.weight_ih_l0, net.bias_ih_l0 + net.bias_hh_l0)
    assert torch.allclose(got, expected, atol=1e-6)


def test_lstm_matches_torch_lstm():
    net = torch.nn.LSTM(4, 6, batch_first=True)
    x = torch.randn(3, 9, 4)
    h0, c0 = torch.randn(3, 6), torch.randn(3, 6)
    expected, (h_n, c_n) = net(x, (h0[None], c0[None]))
    got, (h, c) = lstm_forward(x, net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0, net.bias_hh_l0, (h0, c0))
    assert torch.allclose(got, expected, atol=1e-6)
    assert torch.allclose(h, h_n[0], atol=1e-6) and torch.allclose(c, c_n[0], atol=1e-6)


def test_lstm_cell_gates_and_ranges():
    cell = torch.nn.LSTMCell(4, 6)
    x, h, c = torch.randn(5, 4), torch.randn(5, 6), torch.randn(5, 6)
    eh, ec = cell(x, (h, c))
    gh, gc, gates = lstm_cell(x, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, return_gates=True)
    assert torch.allclose(gh, eh, atol=1e-6) and torch.allclose(gc, ec, atol=1e-6)
    for name in "ifo":
        assert ((gates[name] > 0) & (gates[name] < 1)).all()
    assert (gates["g"].abs() < 1).all() and (gh.abs() < 1).all()


def test_lstm_without_bias():
    cell = torch.nn.LSTMCell(2, 3, bias=False)
    x, h, c = torch.randn(4, 2), torch.randn(4, 3), torch.randn(4, 3)
    eh, ec = cell(x, (h, c))
    gh, gc = lstm_cell(x, h, c, cell.weight_ih, cell.weight_hh)
    assert torch.allclose(gh, eh, atol=1e-6) and torch.allclose(gc, ec, atol=1e-6)


def test_gru_matches_torch_gru():
    net = torch.nn.GRU(4, 5, batch_first=True)
    x = torch.randn(2, 8, 4)
    h0 = torch.randn(2, 5)
    expected, h_n = net(x, h0[None])
    got, h = gru_forward(x, net.weight_ih_l0, net.weight_hh_l0, net.bias_ih_l0, net.bias_hh_l0, h0)
    assert torch.allclose(got, expected, atol=1e-6) and torch.allclose(h, h_n[0], atol=1e-6)
    cell = torch.nn.GRUCell(4, 5)
    _, gates = gru_cell(x[:, 0], h0, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh, return_gates=True)
    assert set(gates) == {"r", "z", "n"}


@pytest.mark.parametrize("with_mask", [False, True])
def test_scaled_dot_product_attention_matches_torch(with_mask):
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 7, 8), torch.randn(2, 3, 7, 4)
    mask = torch.rand(5, 7) > 0.4 if with_mask else None
    if mask is not None:
        mask[:, 0] = True
    out, w = scaled_dot_product_attention(q, k, v, mask=mask)
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(out, expected, atol=1e-6)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 5), atol=1e-6)
    if mask is not None:
        assert (w[..., ~mask] == 0).all()


def test_multi_head_attention_matches_torch():
    mha = torch.nn.MultiheadAttention(12, 3, batch_first=True)
    q, kv = torch.randn(2, 4, 12), torch.randn(2, 6, 12)
    causal = torch.ones(4, 6, dtype=torch.bool).tril()
    for mask in (None, causal):
        torch_mask = None if mask is None else ~mask  # torch's bool attn_mask marks what is blocked
        expected, expected_w = mha(q, kv, kv, attn_mask=torch_mask, average_attn_weights=False)
        got, w = multi_head_attention(q, kv, kv, 3, mha.in_proj_weight, mha.in_proj_bias,
                                      mha.out_proj.weight, mha.out_proj.bias, mask=mask)
        assert torch.allclose(got, expected, atol=1e-6)
        assert torch.allclose(w, expected_w, atol=1e-6)


def test_positional_encoding_formula_and_norm():
    pe = sinusoidal_positional_encoding(50, 16)
    assert pe.shape == (50, 16) and pe.dtype == torch.float32
    p, i = 7, 3
    assert math.isclose(pe[p, 2 * i].item(), math.sin(p / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    assert math.isclose(pe[p, 2 * i + 1].item(), math.cos(p / 10000 ** (2 * i / 16)), abs_tol=1e-6)
    assert torch.allclose(pe.norm(dim=1), torch.full((50,), math.sqrt(8)), atol=1e-5)


def test_bad_inputs():
    w_ih, w_hh = torch.randn(12, 2), torch.randn(12, 3)
    with pytest.raises(ValueError, match="weight_ih"):
        lstm_cell(torch.randn(4, 5), torch.randn(4, 3), torch.randn(4, 3), w_ih, w_hh)
    with pytest.raises(ValueError, match="same shape"):
        lstm_cell(torch.randn(4, 2), torch.randn(4, 3), torch.randn(4, 2), w_ih, w_hh)
    with pytest.raises(TypeError, match="torch.Tensor"):
        lstm_cell([[1.0, 2.0]], torch.randn(1, 3), torch.randn(1, 3), w_ih, w_hh)
    with pytest.raises(TypeError, match="floating-point"):
        gru_cell(torch.ones(1, 2, dtype=torch.long), torch.randn(1, 3), torch.randn(9, 2), torch.randn(9, 3))
    with pytest.raises(ValueError, match="weight_hh"):
        gru_cell(torch.randn(1, 2), torch.randn(1, 3), torch.randn(9, 2), torch.randn(12, 3))
    with pytest.raises(ValueError, match="square"):
        rnn_forward(torch.randn(1, 4, 2), torch.randn(3, 4), torch.randn(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="3 dimensions"):
        rnn_forward(torch.randn(4, 2), torch.randn(3, 3), torch.randn(3, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="feature size"):
        scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 5), torch.randn(3, 5))
    with pytest.raises(TypeError, match="bool"):
        scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 4), torch.randn(3, 5), mask=torch.ones(2, 3))
    with pytest.raises(ValueError, match="all False"):
        scaled_dot_product_attention(torch.randn(2, 4), torch.randn(3, 4), torch.randn(3, 5),
                                     mask=torch.tensor([[True, False, False], [False, False, False]]))
    mha = torch.nn.MultiheadAttention(12, 3, batch_first=True)
    with pytest.raises(ValueError, match="divisible"):
        multi_head_attention(torch.randn(1, 2, 12), torch.randn(1, 2, 12), torch.randn(1, 2, 12), 5,
                             mha.in_proj_weight, mha.in_proj_bias, mha.out_proj.weight, mha.out_proj.bias)
    with pytest.raises(ValueError, match="even"):
        sinusoidal_positional_encoding(10, 7)
    with pytest.raises(ValueError, match="positive int"):
        sinusoidal_positional_encoding(0, 8)
