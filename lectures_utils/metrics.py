"""Segmentation metrics: overlap (Dice, IoU, sensitivity, precision, over/under-segmentation) and
boundary distances (Hausdorff distance and HD95) for 2D and 3D masks, with voxel spacing in mm.

Every function takes one pair of binary masks of the same shape, ``pred`` (the prediction, R_A)
and ``target`` (the ground truth, R_B): NumPy arrays or torch tensors, bool or {0, 1}, 2D (H, W) or
3D (D, H, W). Spacing is the voxel size in millimetres, one number per array axis, in array-axis
order. For label maps with several classes, ``dice_per_class`` loops over the classes.

Conventions for empty masks (documented, tested, and stated where they differ from MONAI):

- ``dice`` / ``iou``: both masks empty -> ``empty_value`` (default 1.0: the prediction agrees with a
  truth that has nothing to find). Target empty but prediction not -> 0.0. MONAI's ``DiceMetric``
  gives the same with ``ignore_empty=False``; its default ``ignore_empty=True`` returns NaN whenever
  the target is empty.
- ``sensitivity``: target empty -> NaN (no true positives can be found). ``precision``: prediction
  empty -> NaN. ``over_segmentation`` / ``under_segmentation``: target empty -> NaN.
- ``hausdorff`` (and ``hd95``): both empty -> NaN; exactly one empty -> ``inf``, for every
  ``percentile``. MONAI 1.6's ``compute_hausdorff_distance`` agrees for the plain Hausdorff distance
  (``percentile=None``: inf) but not for HD95: with exactly one mask empty, ``percentile=95``
  interpolates between infinite distances and returns NaN, which a later ``nanmean`` silently drops.
  Here a missed or invented structure is the worst boundary error, so HD95 is ``inf`` as well.

The Hausdorff distance follows MONAI exactly: the boundary of a mask is the set of foreground
voxels that a binary erosion (cross-shaped structuring element, voxels outside the array count as
background) removes; for every boundary voxel of one mask the Euclidean distance (with spacing) to
the nearest boundary voxel of the other is taken; ``percentile=p`` takes the p-th percentile
(linear interpolation, as ``numpy.percentile``) of each directed set, and the result is the larger
of the two directed values. HD95 is ``hausdorff(..., percentile=95)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

__all__ = [
    "confusion_counts",
    "dice",
    "iou",
    "sensitivity",
    "precision",
    "over_segmentation",
    "under_segmentation",
    "mask_boundary",
    "surface_distances",
    "hausdorff",
    "hd95",
    "dice_per_class",
]


def _as_mask(mask, name: str) -> np.ndarray:
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array or torch tensor, got {type(mask).__name__}")
    if mask.size == 0:
        raise ValueError(f"{name} is empty (shape {mask.shape}): expected a 2D or 3D mask")
    if mask.ndim not in (2, 3):
        raise ValueError(f"{name} must be 2D (H, W) or 3D (D, H, W), got shape {mask.shape}")
    if mask.dtype == bool:
        return mask
    if not np.issubdtype(mask.dtype, np.number):
        raise TypeError(f"{name} must be bool or numeric {{0, 1}}, got dtype {mask.dtype}")
    values = np.unique(mask)
    if not np.all(np.isin(values, (0, 1))):
        raise ValueError(
            f"{name} must be binary (bool or values in {{0, 1}}), got values {values[:5].tolist()}"
            + ("..." if values.size > 5 else "")
        )
    return mask.astype(bool)


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    pred = _as_mask(pred, "pred")
    target = _as_mask(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred shape {pred.shape} does not match target shape {target.shape}")
    return pred, target


def _spacing(spacing, ndim: int) -> np.ndarray:
    if spacing is None:
        return np.ones(ndim)
    if np.isscalar(spacing):
        spacing = (float(spacing),) * ndim
    spacing = np.asarray(spacing, dtype=np.float64)
    if spacing.shape != (ndim,):
        raise ValueError(f"spacing must give one size in mm per array axis ({ndim}), got {spacing.tolist()}")
    if not np.all(np.isfinite(spacing)) or np.any(spacing <= 0):
        raise ValueError(f"spacing must be positive finite numbers (mm), got {spacing.tolist()}")
    return spacing


def confusion_counts(pred, target) -> tuple[int, int, int, int]:
    """Return ``(tp, fp, fn, tn)`` voxel counts of a binary ``pred`` against ``target``."""
    pred, target = _pair(pred, target)
    tp = int(np.count_nonzero(pred & target))
    fp = int(np.count_nonzero(pred & ~target))
    fn = int(np.count_nonzero(~pred & target))
    tn = int(pred.size - tp - fp - fn)
    return tp, fp, fn, tn


def dice(pred, target, empty_value: float = 1.0) -> float:
    """Dice similarity coefficient 2|A n B| / (|A| + |B|); ``empty_value`` when both are empty."""
    tp, fp, fn, _ = confusion_counts(pred, target)
    denom = 2 * tp + fp + fn
    return float(empty_value) if denom == 0 else 2.0 * tp / denom


def iou(pred, target, empty_value: float = 1.0) -> float:
    """Intersection over union (Jaccard index) |A n B| / |A u B|; ``empty_value`` when both are empty."""
    tp, fp, fn, _ = confusion_counts(pred, target)
    denom = tp + fp + fn
    return float(empty_value) if denom == 0 else tp / denom


def sensitivity(pred, target) -> float:
    """Sensitivity (recall) |A n B| / |B|; NaN when the target is empty."""
    tp, _, fn, _ = confusion_counts(pred, target)
    return float("nan") if tp + fn == 0 else tp / (tp + fn)


def precision(pred, target) -> float:
    """Precision |A n B| / |A|; NaN when the prediction is empty."""
    tp, fp, _, _ = confusion_counts(pred, target)
    return float("nan") if tp + fp == 0 else tp / (tp + fp)


def over_segmentation(pred, target) -> float:
    """Volume wrongly added, relative to the truth: |A \\ B| / |B| (FP / |B|); NaN if the target is empty."""
    tp, fp, fn, _ = confusion_counts(pred, target)
    return float("nan") if tp + fn == 0 else fp / (tp + fn)


def under_segmentation(pred, target) -> float:
    """Volume of the truth that was missed, relative to it: |B \\ A| / |B| = 1 - sensitivity."""
    tp, _, fn, _ = confusion_counts(pred, target)
    return float("nan") if tp + fn == 0 else fn / (tp + fn)


def mask_boundary(mask) -> np.ndarray:
    """Boundary voxels of a binary mask: ``mask & ~erode(mask)`` (cross-shaped element, outside = 0)."""
    mask = _as_mask(mask, "mask")
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def surface_distances(pred, target, spacing: Sequence[float] | float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Directed boundary distances in mm: (pred boundary -> target boundary, target -> pred).

    Returns two 1D float64 arrays with one distance per boundary voxel of ``pred`` and of ``target``.
    Both masks empty: two empty arrays. Exactly one empty: the non-empty side's distances are ``inf``
    and the other array is empty.
    """
    pred, target = _pair(pred, target)
    scale = _spacing(spacing, pred.ndim)
    edge_pred, edge_target = mask_boundary(pred), mask_boundary(target)
    pts_pred = np.argwhere(edge_pred) * scale
    pts_target = np.argwhere(edge_target) * scale
    if len(pts_pred) == 0 or len(pts_target) == 0:
        return np.full(len(pts_pred), np.inf), np.full(len(pts_target), np.inf)
    d_pred = cKDTree(pts_target).query(pts_pred, k=1)[0]
    d_target = cKDTree(pts_pred).query(pts_target, k=1)[0]
    return d_pred, d_target


