"""Segmentation metrics: overlap (Dice, IoU, sensitivity, precision, over/under-segmentation) and
boundary distances (Hausdorff distance and HD95) for 2D and 3D masks, with voxel spacing in mm.

Every function takes one pair of binary masks of the same shape, ``pred`` (the prediction, R_A)
and ``target`` (the ground truth, R_B): NumPy arrays or torch tensors, bool or {0, 1}, 2D (H, W) or
3D (D, H, W). Spacing is the voxel size in millimetres, one number per array axis, in array-axis
order. For label maps with several classes, ``dice_per_class`` loops over the classes of one case;
``dice_per_case`` computes the same numbers for a whole batch of cases at once, ``(N, n_classes)``.

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

Evaluation beyond one overlap number (Metrics Reloaded, Maier-Hein et al. 2024):

- ``surface_dice``: the normalised surface distance (NSD, surface Dice) at a tolerance in mm, on the
  same boundaries as ``hausdorff``; equals MONAI's ``compute_surface_dice`` with
  ``use_subvoxels=False``. Both empty -> NaN, exactly one empty -> 0.0 (as MONAI).
- ``lesion_detection``: connected components of each mask; a true lesion is detected when a predicted
  component overlaps it (by at least ``min_overlap_voxels`` voxels and, optionally, an IoU above
  ``min_iou``). Counts and precision/recall/F1 per case; sum the counts over cases for pooled values.
- ``bootstrap_ci``: percentile bootstrap interval of a statistic of per-case values (resampling
  cases); for two methods on the same cases pass the per-case differences (paired bootstrap).
  Draws the same resamples as ``scipy.stats.bootstrap(..., method="percentile")`` with the same
  generator.
- ``bland_altman``: bias and 95 % limits of agreement of two paired measurements (e.g. volumes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

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
    "dice_per_case",
    "surface_dice",
    "lesion_detection",
    "bootstrap_ci",
    "bland_altman",
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


def _label_maps(pred_labels, target_labels, n_classes, batch: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Two integer label maps (arrays or tensors) as NumPy arrays, checked: same shape, values in [0, n_classes)."""
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
        if batch and (arr.ndim < 2 or arr.shape[0] == 0):
            raise ValueError(f"{name} must be a batch of label maps (N, ...) with N >= 1, got shape {arr.shape}")
        if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
            raise ValueError(f"{name} has labels outside [0, {n_classes}): min {arr.min()}, max {arr.max()}")
    if pred_labels.shape != target_labels.shape:
        raise ValueError(f"pred_labels shape {pred_labels.shape} does not match target_labels {target_labels.shape}")
    return pred_labels, target_labels


def dice_per_class(pred_labels, target_labels, n_classes: int, include_background: bool = False,
                   empty_value: float = 1.0) -> np.ndarray:
    """Dice of each class of two integer label maps; returns an array (one value per class kept).

    pred_labels, target_labels: integer arrays of the same shape with values in [0, n_classes).
    With ``include_background=False`` class 0 is skipped, so entry k is class k + 1.
    """
    pred_labels, target_labels = _label_maps(pred_labels, target_labels, n_classes)
    start = 0 if include_background else 1
    return np.array([dice(pred_labels == c, target_labels == c, empty_value) for c in range(start, n_classes)])


