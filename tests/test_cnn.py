"""lectures_utils.cnn against torch.nn.functional, torch.nn layers and MONAI's GradCAM."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lectures_utils.cnn import (conv2d_im2col, conv_output_size, conv_transpose_output_size, count_params_macs,
                                grad_cam, im2col, receptive_field)

torch.set_num_threads(1)


def test_conv_output_size_matches_torch_on_random_configs():
    rng = np.random.default_rng(0)
    checked = 0
    while checked < 150:
        i, k, s, p, d = (int(rng.integers(1, 20)), int(rng.integers(1, 6)), int(rng.integers(1, 4)),
                         int(rng.integers(0, 3)), int(rng.integers(1, 3)))
        if i + 2 * p < d * (k - 1) + 1:
            with pytest.raises(ValueError):
                conv_output_size(i, k, s, p, d)
            continue
        out = F.conv2d(torch.zeros(1, 1, i, 3), torch.zeros(1, 1, k, 1), stride=(s, 1), padding=(p, 0), dilation=(d, 1))
        assert out.shape[2] == conv_output_size(i, k, s, p, d)
        checked += 1


def test_conv_transpose_output_size_matches_torch():
    rng = np.random.default_rng(1)
    for _ in range(100):
        i, k, s, d = int(rng.integers(1, 10)), int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 3))
        p = int(rng.integers(0, (d * (k - 1)) // 2 + 1))
        op = int(rng.integers(0, max(s, d)))
        try:
            expected = F.conv_transpose2d(torch.zeros(1, 1, i, 1), torch.zeros(1, 1, k, 1), stride=(s, 1),
                                          padding=(p, 0), output_padding=(op, 0), dilation=(d, 1)).shape[2]
        except RuntimeError:
            continue
        assert conv_transpose_output_size(i, k, s, p, op, d) == expected


def test_size_formulas_reject_bad_inputs():
    with pytest.raises(TypeError):
        conv_output_size(5.0, 3)
    with pytest.raises(ValueError):
        conv_output_size(5, 0)
    with pytest.raises(ValueError):
        conv_output_size(2, 5)
    with pytest.raises(ValueError):
        conv_transpose_output_size(4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError):
        conv_output_size(5, 3, padding=-1)


def test_receptive_field_against_gradient_support():
    layers = [(3, 1), (3, 2), (3, 1, 2), (2, 2), (5, 1)]
    rf = receptive_field(layers)
    net = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, l[0], stride=l[1], dilation=l[2] if len(l) == 3 else 1, bias=False)
                                for l in layers])
    for m in net:
        torch.nn.init.constant_(m.weight, 1.0)
    x = torch.zeros(1, 1, 64, 64, requires_grad=True)
    out = net(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(1)).flatten()
    assert rf[-1][0] == int(rows.max() - rows.min() + 1)
    assert rf[-1][1] == 4
    with pytest.raises(ValueError):
        receptive_field([])
    with pytest.raises(ValueError):
        receptive_field([(3,)])


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_conv2d_im2col_matches_torch(dtype, tol):
    gen = torch.Generator().manual_seed(0)
    for stride, padding, dilation in [(1, 0, 1), (2, 1, 1), ((1, 2), (2, 0), (2, 1)), (3, 2, 2)]:
        x = torch.randn(2, 3, 17, 14, generator=gen, dtype=dtype)
        w = torch.randn(4, 3, 3, 2, generator=gen, dtype=dtype)
        b = torch.randn(4, generator=gen, dtype=dtype)
        ref = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
        ours = conv2d_im2col(x, w, b, stride=stride, padding=padding, dilation=dilation)
        assert ours.shape == ref.shape
        assert (ours - ref).abs().max() < tol
        cols = im2col(x, (3, 2), stride, padding, dilation)
        assert torch.equal(cols, F.unfold(x, (3, 2), dilation=dilation, padding=padding, stride=stride))


def test_conv2d_im2col_rejects_bad_inputs():
    with pytest.raises(ValueError):
        conv2d_im2col(torch.zeros(1, 2, 5, 5), torch.zeros(1, 3, 3, 3))
    with pytest.raises(ValueError):
        conv2d_im2col(torch.zeros(2, 5, 5), torch.zeros(1, 2, 3, 3))
    with pytest.raises(TypeError):
        im2col(np.zeros((1, 1, 4, 4)), 3)
    with pytest.raises(ValueError):
        conv2d_im2col(torch.zeros(1, 1, 5, 5), torch.zeros(2, 1, 3, 3), bias=torch.zeros(3))


def test_count_params_macs_by_hand():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                              torch.nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.nn.Flatten(),
                              torch.nn.Linear(8 * 8 * 8, 10))
    out = count_params_macs(net, (3, 16, 16))
    assert out["params"] == sum(p.numel() for p in net.parameters())
    expected = 16 * 16 * 8 * 27 + 8 * 8 * 8 * 9 + 512 * 10
    assert out["macs"] == expected
    assert [r["type"] for r in out["layers"]] == ["Conv2d", "Conv2d", "Linear"]
    with pytest.raises(ValueError):
        count_params_macs(net, (3, 16))
    with pytest.raises(TypeError):
        count_params_macs("net", (3, 16, 16))


def _small_classifier():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, 3))


def test_grad_cam_matches_monai():
    from monai.visualize import GradCAM

    model = _small_classifier().eval()
    x = torch.randn(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))
    ours = grad_cam(model, model[3], x, class_idx=1)
    assert all(p.grad is None for p in model.parameters())
    ref = GradCAM(nn_module=model, target_layers="3", upsampler=lambda size: (lambda m: m),
                  postprocessing=lambda m: m)(x, class_idx=1)
    assert ours.shape == (3, 1, 12, 12)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert ours.abs().max() > 0


def test_grad_cam_rejects_bad_inputs():
    model = _small_classifier()
    with pytest.raises(ValueError):
        grad_cam(model, torch.nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError):
        grad_cam(model, model[3], torch.zeros(1, 8, 8))
    with pytest.raises(ValueError):
        grad_cam(model, model[3], torch.zeros(1, 1, 8, 8), class_idx=7)
