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


@pytest.mark.parametrize("shape", [(6, 20, 24), (3, 5, 12, 10)])
@pytest.mark.parametrize("include_background", [False, True])
def test_dice_per_case_matches_dice_per_class_and_monai(shape, include_background):
    rng = np.random.default_rng(11)
    n_classes = 4
    target = rng.integers(0, n_classes, shape)
    pred = np.where(rng.random(shape) < 0.3, rng.integers(0, n_classes, shape), target)
    pred[0][pred[0] == 2] = 0  # case 0: class 2 predicted nowhere
    target[1][target[1] == 3] = 1  # case 1: class 3 absent from the truth, still predicted
    pred[2][pred[2] == 3] = 1  # case 2: class 3 absent from both maps
    target[2][target[2] == 3] = 1
    got = M.dice_per_case(pred, target, n_classes, include_background=include_background)
    loop = np.array([M.dice_per_class(p, t, n_classes, include_background=include_background) for p, t in zip(pred, target)])
    assert got.shape == (shape[0], n_classes - (0 if include_background else 1))
    np.testing.assert_array_equal(got, loop)  # the same formula, so bit-identical
    # MONAI with ignore_empty=False has the same empty-mask convention (1 where both maps lack the class)
    onehot = lambda lab: torch.nn.functional.one_hot(torch.as_tensor(lab), n_classes).movedim(-1, 1).float()  # noqa: E731
    ref = DiceMetric(include_background=include_background, reduction="none", ignore_empty=False)(onehot(pred), onehot(target))
    np.testing.assert_allclose(got, ref.numpy(), atol=1e-6)
    col = 2 if include_background else 1  # class 2
    assert got[0, col] == 0.0 and M.dice_per_case(pred, target, n_classes, empty_value=np.nan)[2, 2] != 1.0
    nan_version = M.dice_per_case(pred, target, n_classes, empty_value=np.nan)
    assert np.isnan(nan_version[2, 2]) and nan_version[1, 2] == 0.0  # absent from both: NaN; predicted only: 0
    torch_version = M.dice_per_case(torch.as_tensor(pred), torch.as_tensor(target), n_classes, include_background)
    np.testing.assert_array_equal(torch_version, got)


def test_dice_per_case_bad_inputs():
    good = np.zeros((2, 4, 4), np.int64)
    with pytest.raises(ValueError, match="does not match"):
        M.dice_per_case(good, good[:, :3], 3)
    with pytest.raises(ValueError, match="batch of label maps"):
        M.dice_per_case(good[0, 0], good[0, 0], 3)
    with pytest.raises(ValueError, match="batch of label maps"):
        M.dice_per_case(good[:0], good[:0], 3)
    with pytest.raises(TypeError, match="integer labels"):
        M.dice_per_case(good.astype(float), good, 3)
    with pytest.raises(ValueError, match=r"outside \[0, 3\)"):
        M.dice_per_case(good + 3, good, 3)
    with pytest.raises(ValueError, match="outside"):
        M.dice_per_case(good - 1, good, 3)
    with pytest.raises(ValueError, match="n_classes"):
        M.dice_per_case(good, good, 1)


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


# --- Metrics Reloaded additions: NSD, lesion-wise detection, bootstrap CI, Bland-Altman ----------


@pytest.mark.parametrize("shape,spacing", [((40, 36), (0.7, 1.9)), ((12, 20, 18), (3.0, 0.8, 1.2))])
@pytest.mark.parametrize("tolerance", [0.0, 1.0, 2.5])
def test_surface_dice_matches_monai(shape, spacing, tolerance):
    from monai.metrics import compute_surface_dice

    rng = np.random.default_rng(3)
    for _ in range(3):
        a, b = _random_masks(rng, shape)
        # MONAI: one-hot (B, C, ...), thresholds for the classes kept (background dropped), in the units of
        # spacing (mm); use_subvoxels=False counts boundary voxels, as the book does.
        ref = compute_surface_dice(_monai_onehot(a), _monai_onehot(b), class_thresholds=[tolerance],
                                   include_background=False, spacing=list(spacing), use_subvoxels=False)
        assert abs(M.surface_dice(a, b, tolerance, spacing) - float(ref[0, 0])) < 1e-6


def test_surface_dice_by_hand_and_empty():
    from monai.metrics import compute_surface_dice

    a = np.zeros((12, 12), bool)
    b = np.zeros((12, 12), bool)
    a[2:5, 2:5] = True  # boundary: 8 pixels (the centre is interior)
    b[2:5, 4:7] = True  # shifted by 2 columns
    # a's column 2 (3 pixels) is 2 px from b's boundary, the others 0 or 1 px; the same for b's column 6
    assert M.surface_dice(a, b, 1.0) == pytest.approx((5 + 5) / 16)
    assert M.surface_dice(a, b, 2.0) == pytest.approx(1.0)
    assert M.surface_dice(a, b, 1.0, spacing=(1.0, 0.5)) == pytest.approx(1.0)
    empty = np.zeros((12, 12), bool)
    assert np.isnan(M.surface_dice(empty, empty, 1.0))
    assert M.surface_dice(a, empty, 1.0) == 0.0 and M.surface_dice(empty, b, 5.0) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for p, t in ((empty, empty), (a, empty), (empty, b)):
            ref = float(compute_surface_dice(_monai_onehot(p), _monai_onehot(t), [1.0])[0, 0])
            ours = M.surface_dice(p, t, 1.0)
            assert (np.isnan(ref) and np.isnan(ours)) or ref == ours