def dice_per_case(pred_labels, target_labels, n_classes: int, include_background: bool = False,
                  empty_value: float = 1.0) -> np.ndarray:
    """Dice of every class of every case of two batches of label maps, vectorised: ``(N, K)``.

    pred_labels, target_labels: integer arrays or tensors ``(N, ...)`` (N cases of any spatial shape,
    e.g. ``(N, H, W)`` or ``(N, D, H, W)``), values in [0, n_classes). K = n_classes - 1 without the
    background (column k is class k + 1), n_classes with it. Row i equals
    ``dice_per_class(pred_labels[i], target_labels[i], ...)``, with the same empty-mask convention:
    a class absent from both maps of a case gets ``empty_value`` (NaN to leave it out of a nanmean).
    """
    pred_labels, target_labels = _label_maps(pred_labels, target_labels, n_classes, batch=True)
    n = pred_labels.shape[0]
    pred_flat, target_flat = pred_labels.reshape(n, -1), target_labels.reshape(n, -1)
    classes = np.arange(0 if include_background else 1, n_classes)
    # counts per (case, class) from one bincount each: no (N, K, voxels) boolean array
    offsets = np.arange(n)[:, None] * n_classes
    pred_count = np.bincount((pred_flat + offsets).ravel(), minlength=n * n_classes).reshape(n, n_classes)
    target_count = np.bincount((target_flat + offsets).ravel(), minlength=n * n_classes).reshape(n, n_classes)
    agree = pred_flat == target_flat
    overlap = np.bincount((target_flat + offsets)[agree], minlength=n * n_classes).reshape(n, n_classes)
    total = (pred_count + target_count)[:, classes]
    overlap = overlap[:, classes]
    return np.where(total > 0, 2.0 * overlap / np.maximum(total, 1), float(empty_value))


def surface_dice(pred, target, tolerance_mm: float, spacing: Sequence[float] | float | None = None) -> float:
    """Normalised surface distance (NSD, surface Dice) at tolerance ``tolerance_mm``.

    The fraction of boundary voxels of both masks that lie within ``tolerance_mm`` (distance <=
    tolerance, in mm with ``spacing``) of the other mask's boundary:
    ``(#{d_pred <= tau} + #{d_target <= tau}) / (#boundary(pred) + #boundary(target))``.
    pred, target: binary masks (H, W) or (D, H, W); spacing: voxel size in mm per array axis.
    Boundaries as ``mask_boundary``; equals MONAI's ``compute_surface_dice(..., use_subvoxels=False)``
    with ``class_thresholds=[tolerance_mm]``. Both empty -> NaN; exactly one empty -> 0.0.
    """
    if isinstance(tolerance_mm, bool) or not isinstance(tolerance_mm, (int, float, np.integer, np.floating)):
        raise TypeError(f"tolerance_mm must be a number (mm), got {type(tolerance_mm).__name__}")
    if not np.isfinite(tolerance_mm) or tolerance_mm < 0:
        raise ValueError(f"tolerance_mm must be a finite number >= 0 (mm), got {tolerance_mm}")
    d_pred, d_target = surface_distances(pred, target, spacing)
    total = d_pred.size + d_target.size
    if total == 0:
        return float("nan")
    return float((np.count_nonzero(d_pred <= tolerance_mm) + np.count_nonzero(d_target <= tolerance_mm)) / total)


