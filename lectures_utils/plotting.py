"""One figure style for the whole book, and the plots every chapter needs.

Call ``set_style()`` once in a notebook's setup cell. Each helper returns ``(fig, ax)`` (or
``(fig, axes)``), never calls ``plt.show()``, and works in a script as well as in Jupyter.
Labels stay English so no CJK font is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

__all__ = [
    "PALETTE",
    "LABEL_COLORS",
    "MAX_FIGURE_WIDTH",
    "fit_page_width",
    "set_style",
    "image_grid",
    "overlay_mask",
    "three_plane",
    "plot_history",
]

#: The book's qualitative palette (colour-blind friendly, after Okabe and Ito).
PALETTE: list[str] = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
#: Colours for label values 1, 2, 3, ... in mask overlays (label 0 is background, transparent).
#: Label value k > 0 is drawn in ``LABEL_COLORS[(k - 1) % 7]`` by ``overlay_mask``, whatever else is in
#: the mask: brain CSF (1) orange, GM (2) sky blue, WM (3) green, lesion (4) reddish purple; abdomen
#: body, liver, spleen, kidney, bone (5) vermillion, lesion (6) yellow.
LABEL_COLORS: list[str] = ["#E69F00", "#56B4E9", "#009E73", "#CC79A7", "#D55E00", "#F0E442", "#0072B2"]


#: The figure-size policy for the website. The text column of a page is about 720 px wide; a wider
#: image is shrunk to fit, and its labels with it (a 15 in figure at 100 dpi showed 10 pt labels at
#: 6 px). ``set_style()`` therefore caps every pyplot figure at ``MAX_FIGURE_WIDTH`` inches (1000 px
#: at the inline dpi of 100, so labels are shown at 72 % or more of their size): a wider figure is
#: scaled down to that width, its height by the square root of that factor (wide strips of panels
#: keep room for titles and labels). tests/test_figure_policy.py checks it, and tests/test_site.py
#: the width of every figure on the built site.
MAX_FIGURE_WIDTH: float = 10.0


def fit_page_width(fig) -> None:
    """Shrink ``fig`` to at most ``MAX_FIGURE_WIDTH`` inches wide (the book's figure-size policy).

    Registered by ``set_style()`` as a matplotlib figure hook (``figure.hooks``), so it runs on every
    figure that pyplot creates; a figure within the width is left as it is.
    """
    width, height = fig.get_size_inches()
    if width > MAX_FIGURE_WIDTH:
        scale = MAX_FIGURE_WIDTH / width
        fig.set_size_inches(MAX_FIGURE_WIDTH, height * scale ** 0.5)


def set_style() -> None:
    """Apply the book's matplotlib style (palette, sizes, grid, dpi) and figure-size policy."""
    mpl.rcParams.update(
        {
            "figure.hooks": ["lectures_utils.plotting:fit_page_width"],
            "axes.prop_cycle": mpl.cycler(color=PALETTE),
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 150,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "image.cmap": "gray",
            "image.interpolation": "nearest",
            "legend.frameon": False,
        }
    )


def _as_image(image, name: str = "image") -> np.ndarray:
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    array = np.asarray(image)
    if array.size == 0:
        raise ValueError(f"{name} is empty: expected a 2D array (H, W) or an RGB image (H, W, 3)")
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(f"{name} must have shape (H, W), (1, H, W) or (H, W, 3|4), got {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name} must be numeric, got dtype {array.dtype}")
    return array


def image_grid(
    images: Sequence,
    titles: Sequence[str] | None = None,
    ncols: int = 4,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    size: float = 2.6,
    colorbar: bool = False,
):
    """Show images side by side in a grid (small multiples). Returns ``(fig, axes)``.

    images: sequence of 2D arrays/tensors (H, W) or RGB (H, W, 3); titles: one per image.
    """
    images = list(images)
    if not images:
        raise ValueError("images is empty: expected at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    arrays = [_as_image(im, f"images[{i}]") for i, im in enumerate(images)]
    ncols = min(ncols, len(arrays))
    nrows = int(np.ceil(len(arrays) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(arrays):
            continue
        im = ax.imshow(arrays[i], cmap=cmap, vmin=vmin, vmax=vmax)
        if titles is not None:
            ax.set_title(titles[i])
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig, axes


def overlay_mask(
    image,
    mask,
    ax=None,
    alpha: float = 0.45,
    labels: Mapping[int, str] | None = None,
    contour: bool = False,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    title: str | None = None,
    colors: Mapping[int, str] | None = None,
):
    """Draw a label mask over an image. Returns ``(fig, ax)``.

    image: (H, W) intensities; mask: (H, W) integer labels, 0 = background (not drawn).
    labels: optional ``{label: name}`` for a legend. ``contour=True`` draws outlines instead of fills.
    colors: optional ``{label: matplotlib colour}``. Labels not in it get the fixed book colour
    ``LABEL_COLORS[(label - 1) % len(LABEL_COLORS)]``, so a label has the same colour in every figure,
    whichever other labels are present or absent in this mask.
    """
    image = _as_image(image)
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    mask = np.asarray(mask)
    if mask.ndim == 3 and mask.shape[0] == 1:
        mask = mask[0]
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image.shape[:2]}")
    if not (np.issubdtype(mask.dtype, np.integer) or mask.dtype == bool):
        if not np.all(np.equal(np.mod(mask, 1), 0)):
            raise TypeError(f"mask must hold integer labels, got dtype {mask.dtype} with fractional values")
    mask = mask.astype(np.int64)
    if mask.min() < 0:
        raise ValueError("mask labels must be >= 0 (0 = background)")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(4, 4))
    else:
        fig = ax.figure
    ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
    if colors is not None and not isinstance(colors, Mapping):
        raise TypeError(f"colors must be a mapping {{label: colour}}, got {type(colors).__name__}")
    custom = {int(k): v for k, v in (colors or {}).items()}

    def colour_of(value: int):
        return custom.get(value, LABEL_COLORS[(value - 1) % len(LABEL_COLORS)])

    present = [int(v) for v in np.unique(mask) if v > 0]
    if present:
        if contour:
            for value in present:
                ax.contour(mask == value, levels=[0.5], colors=[colour_of(value)], linewidths=1.2)
        else:
            rgba = np.zeros(mask.shape + (4,))
            for value in present:
                rgba[mask == value] = mpl.colors.to_rgba(colour_of(value), alpha)
            ax.imshow(rgba)
    if labels:
        handles = [
            mpl.patches.Patch(color=colour_of(int(v)), label=name)
            for v, name in sorted(labels.items())
            if int(v) > 0
        ]
        ax.legend(handles=handles, loc="lower right", fontsize=8, frameon=True)
    if title:
        ax.set_title(title)
    ax.axis("off")
    return fig, ax


def three_plane(
    volume,
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    index: Sequence[int] | None = None,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    mask=None,
    titles: Sequence[str] = ("axis 0 slice", "axis 1 slice", "axis 2 slice"),
):
    """Show the three orthogonal central slices of a 3D volume with the right aspect ratio.

    volume: (D0, D1, D2) array; spacing: voxel size in mm along each array axis; index: the voxel
    the three planes pass through (default: the centre). For a volume in RAS+ orientation (as
    ``nibabel.as_closest_canonical`` gives) the planes are sagittal, coronal and axial: pass
    ``titles=("sagittal", "coronal", "axial")``. Returns ``(fig, axes)``.
    """
    if hasattr(volume, "detach"):
        volume = volume.detach().cpu().numpy()
    volume = np.asarray(volume)
    if volume.ndim != 3:
        raise ValueError(f"volume must be 3D (D0, D1, D2), got shape {volume.shape}")
    if volume.size == 0:
        raise ValueError("volume is empty")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or any(s <= 0 for s in spacing):
        raise ValueError(f"spacing must be three positive numbers (mm), got {spacing}")
    if index is None:
        index = tuple(s // 2 for s in volume.shape)
    index = tuple(int(i) for i in index)
    if len(index) != 3 or any(not 0 <= i < s for i, s in zip(index, volume.shape)):
        raise ValueError(f"index {index} is outside the volume of shape {volume.shape}")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != volume.shape:
            raise ValueError(f"mask shape {mask.shape} does not match volume shape {volume.shape}")
    vmin = float(np.percentile(volume, 1)) if vmin is None else vmin
    vmax = float(np.percentile(volume, 99)) if vmax is None else vmax
    fig, axes = plt.subplots(1, 3, figsize=(11, 4))
    for axis, ax in enumerate(axes):
        plane = np.take(volume, index[axis], axis=axis)
        other = [a for a in range(3) if a != axis]
        # Rows of the shown image follow the first remaining axis; rotate so "up" is the last axis.
        shown = np.rot90(plane)
        aspect = spacing[other[1]] / spacing[other[0]]
        ax.imshow(shown, cmap=cmap, vmin=vmin, vmax=vmax, aspect=aspect)
        if mask is not None:
            m = np.rot90(np.take(mask, index[axis], axis=axis))
            if m.any():
                ax.contour(m > 0, levels=[0.5], colors=[LABEL_COLORS[0]], linewidths=1.0)
        ax.set_title(f"{titles[axis]} ({index[axis]})")
        ax.axis("off")
    fig.tight_layout()
    return fig, axes


def plot_history(history, keys: Sequence[str] | None = None, ax=None, logy: bool = False):
    """Training curves from a ``History`` (or a dict of lists). Returns ``(fig, ax)``.

    Loss series go on the left axis; other metrics (accuracy, Dice) on a right-hand axis.
    """
    values = history.values if hasattr(history, "values") and isinstance(history.values, dict) else history
    if not isinstance(values, Mapping) or not values:
        raise ValueError("history must be a non-empty History or dict of per-epoch lists")
    keys = list(values) if keys is None else list(keys)
    missing = [k for k in keys if k not in values]
    if missing:
        raise KeyError(f"history has no series {missing}; it has {sorted(values)}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
    else:
        fig = ax.figure
    loss_keys = [k for k in keys if "loss" in k]
    other_keys = [k for k in keys if "loss" not in k]
    for i, k in enumerate(loss_keys):
        series = values[k]
        ax.plot(range(1, len(series) + 1), series, label=k, color=PALETTE[i % len(PALETTE)],
                linestyle="-" if k.startswith("train") else "--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if logy:
        ax.set_yscale("log")
    handles, labels = ax.get_legend_handles_labels()
    if other_keys:
        ax2 = ax.twinx()
        for j, k in enumerate(other_keys):
            series = values[k]
            ax2.plot(range(1, len(series) + 1), series, label=k,
                     color=PALETTE[(len(loss_keys) + j) % len(PALETTE)], marker="o", markersize=3)
        ax2.set_ylabel("metric")
        ax2.grid(False)
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="best", fontsize=8)
    fig.tight_layout()
    return fig, ax