def _lesion_detection_reference(pred, target, connectivity, min_overlap, min_iou):
    """Brute force: scikit-image components, one pair at a time."""
    from skimage.measure import label

    lp, lt = label(pred, connectivity=connectivity), label(target, connectivity=connectivity)
    n_pred, n_target = int(lp.max()), int(lt.max())
    matched_t, matched_p = set(), set()
    for i in range(1, n_pred + 1):
        for j in range(1, n_target + 1):
            inter = int(np.sum((lp == i) & (lt == j)))
            union = int(np.sum((lp == i) | (lt == j)))
            if inter >= min_overlap and inter / union > min_iou:
                matched_t.add(j)
                matched_p.add(i)
    return n_pred, n_target, len(matched_t), n_pred - len(matched_p)


@pytest.mark.parametrize("shape", [(40, 36), (10, 16, 14)])
@pytest.mark.parametrize("connectivity", [1, 2])
@pytest.mark.parametrize("min_overlap,min_iou", [(1, 0.0), (3, 0.0), (1, 0.5)])
def test_lesion_detection_matches_brute_force(shape, connectivity, min_overlap, min_iou):
    from scipy import ndimage

    rng = np.random.default_rng(4)
    for _ in range(3):
        a = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0) > 0.5
        b = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0) > 0.5
        b = b | (a & (rng.random(shape) < 0.5))
        out = M.lesion_detection(a, b, connectivity=connectivity, min_overlap_voxels=min_overlap, min_iou=min_iou)
        n_pred, n_target, tp, fp = _lesion_detection_reference(a, b, connectivity, min_overlap, min_iou)
        assert n_pred > 2 and n_target > 2
        assert (out["n_pred"], out["n_target"], out["tp"], out["fp"]) == (n_pred, n_target, tp, fp)
        assert out["fn"] == n_target - tp
        assert out["recall"] == pytest.approx(tp / n_target)
        assert out["precision"] == pytest.approx((n_pred - fp) / n_pred)
        p, r = out["precision"], out["recall"]
        assert out["f1"] == pytest.approx(0.0 if p + r == 0 else 2 * p * r / (p + r))


def test_lesion_detection_by_hand():
    target = np.zeros((20, 20), bool)
    target[2:4, 2:4] = True  # lesion 1
    target[2:4, 6:8] = True  # lesion 2
    target[15:17, 15:17] = True  # lesion 3, missed
    pred = np.zeros((20, 20), bool)
    pred[2:4, 3:7] = True  # one prediction bridging lesions 1 and 2
    pred[10, 10] = True  # a false positive
    out = M.lesion_detection(pred, target)
    assert (out["tp"], out["fp"], out["fn"], out["n_pred"], out["n_target"]) == (2, 1, 1, 2, 3)
    assert out["recall"] == pytest.approx(2 / 3) and out["precision"] == pytest.approx(1 / 2)
    assert out["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    strict = M.lesion_detection(pred, target, min_iou=0.5)  # the bridge has IoU 2/10 with each lesion
    assert (strict["tp"], strict["fp"]) == (0, 2)
    diagonal = np.zeros((5, 5), bool)
    diagonal[1, 1] = diagonal[2, 2] = True
    assert M.lesion_detection(diagonal, diagonal)["n_target"] == 2
    assert M.lesion_detection(diagonal, diagonal, connectivity=2)["n_target"] == 1
    empty = np.zeros((20, 20), bool)
    both_empty = M.lesion_detection(empty, empty)
    assert np.isnan(both_empty["f1"]) and np.isnan(both_empty["recall"]) and np.isnan(both_empty["precision"])
    only_pred = M.lesion_detection(pred, empty)
    assert only_pred["fp"] == 2 and only_pred["precision"] == 0.0 and only_pred["f1"] == 0.0
    missed = M.lesion_detection(empty, target)
    assert missed["fn"] == 3 and missed["recall"] == 0.0 and missed["f1"] == 0.0


@pytest.mark.parametrize("statistic", [np.mean, np.median])
def test_bootstrap_ci_matches_scipy(statistic):
    from scipy import stats

    values = np.random.default_rng(5).gamma(2.0, 1.0, size=30)
    est, lo, hi = M.bootstrap_ci(values, statistic, n_resamples=3000, confidence=0.9, seed=11)
    ref = stats.bootstrap((values,), statistic, n_resamples=3000, confidence_level=0.9, method="percentile",
                          rng=np.random.default_rng(11), vectorized=True)
    # the same generator draws the same resamples, so the intervals agree to rounding
    assert lo == pytest.approx(ref.confidence_interval.low, abs=1e-12)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=1e-12)
    assert est == pytest.approx(statistic(values))
    if statistic is not np.mean:  # the median of 30 values jumps between data points: skip the Monte Carlo check
        return
    # another generator: a different Monte Carlo draw of the same interval
    other = stats.bootstrap((values,), statistic, n_resamples=3000, confidence_level=0.9, method="percentile",
                            rng=np.random.default_rng(12), vectorized=True)
    width = hi - lo
    assert abs(other.confidence_interval.low - lo) < 0.1 * width
    assert abs(other.confidence_interval.high - hi) < 0.1 * width


