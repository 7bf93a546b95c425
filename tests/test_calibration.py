"""lectures_utils.calibration against MONAI's calibration metric, scikit-learn's calibration_curve and
a temperature that is known by construction."""

import numpy as np
import pytest
import torch
from monai.metrics import CalibrationErrorMetric
from monai.metrics.calibration import calibration_binning
from sklearn.calibration import calibration_curve

from lectures_utils.calibration import expected_calibration_error, fit_temperature, reliability_bins, softmax_np


def _segmentation_like(seed=0, n=3, c=4, size=(16, 16), sharpness=3.0):
    rng = np.random.default_rng(seed)
    logits = sharpness * rng.normal(size=(n, c) + size)
    probs = softmax_np(logits)
    # labels drawn from a different (flatter) distribution: the probabilities are over-confident
    flat = softmax_np(logits / 2.5).transpose(0, 2, 3, 1).reshape(-1, c)
    labels = np.array([rng.choice(c, p=p) for p in flat]).reshape((n,) + size)
    return logits, probs, labels


def test_reliability_bins_equal_monai_binning():
    rng = np.random.default_rng(1)
    conf = rng.uniform(size=(1, 1, 500))
    hit = rng.uniform(size=conf.shape) < conf ** 2
    mean_p, mean_gt, counts = calibration_binning(torch.tensor(conf, dtype=torch.float32),
                                                  torch.tensor(hit, dtype=torch.float32), num_bins=10)
    ours = reliability_bins(conf, hit, n_bins=10)
    np.testing.assert_allclose(ours[2], counts[0, 0].numpy())
    np.testing.assert_allclose(ours[0], mean_p[0, 0].numpy(), rtol=1e-5, equal_nan=True)
    np.testing.assert_allclose(ours[1], mean_gt[0, 0].numpy(), rtol=1e-5, equal_nan=True)


def test_reliability_bins_equal_sklearn_calibration_curve():
    rng = np.random.default_rng(2)
    conf = rng.uniform(size=2000)
    hit = rng.uniform(size=conf.size) < conf
    prob_true, prob_pred = calibration_curve(hit, conf, n_bins=8, strategy="uniform")
    mean_conf, accuracy, counts = reliability_bins(conf, hit, n_bins=8)
    filled = counts > 0
    np.testing.assert_allclose(accuracy[filled], prob_true, rtol=1e-12)
    np.testing.assert_allclose(mean_conf[filled], prob_pred, rtol=1e-12)


def test_empty_bins_are_nan_and_one_goes_to_the_last_bin():
    mean_conf, accuracy, counts = reliability_bins(np.array([0.05, 1.0, 1.0]), np.array([0, 1, 0]), n_bins=4)
    assert counts.tolist() == [1, 0, 0, 2]
    assert np.isnan(mean_conf[1]) and np.isnan(accuracy[2])
    assert accuracy[3] == 0.5 and mean_conf[3] == 1.0


def test_classwise_ece_equals_monai_expected_calibration_error():
    _, probs, labels = _segmentation_like()
    c = probs.shape[1]
    onehot = np.eye(c)[labels].transpose(0, 3, 1, 2)
    # MONAI bins per image; pool all pixels into one "image" so that both compute the same quantity
    p_all = torch.tensor(probs.transpose(1, 0, 2, 3).reshape(1, c, -1, probs.shape[-1]), dtype=torch.float32)
    y_all = torch.tensor(onehot.transpose(1, 0, 2, 3).reshape(1, c, -1, probs.shape[-1]), dtype=torch.float32)
    metric = CalibrationErrorMetric(num_bins=15, include_background=True, calibration_reduction="expected",
                                    metric_reduction="mean")
    metric(y_pred=p_all, y=y_all)
    monai_ece = float(metric.aggregate())
    ours = expected_calibration_error(probs, labels, n_bins=15, mode="classwise")
    assert ours == pytest.approx(monai_ece, abs=1e-5)
    assert ours > 0.02  # the construction makes them over-confident


def test_top_label_ece_by_hand_and_perfect_calibration():
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    labels = np.array([0, 1, 0, 1])
    # bins of width 0.25: [0.5, 0.75) holds 0.6 and 0.7 (confidence 0.65, both right);
    # [0.75, 1] holds 0.9 and 0.9 (confidence 0.9, one right)
    expected = 0.5 * abs(1 - 0.65) + 0.5 * abs(0.5 - 0.9)
    assert expected_calibration_error(probs, labels, n_bins=4) == pytest.approx(expected)
    # one bin of width 1: confidence 0.775, accuracy 0.75
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.025)
    # labels drawn from the probabilities themselves: ECE only sampling noise
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(3), size=200_000)
    y = (rng.uniform(size=(len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1)
    assert expected_calibration_error(p, y) < 0.005


def test_fit_temperature_recovers_a_known_temperature():
    rng = np.random.default_rng(4)
    true_logits = rng.normal(scale=2.0, size=(40, 5, 8, 8))
    p = softmax_np(true_logits).transpose(0, 2, 3, 1).reshape(-1, 5)
    labels = (rng.uniform(size=(len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1).reshape(40, 8, 8)
    t = fit_temperature(3.0 * true_logits, labels)  # logits three times too sharp
    assert t == pytest.approx(3.0, rel=0.05)
    # the optimum beats every temperature on a grid (an independent search)
    logits = torch.tensor(3.0 * true_logits)
    target = torch.tensor(labels)
    grid = np.linspace(1.5, 4.5, 61)
    nll = [float(torch.nn.functional.cross_entropy(logits / g, target)) for g in grid]
    assert float(torch.nn.functional.cross_entropy(logits / t, target)) <= min(nll) + 1e-9
    # scaling keeps the arg-max, so accuracy and Dice do not change
    assert np.array_equal(softmax_np(3.0 * true_logits, t).argmax(1), true_logits.argmax(1))


def test_temperature_scaling_lowers_ece_of_overconfident_probabilities():
    logits, probs, labels = _segmentation_like(seed=5, n=20)
    t = fit_temperature(logits, labels)
    assert t > 1.5
    assert expected_calibration_error(softmax_np(logits, t), labels) < 0.5 * expected_calibration_error(probs, labels)


@pytest.mark.parametrize("call, message", [
    (lambda: reliability_bins([0.2, 1.5], [1, 0]), "in \\[0, 1\\]"),
    (lambda: reliability_bins([0.2, 0.5], [1, 2]), "bool or"),
    (lambda: reliability_bins([0.2, 0.5], [1, 0, 1]), "same shape"),
    (lambda: reliability_bins([0.2], [1], n_bins=0), "n_bins"),
    (lambda: expected_calibration_error(np.full((2, 3), 0.5), np.array([0, 1])), "sum to 1"),
    (lambda: expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 2])), "lie in"),
    (lambda: expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 1, 1])), "labels must have shape"),
    (lambda: expected_calibration_error(np.full((2, 2), 0.5), np.array([0, 1]), mode="max"), "mode"),
    (lambda: fit_temperature(0.5 * np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 0])), "search bound"),
    (lambda: fit_temperature(np.zeros((4, 3)), np.array([0.0, 1, 2, 0])), "integer"),
    (lambda: softmax_np(np.zeros((2, 2)), temperature=0), "positive"),
])
def test_bad_inputs_are_refused_with_a_clear_message(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


def test_float_labels_are_refused():
    with pytest.raises(TypeError, match="integer"):
        expected_calibration_error(np.full((2, 2), 0.5), np.array([0.0, 1.0]))
