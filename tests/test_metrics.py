"""Tests for lectures_utils.metrics against MONAI (DiceMetric, HausdorffDistanceMetric) and by hand."""

import warnings

import numpy as np
import pytest
import torch
from monai.metrics import DiceMetric, HausdorffDistanceMetric, compute_hausdorff_distance

from lectures_utils import metrics as M


def _random_masks(rng, shape, p=0.5):
    """Blobby random masks: smoothed noise thresholded, so boundaries are non-trivial."""
    from scipy import ndimage

    a = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) > 0.05
    b = ndimage.gaussian_filter(rng.standard_normal(shape), 1.5) > 0.05
    b = b | (a & (rng.random(shape) < p))
    return a, b


def _monai_onehot(mask):
    m = torch.as_tensor(mask, dtype=torch.float32)[None, None]
    return torch.cat([1 - m, m], dim=1)


@pytest.mark.parametrize("shape,spacing", [((40, 36), (0.7, 1.9)), ((12, 20, 18), (3.0, 0.8, 1.2))])
def test_dice_matches_monai(shape, spacing):
    rng = np.random.default_rng(0)
    for _ in range(3):
        a, b = _random_masks(rng, shape)
        metric = DiceMetric(include_background=False, reduction="none", ignore_empty=False)
        ref = float(metric(_monai_onehot(a), _monai_onehot(b))[0, 0])
        assert abs(M.dice(a, b) - ref) < 1e-6


@pytest.mark.parametrize("shape,spacing", [((40, 36), (0.7, 1.9)), ((12, 20, 18), (3.0, 0.8, 1.2))])
@pytest.mark.parametrize("percentile", [None, 95])
def test_hausdorff_matches_monai(shape, spacing, percentile):
    rng = np.random.default_rng(1)
    for _ in range(3):
        a, b = _random_masks(rng, shape)
        metric = HausdorffDistanceMetric(include_background=False, percentile=percentile, reduction="none")
        ref = float(metric(_monai_onehot(a), _monai_onehot(b), spacing=list(spacing))[0, 0])
        assert abs(M.hausdorff(a, b, spacing, percentile) - ref) < 1e-4 * max(1.0, ref)
    assert M.hd95(a, b, spacing) == M.hausdorff(a, b, spacing, 95)


def test_hausdorff_by_hand():
    a = np.zeros((10, 10), bool)
    b = np.zeros((10, 10), bool)
    a[2, 2] = True
    b[2, 6] = True
    assert M.hausdorff(a, b) == pytest.approx(4.0)
    assert M.hausdorff(a, b, spacing=(1.0, 0.5)) == pytest.approx(2.0)
    b[8, 2] = True  # a second target point 6 rows away
    assert M.hausdorff(a, b, spacing=(2.0, 1.0)) == pytest.approx(12.0)


def test_overlap_metrics_by_hand():
    target = np.zeros((4, 5), bool)
    target[:2] = True  # 10 voxels
    pred = np.zeros((4, 5), bool)
    pred[1:3] = True  # 10 voxels, 5 shared
    assert M.confusion_counts(pred, target) == (5, 5, 5, 5)
    assert M.dice(pred, target) == pytest.approx(0.5)
    assert M.iou(pred, target) == pytest.approx(1 / 3)
    assert M.sensitivity(pred, target) == pytest.approx(0.5)
    assert M.precision(pred, target) == pytest.approx(0.5)
    assert M.over_segmentation(pred, target) == pytest.approx(0.5)
    assert M.under_segmentation(pred, target) == pytest.approx(1 - M.sensitivity(pred, target))
    # Dice and IoU are tied: J = D / (2 - D)
    d = M.dice(pred, target)
    assert M.iou(pred, target) == pytest.approx(d / (2 - d))