def lesion_detection(pred, target, connectivity: int = 1, min_overlap_voxels: int = 1,
                     min_iou: float = 0.0) -> dict[str, float]:
    """Lesion-wise detection: connected components of ``pred`` matched to those of ``target``.

    pred, target: binary masks (H, W) or (D, H, W). Components are found with
    ``scipy.ndimage.label``; ``connectivity`` 1 joins face neighbours only, up to ``ndim`` joins
    diagonal neighbours too (``ndimage.generate_binary_structure(ndim, connectivity)``).
    A predicted component and a true component match when they share at least
    ``min_overlap_voxels`` voxels and their IoU (as components) is above ``min_iou``. The default
    (any overlap) lets one large prediction detect several true lesions; ``min_iou=0.5`` makes the
    matching one-to-one.

    Returns a dict: ``n_target`` and ``n_pred`` (numbers of components); ``tp`` true lesions
    matched by some prediction; ``fn = n_target - tp``; ``fp`` predicted components matching no
    true lesion; ``recall = tp / n_target`` (NaN if no true lesion); ``precision = (n_pred - fp) /
    n_pred`` (NaN if nothing predicted); ``f1`` their harmonic mean, 0.0 when only one of the two
    masks has lesions, NaN when neither has. For pooled values over cases, sum the counts.
    """
    pred, target = _pair(pred, target)
    for name, value, low in (("connectivity", connectivity, 1), ("min_overlap_voxels", min_overlap_voxels, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if connectivity > pred.ndim:
        raise ValueError(f"connectivity must be in [1, {pred.ndim}] for {pred.ndim}D masks, got {connectivity}")
    if not 0.0 <= float(min_iou) < 1.0:
        raise ValueError(f"min_iou must be in [0, 1), got {min_iou}")
    structure = ndimage.generate_binary_structure(pred.ndim, connectivity)
    lab_pred, n_pred = ndimage.label(pred, structure)
    lab_target, n_target = ndimage.label(target, structure)
    # Overlap table: voxels shared by predicted component i and true component j (0 = background).
    both = pred & target
    overlap = np.zeros((n_pred + 1, n_target + 1), dtype=np.int64)
    np.add.at(overlap, (lab_pred[both], lab_target[both]), 1)
    size_pred = np.bincount(lab_pred.ravel(), minlength=n_pred + 1)
    size_target = np.bincount(lab_target.ravel(), minlength=n_target + 1)
    union = size_pred[:, None] + size_target[None, :] - overlap
    iou_table = np.divide(overlap, union, out=np.zeros(overlap.shape), where=union > 0)
    match = (overlap >= min_overlap_voxels) & (iou_table > min_iou)
    match = match[1:, 1:]
    tp = int(match.any(axis=0).sum())
    fp = int((~match.any(axis=1)).sum())
    recall = tp / n_target if n_target else float("nan")
    prec = (n_pred - fp) / n_pred if n_pred else float("nan")
    if n_target == 0 and n_pred == 0:
        f1 = float("nan")
    elif n_target == 0 or n_pred == 0 or recall + prec == 0:
        f1 = 0.0
    else:
        f1 = 2 * prec * recall / (prec + recall)
    return {"n_target": int(n_target), "n_pred": int(n_pred), "tp": tp, "fp": fp, "fn": int(n_target - tp),
            "precision": float(prec), "recall": float(recall), "f1": float(f1)}


def _values_1d(values, name: str) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1D (one value per case), got shape {arr.shape}")
    if arr.size < 2:
        raise ValueError(f"{name} needs at least 2 cases, got {arr.size}")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf: decide how undefined cases count before averaging")
    return arr


def bootstrap_ci(values, statistic: Callable = np.mean, n_resamples: int = 2000, confidence: float = 0.95,
                 seed: int | np.random.Generator = 0) -> tuple[float, float, float]:
    """Percentile bootstrap interval over cases: ``(estimate, lower, upper)``.

    values: (n_cases,) one finite value per case (a metric, or for a paired comparison of two
    methods on the same cases the per-case differences ``b - a``). ``statistic(x, axis=-1)`` must
    reduce the last axis (``np.mean``, ``np.median``). Cases are resampled with replacement
    ``n_resamples`` times (indices ``rng.integers(0, n, (n_resamples, n))``, as
    ``scipy.stats.bootstrap``), and the interval is the ``(1 -+ confidence) / 2`` percentiles of the
    resampled statistics (linear interpolation). ``estimate`` is the statistic of ``values``.
    """
    arr = _values_1d(values, "values")
    if not callable(statistic):
        raise TypeError(f"statistic must be callable as statistic(x, axis=-1), got {type(statistic).__name__}")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 100:
        raise ValueError(f"n_resamples must be an int >= 100, got {n_resamples!r}")
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    index = rng.integers(0, arr.size, (int(n_resamples), arr.size))
    stats = np.asarray(statistic(arr[index], axis=-1), dtype=np.float64)
    if stats.shape != (int(n_resamples),):
        raise ValueError(f"statistic(x, axis=-1) must return one value per resample, got shape {stats.shape}")
    alpha = (1.0 - float(confidence)) / 2.0
    lower, upper = np.percentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(statistic(arr, axis=-1)), float(lower), float(upper)


def bland_altman(a, b) -> tuple[float, float, float]:
    """Bland-Altman agreement of paired measurements: ``(bias, lower, upper)``.

    a, b: (n_cases,) the same quantity measured two ways (e.g. predicted and true volume in mm^3).
    bias = mean(a - b); limits of agreement = bias -+ 1.96 * SD(a - b) (sample SD, ddof=1).
    """
    a, b = _values_1d(a, "a"), _values_1d(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one value per case each, got {a.size} and {b.size}")
    diff = a - b
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return bias, bias - 1.96 * sd, bias + 1.96 * sd