def hausdorff(pred, target, spacing: Sequence[float] | float | None = None, percentile: float | None = None) -> float:
    """Hausdorff distance in mm (``percentile=None``) or its percentile version (MONAI's definition).

    pred, target: binary masks (H, W) or (D, H, W); spacing: voxel size in mm per array axis.
    Both empty -> NaN; exactly one empty -> inf.
    """
    if percentile is not None and not 0 <= float(percentile) <= 100:
        raise ValueError(f"percentile must be in [0, 100] or None, got {percentile}")
    d_pred, d_target = surface_distances(pred, target, spacing)
    if d_pred.size == 0 and d_target.size == 0:
        return float("nan")
    if np.isinf(d_pred).any() or np.isinf(d_target).any():
        return float("inf")
    if percentile is None:
        return float(max(d_pred.max(), d_target.max()))
    return float(max(np.percentile(d_pred, percentile), np.percentile(d_target, percentile)))


def hd95(pred, target, spacing: Sequence[float] | float | None = None) -> float:
    """HD95 in mm: the larger of the two directed 95th percentiles of boundary distances (as MONAI)."""
    return hausdorff(pred, target, spacing=spacing, percentile=95)


def dice_per_class(pred_labels, target_labels, n_classes: int, include_background: bool = False,
                   empty_value: float = 1.0) -> np.ndarray:
    """Dice of each class of two integer label maps; returns an array (one value per class kept).

    pred_labels, target_labels: integer arrays of the same shape with values in [0, n_classes).
    With ``include_background=False`` class 0 is skipped, so entry k is class k + 1.
    """
    if hasattr(pred_labels, "detach"):
        pred_labels = pred_labels.detach().cpu().numpy()
    if hasattr(target_labels, "detach"):
        target_labels = target_labels.detach().cpu().numpy()
    pred_labels, target_labels = np.asarray(pred_labels), np.asarray(target_labels)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 2:
        raise ValueError(f"n_classes must be an int >= 2, got {n_classes!r}")
    for name, arr in (("pred_labels", pred_labels), ("target_labels", target_labels)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name} must hold integer labels, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} has labels outside [0, {n_classes}): min {arr.min()}, max {arr.max()}")
    if pred_labels.shape != target_labels.shape:
        raise ValueError(f"pred_labels shape {pred_labels.shape} does not match target_labels {target_labels.shape}")
    start = 0 if include_background else 1
    return np.array([dice(pred_labels == c, target_labels == c, empty_value) for c in range(start, n_classes)])
