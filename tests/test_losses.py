"""Tests for lectures_utils.losses against monai.losses.DiceLoss and DiceCELoss."""

import pytest
import torch
import torch.nn.functional as F
from monai.losses import DiceCELoss as MonaiDiceCE
from monai.losses import DiceLoss as MonaiDice

from lectures_utils import losses as L


def _batch(seed, shape=(3, 4, 10, 12)):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(shape, generator=g)
    target = torch.randint(0, shape[1], (shape[0], *shape[2:]), generator=g)
    return logits, target


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("shape", [(3, 4, 10, 12), (2, 3, 5, 6, 7)])
def test_soft_dice_matches_monai(include_background, batch, shape):
    logits, target = _batch(0, shape)
    ref = MonaiDice(include_background=include_background, to_onehot_y=True, softmax=True, batch=batch)(
        logits, target[:, None])
    mine = L.soft_dice_loss(logits, target, include_background=include_background, batch=batch)
    assert torch.allclose(mine, ref, atol=1e-6), (mine, ref)
    assert torch.allclose(L.SoftDiceLoss(include_background, batch=batch)(logits, target[:, None]), ref, atol=1e-6)


@pytest.mark.parametrize("weights", [(1.0, 1.0), (0.5, 0.5), (1.0, 0.0)])
def test_dice_ce_matches_monai(weights):
    logits, target = _batch(1)
    ref = MonaiDiceCE(to_onehot_y=True, softmax=True, lambda_ce=weights[0], lambda_dice=weights[1])(logits, target[:, None])
    mine = L.DiceCELoss(weight_ce=weights[0], weight_dice=weights[1])(logits, target)
    assert torch.allclose(mine, ref, atol=1e-6), (mine, ref)
    if weights == (1.0, 0.0):
        assert torch.allclose(mine, F.cross_entropy(logits, target), atol=1e-6)


def test_gradients_match_monai():
    logits, target = _batch(2)
    a = logits.clone().requires_grad_(True)
    b = logits.clone().requires_grad_(True)
    L.DiceCELoss()(a, target).backward()
    MonaiDiceCE(to_onehot_y=True, softmax=True)(b, target[:, None]).backward()
    assert torch.allclose(a.grad, b.grad, atol=1e-6)


def test_perfect_prediction_gives_zero_dice_loss():
    _, target = _batch(3)
    logits = 50.0 * F.one_hot(target, 4).movedim(-1, 1).float()
    assert float(L.soft_dice_loss(logits, target)) < 1e-6


def test_class_weights_change_ce():
    logits, target = _batch(4)
    w = torch.tensor([0.1, 1.0, 1.0, 5.0])
    mine = L.DiceCELoss(weight_dice=0.0, class_weights=w)(logits, target)
    assert torch.allclose(mine, F.cross_entropy(logits, target, weight=w), atol=1e-6)


def test_bad_inputs():
    logits, target = _batch(5)
    with pytest.raises(ValueError, match="shape"):
        L.soft_dice_loss(logits, target[:, :5])
    with pytest.raises(TypeError, match="integer"):
        L.soft_dice_loss(logits, target.float())
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        L.soft_dice_loss(logits, target + 4)
    with pytest.raises(ValueError, match="C >= 2"):
        L.soft_dice_loss(logits[:, :1], torch.zeros_like(target))
    with pytest.raises(TypeError, match="torch tensors"):
        L.soft_dice_loss(logits.numpy(), target)
    with pytest.raises(ValueError, match="weights"):
        L.DiceCELoss(weight_ce=0.0, weight_dice=0.0)
    with pytest.raises(ValueError, match="smooth"):
        L.SoftDiceLoss(smooth=-1.0)


def test_deterministic():
    logits, target = _batch(6)
    assert L.soft_dice_loss(logits, target) == L.soft_dice_loss(logits, target)
