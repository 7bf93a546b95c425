"""Intensity preprocessing for medical images: Hounsfield units, CT windows, normalisation.

CT stores integers that a linear map turns into Hounsfield units (HU)::

    HU = RescaleSlope * stored_value + RescaleIntercept

(water is 0 HU, air -1000 HU). A display *window* of level L and width W maps
``[L - W/2, L + W/2]`` linearly onto the output range and clips outside it. MR intensities have
no physical unit, so they are normalised per image (z-score, percentile min-max) before a network
sees them. Every function takes NumPy arrays (or anything ``np.asarray`` accepts, including CPU
tensors), returns float arrays, and never changes its input.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = [
    "CT_WINDOWS",
    "to_hounsfield",
    "window_ct",
    "zscore",
    "minmax_scale",
    "percentile_clip",
    "resample_to_spacing",
    "crop_or_pad",
]

#: Common CT display windows as ``name: (level, width)`` in HU. The lecture's lung window is
#: width 1500 / level -700; the others are the usual radiology presets.
CT_WINDOWS: Mapping[str, tuple[float, float]] = {
    "lung": (-700.0, 1500.0),
    "soft_tissue": (40.0, 400.0),
    "mediastinum": (50.0, 350.0),
    "brain": (40.0, 80.0),
    "liver": (60.0, 160.0),
    "bone": (400.0, 1800.0),
}


def _as_numeric_array(x, name: str, min_ndim: int = 1) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if x is None:
        raise TypeError(f"{name} must be a numeric array, got None")
    array = np.asarray(x)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real, got dtype {array.dtype}")
    if array.size == 0:
        raise ValueError(f"{name} is empty: expected at least one value, got shape {array.shape}")
    if array.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimension(s), got shape {array.shape}")
    return array


def _as_real(x, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    value = float(x)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def _as_mask(mask, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.shape != shape:
        raise ValueError(f"{name} must have the image's shape {shape}, got {mask.shape}")
    if mask.dtype != bool:
        if not np.issubdtype(mask.dtype, np.number) or not np.isin(mask, (0, 1)).all():
            raise TypeError(f"{name} must be bool or contain only 0 and 1, got dtype {mask.dtype}")
        mask = mask.astype(bool)
    if not mask.any():
        raise ValueError(f"{name} selects no voxel: expected at least one True value")
    return mask


def to_hounsfield(stored, slope: float = 1.0, intercept: float = 0.0) -> np.ndarray:
    """Convert stored CT values to Hounsfield units: ``HU = slope * stored + intercept``.

    Parameters
    ----------
    stored:
        Stored pixel values, any shape, integer or float (DICOM ``PixelData``).
    slope, intercept:
        DICOM ``RescaleSlope`` (0028,1053) and ``RescaleIntercept`` (0028,1052). A slope of 0 is
        rejected (it would erase the image).

    Returns
    -------
    np.ndarray
        float64 array in HU, same shape as ``stored``.
    """
    array = _as_numeric_array(stored, "stored")
    slope = _as_real(slope, "slope")
    intercept = _as_real(intercept, "intercept")
    if slope == 0:
        raise ValueError("slope must be non-zero (DICOM RescaleSlope), got 0")
    return array.astype(np.float64) * slope + intercept


def window_ct(hu, level: float, width: float, out_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Apply a CT display window: map ``[level - width/2, level + width/2]`` HU onto ``out_range``.

    Values below the window become ``out_range[0]``, values above become ``out_range[1]``, and in
    between the map is linear. ``out_range=(0, 255)`` gives the 8-bit grey levels of a display.

    Parameters
    ----------
    hu:
        Image in Hounsfield units, any shape.
    level, width:
        Window centre and width in HU (``width > 0``), e.g. ``CT_WINDOWS["lung"] == (-700, 1500)``.
    out_range:
        ``(low, high)`` of the output, ``low < high``.

    Returns
    -------
    np.ndarray
        float64 array, same shape as ``hu``, values in ``out_range``.
    """
    array = _as_numeric_array(hu, "hu").astype(np.float64)
    level = _as_real(level, "level")
    width = _as_real(width, "width")
    if width <= 0:
        raise ValueError(f"width must be positive (HU), got {width}")
    if not isinstance(out_range, (tuple, list)) or len(out_range) != 2:
        raise TypeError(f"out_range must be a pair (low, high), got {out_range!r}")
    low, high = (_as_real(v, "out_range") for v in out_range)
    if not low < high:
        raise ValueError(f"out_range must satisfy low < high, got {out_range!r}")
    lower = level - width / 2.0
    scaled = np.clip((array - lower) / width, 0.0, 1.0)
    return low + scaled * (high - low)


