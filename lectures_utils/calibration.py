"""Calibration of predicted class probabilities (chapter 6.4): do the probabilities mean what they say?

A classifier (or a segmentation network, pixel by pixel) is calibrated when, among all predictions
made with confidence p, a fraction p is correct. The functions here work on class probabilities
``probs`` of shape (N, C, ...) (classes on axis 1, any number of spatial axes after it, e.g. the
softmax of a U-Net's logits, (N, C, H, W)) and integer labels of shape (N, ...), or on flat
confidence/correctness pairs. NumPy arrays or torch tensors.

- ``reliability_bins``: equal-width bins of the confidence in [0, 1] (left-closed, the last bin also
  holds 1.0), and per bin the mean confidence, the observed accuracy and the count: the points of a
  reliability diagram. Empty bins give NaN. The binning equals MONAI's ``calibration_binning``.
- ``expected_calibration_error``: ECE = sum over bins of (count / total) * |accuracy - confidence|.
  ``mode="top-label"`` (Guo et al. 2017): confidence = the largest class probability, correct = the
  arg-max is the true class. ``mode="classwise"``: for every class c, bins of p_c against 1[label == c],
  averaged over the classes (MONAI's ``CalibrationErrorMetric`` with reduction "expected", pooled
  over all pixels of all images).
- ``fit_temperature``: temperature scaling. One scalar T > 0 divides all logits; T is chosen to
  minimise the mean negative log-likelihood of held-out (validation) labels. It leaves the arg-max,
  and so accuracy and Dice, unchanged; T > 1 softens over-confident probabilities.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

__all__ = ["reliability_bins", "expected_calibration_error", "fit_temperature", "softmax_np"]


def _array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    return arr


def _n_bins(n_bins) -> int:
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an int >= 1, got {n_bins!r}")
    return int(n_bins)


def reliability_bins(confidence, correct, n_bins: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reliability-diagram points: ``(mean_confidence, accuracy, counts)``, each of shape (n_bins,).

    confidence: any shape, values in [0, 1]; correct: the same shape, bool or {0, 1} (1 = the
    prediction was right; for a per-class diagram, 1 = the pixel belongs to the class). Bin k holds
    confidences in [k/n_bins, (k+1)/n_bins); the last bin also holds 1.0. Empty bins give NaN means.
    """
    conf, hit = _array(confidence, "confidence"), _array(correct, "correct")
    n_bins = _n_bins(n_bins)
    if hit.shape != conf.shape:
        raise ValueError(f"confidence and correct must have the same shape, got {conf.shape} and {hit.shape}")
    conf, hit = conf.astype(np.float64).ravel(), hit.astype(np.float64).ravel()
    if conf.size == 0:
        raise ValueError("confidence is empty: nothing to bin")
    if not np.all(np.isfinite(conf)) or conf.min() < 0.0 or conf.max() > 1.0:
        raise ValueError(f"confidence must be probabilities in [0, 1], got values in [{conf.min()}, {conf.max()}]")
    if not np.all((hit == 0) | (hit == 1)):
        raise ValueError("correct must be bool or {0, 1}")
    index = np.minimum((conf * n_bins).astype(np.int64), n_bins - 1)
    counts = np.bincount(index, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(index, weights=conf, minlength=n_bins) / counts
        accuracy = np.bincount(index, weights=hit, minlength=n_bins) / counts
    return mean_conf, accuracy, counts


def _probs_labels(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    p = _array(probs, "probs").astype(np.float64)
    y = _array(labels, "labels")
    if p.ndim < 2:
        raise ValueError(f"probs must have shape (N, C, ...) with classes on axis 1, got {p.shape}")
    if y.shape != (p.shape[0],) + p.shape[2:]:
        raise ValueError(f"labels must have shape (N, ...) = {(p.shape[0],) + p.shape[2:]} for probs {p.shape}, "
                         f"got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels must be integer class indices, got dtype {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"labels must lie in [0, {p.shape[1] - 1}], got [{y.min()}, {y.max()}]")
    if not np.all(np.isfinite(p)) or p.min() < 0 or p.max() > 1 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError("probs must be class probabilities in [0, 1] that sum to 1 over axis 1 "
                         "(apply softmax to logits first)")
    return p, y


def expected_calibration_error(probs, labels, n_bins: int = 15, mode: str = "top-label") -> float:
    """Expected calibration error of class probabilities ``probs`` (N, C, ...) for ``labels`` (N, ...).

    mode "top-label": bins of the largest probability against "arg-max is right". mode "classwise":
    the mean over classes of each class's ECE (bins of p_c against "label is c"). In [0, 1]; 0 is
    perfectly calibrated at this binning. Pixels of all images are pooled.
    """
    p, y = _probs_labels(probs, labels)
    if mode == "top-label":
        conf, acc, counts = reliability_bins(p.max(axis=1), p.argmax(axis=1) == y, n_bins)
        filled = counts > 0
        return float(np.sum(counts[filled] * np.abs(acc[filled] - conf[filled])) / counts.sum())
    if mode == "classwise":
        errors = []
        for c in range(p.shape[1]):
            conf, acc, counts = reliability_bins(p[:, c], y == c, n_bins)
            filled = counts > 0
            errors.append(np.sum(counts[filled] * np.abs(acc[filled] - conf[filled])) / counts.sum())
        return float(np.mean(errors))
    raise ValueError(f"mode must be 'top-label' or 'classwise', got {mode!r}")


def softmax_np(logits, temperature: float = 1.0, axis: int = 1) -> np.ndarray:
    """Softmax of ``logits / temperature`` along ``axis`` (float64, numerically stable)."""
    z = _array(logits, "logits").astype(np.float64)
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    z = z / temperature
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.take_along_axis(log_p, labels[:, None], axis=1).mean())


def fit_temperature(logits, labels, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature T that minimises the mean NLL of ``softmax(logits / T)`` for ``labels``.

    logits: (N, C, ...) raw network outputs on held-out data (never the test set); labels: (N, ...)
    integer classes. The search is over log T in log(bounds) (bounded Brent); a T at a bound means the
    optimum lies outside and raises, since such a T says something is wrong with the data.
    """
    z = _array(logits, "logits").astype(np.float64)
    if z.ndim < 2 or not np.all(np.isfinite(z)):
        raise ValueError(f"logits must be finite with shape (N, C, ...), got shape {z.shape}")
    y = _array(labels, "labels")
    if y.shape != (z.shape[0],) + z.shape[2:] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer classes of shape {(z.shape[0],) + z.shape[2:]}, got {y.shape} {y.dtype}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ValueError(f"labels must lie in [0, {z.shape[1] - 1}], got [{y.min()}, {y.max()}]")
    lo, hi = float(bounds[0]), float(bounds[1])
    if not 0 < lo < hi:
        raise ValueError(f"bounds must satisfy 0 < low < high, got {bounds}")
    # one row per pixel: (pixels, C)
    flat = np.moveaxis(z, 1, -1).reshape(-1, z.shape[1])
    flat_y = y.reshape(-1).astype(np.int64)
    result = optimize.minimize_scalar(lambda s: _nll(flat, flat_y, np.exp(s)), bounds=(np.log(lo), np.log(hi)),
                                      method="bounded", options={"xatol": 1e-5})
    t = float(np.exp(result.x))
    if not lo * 1.001 < t < hi / 1.001:
        raise ValueError(f"the best temperature lies at the search bound ({t:.3g} in {bounds}): check logits and labels")
    return t
