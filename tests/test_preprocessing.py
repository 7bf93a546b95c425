"""Tests for lectures_utils.preprocessing, against pydicom, scipy and hand computations."""

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut
from scipy import ndimage, stats

from lectures_utils.preprocessing import (
    CT_WINDOWS,
    crop_or_pad,
    minmax_scale,
    percentile_clip,
    resample_to_spacing,
    to_hounsfield,
    window_ct,
    zscore,
)


@pytest.fixture(scope="module")
def ct_dataset():
    return pydicom.dcmread(get_testdata_file("CT_small.dcm", download=False))


def test_to_hounsfield_matches_pydicom_modality_lut(ct_dataset):
    stored = ct_dataset.pixel_array
    hu = to_hounsfield(stored, float(ct_dataset.RescaleSlope), float(ct_dataset.RescaleIntercept))
    np.testing.assert_allclose(hu, apply_modality_lut(stored, ct_dataset), rtol=0, atol=1e-9)
    assert hu.dtype == np.float64 and hu.shape == stored.shape


def test_to_hounsfield_with_non_unit_slope():
    stored = np.array([[0, 1000], [2000, 4095]], dtype=np.uint16)
    np.testing.assert_allclose(to_hounsfield(stored, 0.5, -1024), 0.5 * stored.astype(float) - 1024)


def test_window_ct_at_the_window_edges():
    level, width = CT_WINDOWS["lung"]
    assert (level, width) == (-700.0, 1500.0)
    lower, upper = level - width / 2, level + width / 2  # -1450 and 50 HU
    hu = np.array([lower - 100, lower, level, upper, upper + 100, lower + width / 4])
    np.testing.assert_allclose(window_ct(hu, level, width), [0.0, 0.0, 0.5, 1.0, 1.0, 0.25], atol=1e-12)
    np.testing.assert_allclose(window_ct(hu, level, width, out_range=(0, 255)), [0, 0, 127.5, 255, 255, 63.75], atol=1e-9)


def test_window_ct_soft_tissue_on_real_ct(ct_dataset):
    hu = apply_modality_lut(ct_dataset.pixel_array, ct_dataset).astype(float)
    out = window_ct(hu, 40, 400)
    expected = np.clip((hu - (40 - 200)) / 400, 0, 1)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    assert out.min() >= 0 and out.max() <= 1


def test_zscore_matches_scipy():
    rng = np.random.default_rng(0)
    image = rng.normal(100, 20, size=(32, 48))
    np.testing.assert_allclose(zscore(image, eps=0), stats.zscore(image, axis=None), atol=1e-12)


def test_zscore_with_mask_uses_masked_statistics():
    rng = np.random.default_rng(1)
    image = rng.normal(5, 2, size=(20, 20))
    mask = np.zeros_like(image, dtype=bool)
    mask[5:15, 5:15] = True
    out = zscore(image, mask, eps=0)
    inside = stats.zscore(image[mask])
    np.testing.assert_allclose(out[mask], inside, atol=1e-12)
    assert abs(out[mask].mean()) < 1e-12 and abs(out[mask].std() - 1) < 1e-12


def test_zscore_of_constant_image_is_zero():
    assert np.all(zscore(np.full((4, 4), 7.0)) == 0)


def test_minmax_scale_and_percentile_clip():
    rng = np.random.default_rng(2)
    image = rng.normal(size=(50, 50))
    low, high = np.percentile(image, [1, 99])
    np.testing.assert_allclose(minmax_scale(image, percentiles=(1, 99)), np.clip((image - low) / (high - low), 0, 1))
    np.testing.assert_allclose(percentile_clip(image, (1, 99)), np.clip(image, low, high))
    assert minmax_scale(image).min() == 0 and minmax_scale(image).max() == 1


def test_resample_to_spacing_shape_and_reference():
    rng = np.random.default_rng(3)
    image = rng.random((20, 30))
    out = resample_to_spacing(image, (1.0, 1.0), (2.0, 0.5))
    assert out.shape == (10, 60)
    reference = ndimage.zoom(image, (0.5, 2.0), order=1, mode="nearest", grid_mode=True)
    np.testing.assert_allclose(out, reference)
    labels = rng.integers(0, 3, size=(8, 8))
    nearest = resample_to_spacing(labels, 1.0, 0.5, order=0)
    assert nearest.shape == (16, 16) and set(np.unique(nearest)) <= {0, 1, 2}


def test_crop_or_pad_centres():
    image = np.arange(16).reshape(4, 4)
    padded = crop_or_pad(image, (6, 2), value=-1)
    assert padded.shape == (6, 2)
    np.testing.assert_array_equal(padded[1:5], image[:, 1:3])
    assert np.all(padded[0] == -1) and np.all(padded[5] == -1)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: to_hounsfield(np.array([]), 1, 0), ValueError),
        (lambda: to_hounsfield(np.array(["a", "b"]), 1, 0), TypeError),
        (lambda: to_hounsfield(np.ones(3), 0, 0), ValueError),
        (lambda: to_hounsfield(np.ones(3), "1", 0), TypeError),
        (lambda: window_ct(np.ones(3), 40, 0), ValueError),
        (lambda: window_ct(np.ones(3), 40, -10), ValueError),
        (lambda: window_ct(np.ones(3), 40, 400, out_range=(1, 0)), ValueError),
        (lambda: window_ct(np.ones(3), 40, 400, out_range=5), TypeError),
        (lambda: window_ct(None, 40, 400), TypeError),
        (lambda: zscore(np.ones((3, 3)), mask=np.ones((2, 2), bool)), ValueError),
        (lambda: zscore(np.ones((3, 3)), mask=np.zeros((3, 3), bool)), ValueError),
        (lambda: zscore(np.ones((3, 3)), mask=np.full((3, 3), 2)), TypeError),
        (lambda: zscore(np.array([1.0, np.nan])), ValueError),
        (lambda: zscore(np.zeros((0, 3))), ValueError),
        (lambda: minmax_scale(np.ones(3), percentiles=(90, 10)), ValueError),
        (lambda: resample_to_spacing(np.ones((4, 4)), (1, 1), (1, 1, 1)), ValueError),
        (lambda: resample_to_spacing(np.ones((4, 4)), (1, 1), (0, 1)), ValueError),
        (lambda: crop_or_pad(np.ones((4, 4)), (4,)), ValueError),
    ],
)
def test_bad_input_is_rejected(call, error):
    with pytest.raises(error):
        call()


def test_inputs_are_not_modified():
    image = np.linspace(-1000, 1000, 11)
    copy = image.copy()
    window_ct(image, 0, 500)
    zscore(image)
    to_hounsfield(image, 2, 1)
    np.testing.assert_array_equal(image, copy)
