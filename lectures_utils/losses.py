"""Segmentation losses: soft Dice and the cross-entropy + soft Dice combination.

Both take raw network outputs ``logits`` (N, C, *spatial) (C >= 2 classes, softmax applied here) and
integer labels ``target`` (N, *spatial) or (N, 1, *spatial) with values in [0, C). The soft Dice of
class c in sample n is

    D_nc = (2 sum_i p_nic y_nic + s) / (sum_i p_nic + sum_i y_nic + s),

with smoothing s (default 1e-5, as MONAI), and the loss is 1 - mean over the kept (n, c). With
``batch=True`` the sums also run over the samples (one Dice per class for the whole batch), which
is closer to the lecture's formula that sums over all pixels. The definitions match
``monai.losses.DiceLoss(softmax=True, to_onehot_y=True, smooth_nr=s, smooth_dr=s)`` and
``monai.losses.DiceCELoss`` (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["soft_dice_loss", "SoftDiceLoss", "DiceCELoss"]


def _check(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(
            f"logits and target must be torch tensors, got {type(logits).__name__} and {type(target).__name__}"
        )
    if logits.ndim < 3:
        raise ValueError(f"logits must have shape (N, C, *spatial), got {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be floating point, got {logits.dtype}")
    if logits.shape[1] < 2:
        raise ValueError(f"logits need C >= 2 class channels (background included), got C = {logits.shape[1]}")
    if target.ndim == logits.ndim and target.shape[1] == 1:
        target = target[:, 0]
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(
            f"target must have shape (N, *spatial) = {tuple(logits.shape[:1] + logits.shape[2:])} "
            f"or (N, 1, *spatial), got {tuple(target.shape)}"
        )
    if target.is_floating_point() or target.dtype == torch.bool:
        raise TypeError(f"target must hold integer class labels, got dtype {target.dtype}")
    if target.numel() and (int(target.min()) < 0 or int(target.max()) >= logits.shape[1]):
        raise ValueError(f"target labels must lie in [0, {logits.shape[1]}), got [{int(target.min())}, {int(target.max())}]")
    return target.long()


def soft_dice_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    include_background: bool = True,
    smooth: float = 1e-5,
    batch: bool = False,
) -> torch.Tensor:
    """Soft Dice loss 1 - mean_c D_c from ``logits`` (N, C, *spatial) and labels (N, *spatial)."""
    target = _check(logits, target)
    n_classes = logits.shape[1]
    probs = torch.softmax(logits.float(), dim=1)
    onehot = F.one_hot(target, n_classes).movedim(-1, 1).to(probs.dtype)
    if not include_background:
        probs, onehot = probs[:, 1:], onehot[:, 1:]
    dims = tuple(range(2, logits.ndim))
    if batch:
        dims = (0,) + dims
    intersection = (probs * onehot).sum(dims)
    denominator = probs.sum(dims) + onehot.sum(dims)
    score = (2.0 * intersection + smooth) / (denominator + smooth)
    return 1.0 - score.mean()


class SoftDiceLoss(nn.Module):
    """``soft_dice_loss`` as a module (see the module docstring for the formula)."""

    def __init__(self, include_background: bool = True, smooth: float = 1e-5, batch: bool = False) -> None:
        super().__init__()
        if smooth < 0:
            raise ValueError(f"smooth must be >= 0, got {smooth}")
        self.include_background, self.smooth, self.batch = include_background, float(smooth), bool(batch)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return soft_dice_loss(logits, target, self.include_background, self.smooth, self.batch)


class DiceCELoss(nn.Module):
    """``weight_ce * cross_entropy + weight_dice * soft_dice`` (MONAI's DiceCELoss; 0.5/0.5 = the average).

    ``class_weights`` (C,) optionally weights the cross-entropy term per class.
    """

    def __init__(
        self,
        weight_ce: float = 1.0,
        weight_dice: float = 1.0,
        include_background: bool = True,
        smooth: float = 1e-5,
        batch: bool = False,
        class_weights: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        if weight_ce < 0 or weight_dice < 0 or weight_ce + weight_dice == 0:
            raise ValueError(f"weights must be >= 0 and not both 0, got ce={weight_ce}, dice={weight_dice}")
        self.weight_ce, self.weight_dice = float(weight_ce), float(weight_dice)
        self.dice = SoftDiceLoss(include_background, smooth, batch)
        self.register_buffer("class_weights", None if class_weights is None else torch.as_tensor(class_weights).float())

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = _check(logits, target)
        ce = F.cross_entropy(logits.float(), target, weight=self.class_weights)
        return self.weight_ce * ce + self.weight_dice * self.dice(logits, target)