def test_empty_mask_conventions():
    empty = np.zeros((8, 8), bool)
    full = np.zeros((8, 8), bool)
    full[2:5, 2:5] = True
    assert M.dice(empty, empty) == 1.0
    assert np.isnan(M.dice(empty, empty, empty_value=np.nan))
    assert M.dice(full, empty) == 0.0 and M.dice(empty, full) == 0.0
    assert M.iou(empty, empty) == 1.0
    assert np.isnan(M.sensitivity(full, empty)) and np.isnan(M.precision(empty, full))
    assert np.isnan(M.over_segmentation(full, empty)) and np.isnan(M.under_segmentation(full, empty))
    assert np.isnan(M.hausdorff(empty, empty))
    assert M.hausdorff(full, empty) == np.inf and M.hausdorff(empty, full, percentile=95) == np.inf


def test_empty_conventions_agree_with_monai():
    empty = np.zeros((8, 8), bool)
    full = np.zeros((8, 8), bool)
    full[2:5, 2:5] = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a, b in [(empty, empty), (full, empty), (empty, full)]:
            ref = float(compute_hausdorff_distance(_monai_onehot(a), _monai_onehot(b))[0, 0])
            mine = M.hausdorff(a, b)
            assert (np.isnan(ref) and np.isnan(mine)) or ref == mine
            # HD95: MONAI gives NaN when exactly one mask is empty (percentile of infinite distances);
            # the book gives inf, like its HD. Both empty: NaN in both.
            ref95 = float(compute_hausdorff_distance(_monai_onehot(a), _monai_onehot(b), percentile=95)[0, 0])
            mine95 = M.hd95(a, b)
            assert np.isnan(ref95)
            assert np.isnan(mine95) if not (a.any() or b.any()) else mine95 == np.inf
            ref_dice = float(DiceMetric(include_background=False, reduction="none", ignore_empty=False)(
                _monai_onehot(a), _monai_onehot(b))[0, 0])
            assert M.dice(a, b) == ref_dice
        # MONAI's default ignore_empty=True: NaN whenever the target is empty, even for a wrong prediction
        assert np.isnan(float(DiceMetric(include_background=False, reduction="none")(
            _monai_onehot(full), _monai_onehot(empty))[0, 0]))


def test_dice_per_class():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 3, (16, 16))
    p = t.copy()
    p[:4] = 0
    per = M.dice_per_class(p, t, 3)
    assert per.shape == (2,)
    assert per[0] == pytest.approx(M.dice(p == 1, t == 1))
    assert M.dice_per_class(t, t, 3, include_background=True).tolist() == [1.0, 1.0, 1.0]


def test_accepts_tensors_and_01():
    rng = np.random.default_rng(4)
    a, b = _random_masks(rng, (20, 20))
    assert M.dice(torch.as_tensor(a), torch.as_tensor(b).int()) == M.dice(a, b)
    assert M.dice(a.astype(np.uint8), b.astype(float)) == M.dice(a, b)


def test_bad_inputs():
    a = np.zeros((8, 8), bool)
    with pytest.raises(ValueError, match="does not match"):
        M.dice(a, np.zeros((8, 9), bool))
    with pytest.raises(ValueError, match="binary"):
        M.dice(a, np.full((8, 8), 2))
    with pytest.raises(ValueError, match="2D"):
        M.dice(np.zeros(8, bool), np.zeros(8, bool))
    with pytest.raises(ValueError, match="empty"):
        M.dice(np.zeros((0, 4), bool), np.zeros((0, 4), bool))
    with pytest.raises(TypeError):
        M.dice([[0, 1]], [[0, 1]])
    with pytest.raises(ValueError, match="spacing"):
        M.hausdorff(a, a, spacing=(1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="spacing"):
        M.hausdorff(a, a, spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="percentile"):
        M.hausdorff(a, a, percentile=101)
    with pytest.raises(ValueError, match="n_classes"):
        M.dice_per_class(np.zeros((4, 4), int), np.zeros((4, 4), int), 1)
    with pytest.raises(ValueError, match="outside"):
        M.dice_per_class(np.full((4, 4), 5), np.zeros((4, 4), int), 3)
    with pytest.raises(TypeError, match="integer"):
        M.dice_per_class(np.zeros((4, 4)), np.zeros((4, 4), int), 3)


def test_deterministic():
    rng = np.random.default_rng(5)
    a, b = _random_masks(rng, (10, 16, 16))
    assert M.hd95(a, b, (2.0, 1.0, 1.0)) == M.hd95(a, b, (2.0, 1.0, 1.0))