def test_bootstrap_ci_paired_and_deterministic():
    rng = np.random.default_rng(6)
    a = rng.normal(0.8, 0.1, 40)
    b = a + rng.normal(0.02, 0.01, 40)  # B better on every case by a little; cases vary a lot
    est, lo, hi = M.bootstrap_ci(b - a, seed=0)
    assert est == pytest.approx(np.mean(b - a)) and 0 < lo < est < hi
    # unpaired intervals of the two means overlap although the paired difference is clearly positive
    _, lo_a, hi_a = M.bootstrap_ci(a, seed=0)
    _, lo_b, hi_b = M.bootstrap_ci(b, seed=0)
    assert lo_b < hi_a
    assert M.bootstrap_ci(a, seed=3) == M.bootstrap_ci(a, seed=3)
    assert M.bootstrap_ci(a, seed=3) != M.bootstrap_ci(a, seed=4)
    assert M.bootstrap_ci(torch.as_tensor(a), seed=3) == M.bootstrap_ci(a, seed=3)


def test_bland_altman_by_hand():
    a = np.array([10.0, 12.0, 9.0, 15.0, 11.0])
    b = np.array([9.0, 12.5, 7.0, 14.0, 10.0])
    diff = [1.0, -0.5, 2.0, 1.0, 1.0]  # mean 0.9; squared deviations 0.01 + 1.96 + 1.21 + 0.01 + 0.01 = 3.2
    sd = np.sqrt(3.2 / 4)
    bias, lower, upper = M.bland_altman(a, b)
    assert bias == pytest.approx(np.mean(diff)) and bias == pytest.approx(0.9)
    assert lower == pytest.approx(0.9 - 1.96 * sd) and upper == pytest.approx(0.9 + 1.96 * sd)
    bias_r, lower_r, upper_r = M.bland_altman(b, a)
    assert bias_r == pytest.approx(-bias) and lower_r == pytest.approx(-upper)


def test_reloaded_bad_inputs():
    a = np.zeros((8, 8), bool)
    a[2:4, 2:4] = True
    with pytest.raises(ValueError, match="tolerance_mm must be a finite number >= 0"):
        M.surface_dice(a, a, -1.0)
    with pytest.raises(ValueError, match="tolerance_mm must be a finite number >= 0"):
        M.surface_dice(a, a, float("inf"))
    with pytest.raises(TypeError, match="tolerance_mm must be a number"):
        M.surface_dice(a, a, "2mm")
    with pytest.raises(ValueError, match="does not match target shape"):
        M.surface_dice(a, a[:4], 1.0)
    with pytest.raises(ValueError, match="connectivity must be in"):
        M.lesion_detection(a, a, connectivity=3)
    with pytest.raises(ValueError, match="min_overlap_voxels must be >= 1"):
        M.lesion_detection(a, a, min_overlap_voxels=0)
    with pytest.raises(TypeError, match="connectivity must be an int"):
        M.lesion_detection(a, a, connectivity=1.5)
    with pytest.raises(ValueError, match=r"min_iou must be in \[0, 1\)"):
        M.lesion_detection(a, a, min_iou=1.0)
    with pytest.raises(ValueError, match="must be binary"):
        M.lesion_detection(a * 2, a)
    with pytest.raises(ValueError, match="contains NaN or inf"):
        M.bootstrap_ci([0.5, np.nan, 0.7])
    with pytest.raises(ValueError, match="must be 1D"):
        M.bootstrap_ci(np.ones((3, 4)))
    with pytest.raises(ValueError, match="at least 2 cases"):
        M.bootstrap_ci([0.5])
    with pytest.raises(TypeError, match="must hold numbers"):
        M.bootstrap_ci(["a", "b"])
    with pytest.raises(ValueError, match="confidence must be in"):
        M.bootstrap_ci([0.1, 0.2, 0.3], confidence=95)
    with pytest.raises(ValueError, match="n_resamples must be an int >= 100"):
        M.bootstrap_ci([0.1, 0.2, 0.3], n_resamples=10)
    with pytest.raises(TypeError, match="statistic must be callable"):
        M.bootstrap_ci([0.1, 0.2, 0.3], statistic="mean")
    with pytest.raises(ValueError, match="one value per resample"):
        M.bootstrap_ci([0.1, 0.2, 0.3], statistic=lambda x, axis: x)
    with pytest.raises(ValueError, match="one value per case each"):
        M.bland_altman([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="contains NaN or inf"):
        M.bland_altman([1.0, np.inf], [1.0, 2.0])