def zscore(image, mask=None, eps: float = 1e-8) -> np.ndarray:
    """Z-score normalisation: ``(x - mean) / std``, statistics taken over ``mask`` if given.

    ``std`` is the population standard deviation (``ddof=0``, as ``scipy.stats.zscore``). With a
    mask (for example the body or brain), the statistics come from the voxels inside it but the
    whole image is transformed, so the background gets a (negative) value too.

    Parameters
    ----------
    image:
        Any shape, real numbers.
    mask:
        Optional bool or {0,1} array of the same shape, with at least one True voxel.
    eps:
        Added to ``std`` so a constant image does not divide by zero (it maps to 0).

    Returns
    -------
    np.ndarray
        float64 array, same shape as ``image``.
    """
    array = _as_numeric_array(image, "image").astype(np.float64)
    eps = _as_real(eps, "eps")
    if eps < 0:
        raise ValueError(f"eps must be >= 0, got {eps}")
    values = array if mask is None else array[_as_mask(mask, array.shape)]
    if not np.isfinite(values).all():
        raise ValueError("image contains NaN or infinite values: expected finite numbers")
    mean = values.mean()
    std = values.std()
    return (array - mean) / (std + eps)


def minmax_scale(image, mask=None, percentiles: tuple[float, float] = (0.0, 100.0)) -> np.ndarray:
    """Rescale to [0, 1] between two percentiles of the image (taken over ``mask`` if given).

    ``percentiles=(1, 99)`` makes the scale robust to a few hot or dark voxels; values outside
    are clipped. A constant image maps to zeros.

    Returns
    -------
    np.ndarray
        float64 array in [0, 1], same shape as ``image``.
    """
    array = _as_numeric_array(image, "image").astype(np.float64)
    low_p, high_p = _check_percentiles(percentiles)
    values = array if mask is None else array[_as_mask(mask, array.shape)]
    low, high = np.percentile(values, [low_p, high_p])
    if high <= low:
        return np.zeros_like(array)
    return np.clip((array - low) / (high - low), 0.0, 1.0)


def percentile_clip(image, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Clip intensities to two percentiles of the image (keeps units; removes outliers)."""
    array = _as_numeric_array(image, "image").astype(np.float64)
    low_p, high_p = _check_percentiles(percentiles)
    low, high = np.percentile(array, [low_p, high_p])
    return np.clip(array, low, high)


def _check_percentiles(percentiles) -> tuple[float, float]:
    if not isinstance(percentiles, (tuple, list)) or len(percentiles) != 2:
        raise TypeError(f"percentiles must be a pair (low, high), got {percentiles!r}")
    low, high = (_as_real(v, "percentiles") for v in percentiles)
    if not 0 <= low < high <= 100:
        raise ValueError(f"percentiles must satisfy 0 <= low < high <= 100, got {percentiles!r}")
    return low, high


def resample_to_spacing(image, spacing, new_spacing, order: int = 1) -> np.ndarray:
    """Resample an image from voxel ``spacing`` to ``new_spacing`` (both in mm, one per axis).

    The output shape is ``round(shape * spacing / new_spacing)``; ``order`` is the spline order
    (0 nearest, for label maps; 1 linear, for intensities). Uses ``scipy.ndimage.zoom``.
    """
    from scipy import ndimage

    array = _as_numeric_array(image, "image")
    spacing = _check_spacing(spacing, array.ndim, "spacing")
    new_spacing = _check_spacing(new_spacing, array.ndim, "new_spacing")
    if order not in (0, 1, 2, 3, 4, 5) or isinstance(order, bool):
        raise ValueError(f"order must be a spline order 0..5, got {order!r}")
    new_shape = [max(1, int(round(n * s / t))) for n, s, t in zip(array.shape, spacing, new_spacing)]
    factors = [m / n for m, n in zip(new_shape, array.shape)]
    source = array if order == 0 else array.astype(np.float64)
    out = ndimage.zoom(source, factors, order=order, mode="nearest", grid_mode=True)
    return out


def _check_spacing(spacing, ndim: int, name: str) -> tuple[float, ...]:
    if isinstance(spacing, (int, float, np.integer, np.floating)) and not isinstance(spacing, bool):
        spacing = (spacing,) * ndim
    try:
        values = tuple(_as_real(v, name) for v in spacing)
    except TypeError as err:
        raise TypeError(f"{name} must be a number or one number per axis ({ndim}), got {spacing!r}") from err
    if len(values) != ndim:
        raise ValueError(f"{name} must have one value per axis ({ndim}), got {len(values)}")
    if min(values) <= 0:
        raise ValueError(f"{name} must be positive (mm), got {values}")
    return values


def crop_or_pad(image, shape, value: float = 0.0) -> np.ndarray:
    """Centre-crop or pad (with ``value``) each axis of ``image`` to ``shape``."""
    array = _as_numeric_array(image, "image")
    if not isinstance(shape, (tuple, list)) or len(shape) != array.ndim:
        raise ValueError(f"shape must have one size per axis ({array.ndim}), got {shape!r}")
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in shape):
        raise ValueError(f"shape must contain positive ints, got {shape!r}")
    out = np.full(tuple(int(n) for n in shape), value, dtype=array.dtype)
    src, dst = [], []
    for have, want in zip(array.shape, shape):
        if have >= want:
            start = (have - want) // 2
            src.append(slice(start, start + want))
            dst.append(slice(0, want))
        else:
            start = (want - have) // 2
            src.append(slice(0, have))
            dst.append(slice(start, start + have))
    out[tuple(dst)] = array[tuple(src)]
    return out
