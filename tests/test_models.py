"""Tests for lectures_utils.models: shapes, gradients, the ConvLSTM cell against torch.nn.LSTMCell,
FLOP counts against the closed-form convolution cost, pruning, and bad inputs."""

import pytest
import torch
from torch import nn

from lectures_utils import models as M


@pytest.mark.parametrize(
    "make,shape",
    [
        (lambda: M.UNet(1, 3, base_channels=4, depth=2), (2, 1, 16, 16)),
        (lambda: M.UNet(2, 3, base_channels=4, depth=1, spatial_dims=3), (1, 2, 4, 8, 8)),
        (lambda: M.FCN(1, 3, base_channels=4, variant="32s"), (2, 1, 32, 32)),
        (lambda: M.FCN(1, 3, base_channels=4, variant="16s"), (2, 1, 32, 32)),
        (lambda: M.FCN(1, 3, base_channels=4, variant="8s"), (2, 1, 64, 32)),
        (lambda: M.VNet(1, 3, base_channels=4, depth=2), (1, 1, 8, 8, 8)),
        (lambda: M.PSPNet(1, 3, base_channels=4), (2, 1, 24, 24)),
        (lambda: M.UNetPlusPlus(1, 3, base_channels=4, depth=2), (2, 1, 16, 16)),
        (lambda: M.BiConvLSTMUNet(1, 3, base_channels=4, depth=1, hidden_channels=3), (2, 1, 3, 8, 8)),
    ],
)
def test_shapes_and_gradients(make, shape):
    torch.manual_seed(0)
    model = make()
    x = torch.randn(shape)
    out = model(x)
    outs = out if isinstance(out, list) else [out]
    for o in outs:
        assert o.shape == (shape[0], 3, *shape[2:])
    sum(o.sum() for o in outs).backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_unetpp_deep_supervision_and_pruning():
    torch.manual_seed(0)
    net = M.UNetPlusPlus(1, 2, base_channels=4, depth=3)
    x = torch.randn(1, 1, 16, 16)
    net.train()
    outs = net(x)
    assert isinstance(outs, list) and len(outs) == 3
    net.eval()
    with torch.no_grad():
        full = net(x)
        outs = [net(x, prune_level=j) for j in (1, 2, 3)]
    # The pruned net of level 3 is the full net's deepest head; the eval output averages the heads.
    assert torch.allclose(full, torch.stack(outs).mean(0), atol=1e-6)
    # Pruning really computes less.
    flops = []
    for level in (1, 2, 3):
        class Pruned(nn.Module):
            def forward(self, x, level=level):
                return net(x, prune_level=level)
        flops.append(M.count_flops(Pruned(), (1, 1, 16, 16)))
    assert flops[0] < flops[1] < flops[2]


def test_convlstm_cell_matches_lstm_cell():
    torch.manual_seed(0)
    cin, hid = 3, 5
    ref = nn.LSTMCell(cin, hid)
    cell = M.ConvLSTMCell(cin, hid, kernel_size=1)
    with torch.no_grad():
        cell.gates.weight.copy_(torch.cat([ref.weight_ih, ref.weight_hh], dim=1)[:, :, None, None])
        cell.gates.bias.copy_(ref.bias_ih + ref.bias_hh)
    x = torch.randn(4, cin)
    h0, c0 = torch.randn(4, hid), torch.randn(4, hid)
    h_ref, c_ref = ref(x, (h0, c0))
    h, c = cell(x[:, :, None, None], (h0[:, :, None, None], c0[:, :, None, None]))
    assert torch.allclose(h[:, :, 0, 0], h_ref, atol=1e-6)
    assert torch.allclose(c[:, :, 0, 0], c_ref, atol=1e-6)


def test_pyramid_pooling_global_bin_is_mean():
    ppm = M.PyramidPooling(4, bins=(1,), branch_channels=2)
    with torch.no_grad():
        ppm.branches[0][1].weight.zero_()
        ppm.branches[0][1].weight[0, 0] = 1.0
        ppm.branches[0][1].bias.zero_()
    x = torch.rand(2, 4, 6, 6)
    out = ppm(x)
    assert out.shape == (2, ppm.out_channels, 6, 6) and ppm.out_channels == 6
    assert torch.allclose(out[:, :4], x)
    assert torch.allclose(out[:, 4], x[:, 0].mean((1, 2))[:, None, None].expand(2, 6, 6), atol=1e-6)


def test_count_parameters_and_flops_closed_form():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    assert M.count_parameters(conv) == 8 * 3 * 9 + 8
    # multiply-adds of a convolution: C_out * H * W * C_in * k * k, two FLOPs each
    assert M.count_flops(conv, (1, 3, 10, 12)) == 2 * 8 * 10 * 12 * 3 * 9
    frozen = nn.Linear(4, 2)
    frozen.weight.requires_grad_(False)
    assert M.count_parameters(frozen) == 2 and M.count_parameters(frozen, trainable_only=False) == 10


def test_fcn_variants_differ_only_in_fusion():
    torch.manual_seed(0)
    a = M.FCN(1, 2, base_channels=4, variant="32s")
    b = M.FCN(1, 2, base_channels=4, variant="8s")
    b.load_state_dict(a.state_dict(), strict=False)
    a.eval(); b.eval()
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(a(x), b(x))


def test_deterministic_forward():
    torch.manual_seed(1)
    net = M.UNet(1, 2, base_channels=4, depth=2).eval()
    x = torch.randn(1, 1, 16, 16)
    with torch.no_grad():
        assert torch.equal(net(x), net(x))


def test_bad_inputs():
    net = M.UNet(1, 2, base_channels=4, depth=2)
    with pytest.raises(ValueError, match="divisible by 4"):
        net(torch.randn(1, 1, 18, 16))
    with pytest.raises(ValueError, match="input channels"):
        net(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="2D batch"):
        net(torch.randn(1, 16, 16))
    with pytest.raises(TypeError, match="tensor"):
        net([[1.0]])
    with pytest.raises(ValueError, match="n_classes"):
        M.UNet(1, 1)
    with pytest.raises(ValueError, match="spatial_dims"):
        M.UNet(1, 2, spatial_dims=4)
    with pytest.raises(ValueError, match="norm"):
        M.UNet(1, 2, norm="group")
    with pytest.raises(ValueError, match="variant"):
        M.FCN(1, 2, variant="4s")
    with pytest.raises(ValueError, match="prune_level"):
        M.UNetPlusPlus(1, 2, base_channels=4, depth=2).eval()(torch.randn(1, 1, 8, 8), prune_level=3)
    with pytest.raises(ValueError, match="kernel_size"):
        M.ConvLSTMCell(2, 2, kernel_size=2)
    with pytest.raises(ValueError, match="bins"):
        M.PyramidPooling(4, bins=())
    with pytest.raises(ValueError, match="input_shape"):
        M.count_flops(net, (16, 16))
    with pytest.raises(TypeError, match="Module"):
        M.count_parameters("unet")
