"""Synthetic scans with known label masks, rendered by configurable "scanners".

Two kinds of anatomy, each in 2D ``(H, W)`` or 3D ``(D, H, W)``:

- ``"geometric"``: a body outline with several organs (liver, spleen, two kidneys, a vertebra),
  ellipses/ellipsoids whose size, position and angle vary per subject;
- ``"brain"``: real brain anatomy from the MNI152 template (tissue labels = argmax of the
  CSF/GM/WM probabilities inside the brain mask), varied per subject by a random affine map and a
  random smooth deformation; 2D scans are axial slices from a range of levels.

Both can carry small lesions; ``lesion_rate`` (expected number per scan) and ``lesion_radius``
(in pixels) set how rare the lesion class is. A ``ScannerProfile`` turns labels into intensities:
per-tissue means (the contrast of a T1-, T2-, FLAIR- or PD-like sequence), within-tissue
variation, gain, offset, a smooth multiplicative bias field, Rician noise, blur and acquisition
resolution. Rendering the same anatomy with different profiles gives the differences real
scanners and sequences show, which is what domain shift experiments and domain-randomised
training (the idea behind SynthSeg) need.

Everything is deterministic given ``seed``. Conventions: labels int64, images float32,
channels-first for multi-sequence images ``(C, H, W)``; 2D brain slices are displayed with
anterior at the top (row 0) and the subject's left on the image left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import torch
from scipy import ndimage

__all__ = [
    "FLAVOURS",
    "LABELS",
    "TISSUES",
    "ScannerProfile",
    "SCANNERS",
    "get_scanner",
    "random_scanner",
    "Anatomy",
    "make_anatomy",
    "render",
    "make_scan",
    "make_scans",
    "PhantomDataset",
]

#: The two kinds of anatomy.
FLAVOURS: tuple[str, ...] = ("geometric", "brain")

#: Label value -> tissue name, per flavour. 0 is always background; the lesion is the last label.
LABELS: dict[str, dict[int, str]] = {
    "geometric": {0: "background", 1: "body", 2: "liver", 3: "spleen", 4: "kidney", 5: "bone", 6: "lesion"},
    "brain": {0: "background", 1: "csf", 2: "gm", 3: "wm", 4: "lesion"},
}

#: Every tissue name a scanner profile must give an intensity for.
TISSUES: tuple[str, ...] = (
    "background", "body", "liver", "spleen", "kidney", "bone", "csf", "gm", "wm", "lesion",
)


_SEQUENCES: tuple[str, ...] = ("T1", "T2", "FLAIR", "PD", "random")
_MAX_SIZE = 512
_MIN_SIZE = 8


def _check_real(value, name: str, low: float | None = None, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")
    return value


def _check_pair(value, name: str, low: float, high: float) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair (min, max), got {value!r}")
    first, second = (_check_real(v, name, low, high) for v in value)
    if first > second:
        raise ValueError(f"{name} must satisfy min <= max, got {value!r}")
    return first, second


def _check_shape(shape) -> tuple[int, ...]:
    if not isinstance(shape, (tuple, list)) or len(shape) not in (2, 3):
        raise ValueError(f"shape must be (H, W) for 2D or (D, H, W) for 3D, got {shape!r}")
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in shape):
        raise TypeError(f"shape must contain ints, got {shape!r}")
    if any(not _MIN_SIZE <= n <= _MAX_SIZE for n in shape):
        raise ValueError(f"each size in shape must be in [{_MIN_SIZE}, {_MAX_SIZE}], got {tuple(shape)}")
    return tuple(int(n) for n in shape)


def _check_flavour(flavour) -> str:
    if not isinstance(flavour, str):
        raise TypeError(f"flavour must be a string, one of {FLAVOURS}, got {type(flavour).__name__}")
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown flavour {flavour!r}: expected one of {FLAVOURS}")
    return flavour


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be a non-negative int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    return int(seed)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(_check_seed(seed))


# --------------------------------------------------------------------------------------------
# Scanner profiles
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ScannerProfile:
    """How a (simulated) scanner turns tissue labels into an image.

    Attributes
    ----------
    name:
        Short name, e.g. ``"T1"``.
    sequence:
        The contrast family: ``"T1"``, ``"T2"``, ``"FLAIR"``, ``"PD"`` or ``"random"``.
    tissue_means:
        Mean intensity of each tissue of ``TISSUES`` before gain/offset (0..1.5).
    tissue_std:
        Within-tissue variation (smooth texture) as a fraction of the local intensity, in [0, 0.5].
    gain, offset:
        Linear scaling of the final image: ``gain * x + offset`` (gain > 0).
    bias_strength:
        Peak relative amplitude of the smooth multiplicative bias field, in [0, 0.8]
        (0 = none, 0.3 = intensities vary by up to +-30 % across the field of view).
    noise_std:
        Standard deviation of the Gaussian noise in each of the two channels of the complex MR
        signal, relative to intensity 1 (the magnitude image gets Rician noise), in [0, 1].
    blur_sigma:
        Standard deviation of the Gaussian point-spread function, in pixels, in [0, 5].
    resolution:
        Acquisition pixel size relative to the working grid, in [1, 4] (1 = native, 2 = acquired
        at half the resolution and interpolated back).
    """

    name: str
    sequence: str
    tissue_means: Mapping[str, float]
    tissue_std: float = 0.02
    gain: float = 1.0
    offset: float = 0.0
    bias_strength: float = 0.0
    noise_std: float = 0.02
    blur_sigma: float = 0.0
    resolution: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("name must be a non-empty string")
        if self.sequence not in _SEQUENCES:
            raise ValueError(f"sequence must be one of {_SEQUENCES}, got {self.sequence!r}")
        if not isinstance(self.tissue_means, Mapping):
            raise TypeError(f"tissue_means must be a mapping tissue -> intensity, got {type(self.tissue_means).__name__}")
        missing = [t for t in TISSUES if t not in self.tissue_means]
        extra = [t for t in self.tissue_means if t not in TISSUES]
        if missing or extra:
            raise ValueError(f"tissue_means must have exactly the keys {TISSUES}; missing {missing}, unknown {extra}")
        means = {t: _check_real(self.tissue_means[t], f"tissue_means[{t!r}]", 0.0, 1.5) for t in TISSUES}
        object.__setattr__(self, "tissue_means", MappingProxyType(means))
        for name, low, high in (
            ("tissue_std", 0.0, 0.5),
            ("gain", 1e-6, 1e6),
            ("offset", -1e6, 1e6),
            ("bias_strength", 0.0, 0.8),
            ("noise_std", 0.0, 1.0),
            ("blur_sigma", 0.0, 5.0),
            ("resolution", 1.0, 4.0),
        ):
            object.__setattr__(self, name, _check_real(getattr(self, name), name, low, high))

    def with_changes(self, **changes) -> "ScannerProfile":
        """A copy with some fields changed (validated), e.g. ``profile.with_changes(noise_std=0.1)``."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise ValueError(f"unknown ScannerProfile field(s) {sorted(unknown)}")
        if "tissue_means" in changes and isinstance(changes["tissue_means"], Mapping):
            changes["tissue_means"] = {**self.tissue_means, **changes["tissue_means"]}
        return replace(self, **changes)

    def means_for(self, flavour: str) -> np.ndarray:
        """Tissue means in label order of ``LABELS[flavour]``, float32."""
        names = LABELS[_check_flavour(flavour)]
        return np.array([self.tissue_means[names[k]] for k in sorted(names)], dtype=np.float32)


def _means(**values: float) -> dict[str, float]:
    return dict(values)


#: The book's scanners. "T1" is the training scanner of the segmentation chapter; "T1_lowfield"
#: is the same kind of sequence on a worse scanner (other gain/offset, strong bias field, more noise,
#: blur, coarser resolution); "T2", "FLAIR" and "PD" change the contrast ordering of the tissues:
#: T1: WM > GM > CSF, lesions dark; T2: CSF > GM > WM, lesions bright; FLAIR: CSF dark,
#: GM > WM, lesions brightest; PD: little contrast, GM > WM, CSF close to GM.
SCANNERS: dict[str, ScannerProfile] = {
    "T1": ScannerProfile(
        "T1", "T1",
        _means(background=0.0, body=0.85, liver=0.60, spleen=0.45, kidney=0.30, bone=0.72,
               csf=0.15, gm=0.47, wm=0.75, lesion=0.30),
        tissue_std=0.02, gain=1.0, offset=0.0, bias_strength=0.10, noise_std=0.02, blur_sigma=0.3,
        resolution=1.0,
    ),
    "T1_lowfield": ScannerProfile(
        "T1_lowfield", "T1",
        _means(background=0.0, body=0.82, liver=0.60, spleen=0.47, kidney=0.33, bone=0.70,
               csf=0.22, gm=0.50, wm=0.68, lesion=0.36),
        tissue_std=0.03, gain=0.7, offset=0.05, bias_strength=0.35, noise_std=0.04, blur_sigma=0.7,
        resolution=1.5,
    ),
    "T2": ScannerProfile(
        "T2", "T2",
        _means(background=0.0, body=0.65, liver=0.25, spleen=0.55, kidney=0.78, bone=0.40,
               csf=0.92, gm=0.55, wm=0.38, lesion=0.80),
        tissue_std=0.02, gain=1.2, offset=0.0, bias_strength=0.15, noise_std=0.03, blur_sigma=0.4,
        resolution=1.0,
    ),
    "FLAIR": ScannerProfile(
        "FLAIR", "FLAIR",
        _means(background=0.0, body=0.50, liver=0.28, spleen=0.45, kidney=0.62, bone=0.18,
               csf=0.08, gm=0.58, wm=0.42, lesion=0.95),
        tissue_std=0.03, gain=0.9, offset=0.0, bias_strength=0.20, noise_std=0.035, blur_sigma=0.5,
        resolution=1.25,
    ),
    "PD": ScannerProfile(
        "PD", "PD",
        _means(background=0.0, body=0.75, liver=0.45, spleen=0.60, kidney=0.70, bone=0.32,
               csf=0.72, gm=0.66, wm=0.55, lesion=0.78),
        tissue_std=0.02, gain=1.0, offset=0.0, bias_strength=0.15, noise_std=0.03, blur_sigma=0.4,
        resolution=1.0,
    ),
}


def get_scanner(name: str | ScannerProfile) -> ScannerProfile:
    """The profile called ``name`` (a key of ``SCANNERS``); a ``ScannerProfile`` passes through.

    Raises ``ValueError`` naming the known scanners for an unknown name (``"random"`` needs a
    seed: use ``random_scanner``).
    """
    if isinstance(name, ScannerProfile):
        return name
    if not isinstance(name, str):
        raise TypeError(f"scanner must be a name (one of {sorted(SCANNERS)}) or a ScannerProfile, got {type(name).__name__}")
    if name in SCANNERS:
        return SCANNERS[name]
    folded = {key.lower(): key for key in SCANNERS}
    if name.lower() in folded:
        return SCANNERS[folded[name.lower()]]
    hint = " ('random' needs a seed: call random_scanner(seed))" if name == "random" else ""
    raise ValueError(f"unknown scanner {name!r}: expected one of {sorted(SCANNERS)} or a ScannerProfile{hint}")


def random_scanner(seed: int | np.random.Generator, name: str = "random") -> ScannerProfile:
    """A profile with random tissue contrasts and artefacts (domain randomisation, as SynthSeg).

    Tissue means are drawn independently and uniformly in [0.05, 1] (background in [0, 0.1]), so
    any contrast ordering can occur; texture, gain, offset, bias, noise, blur and resolution are
    drawn uniformly from ranges that contain every profile of ``SCANNERS``.
    """
    rng = _rng(seed)
    means = {t: float(rng.uniform(0.05, 1.0)) for t in TISSUES}
    means["background"] = float(rng.uniform(0.0, 0.1))
    return ScannerProfile(
        name, "random", means,
        tissue_std=float(rng.uniform(0.0, 0.05)),
        gain=float(rng.uniform(0.5, 2.0)),
        offset=float(rng.uniform(-0.1, 0.1)),
        bias_strength=float(rng.uniform(0.0, 0.4)),
        noise_std=float(rng.uniform(0.005, 0.06)),
        blur_sigma=float(rng.uniform(0.0, 0.8)),
        resolution=float(rng.uniform(1.0, 1.6)),
    )


# --------------------------------------------------------------------------------------------
# Smooth random fields
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _upsample_matrix(n_out: int, n_coarse: int) -> np.ndarray:
    """``(n_out, n_coarse)`` matrix that cubic-spline-interpolates a coarse grid to ``n_out`` points."""
    matrix = ndimage.zoom(np.eye(n_coarse), (n_out / n_coarse, 1.0), order=3, mode="nearest", grid_mode=True)
    matrix = np.ascontiguousarray(matrix[:n_out], dtype=np.float32)
    matrix.setflags(write=False)
    return matrix


def _smooth_fields(rng: np.random.Generator, shape: tuple[int, ...], n_coarse: int, stds: Sequence[float]) -> np.ndarray:
    """``len(stds)`` smooth random fields ``(k, *shape)`` float32: coarse Gaussian grids with these
    standard deviations, interpolated to ``shape`` by cubic splines."""
    stds = np.asarray(stds, dtype=np.float32).reshape(-1, *([1] * len(shape)))
    coarse = rng.standard_normal((len(stds), *(n_coarse,) * len(shape)), dtype=np.float32) * stds
    mats = [_upsample_matrix(n, n_coarse) for n in shape]
    if len(shape) == 2:
        return mats[0] @ coarse @ mats[1].T
    return np.einsum("ia,jb,kc,nabc->nijk", mats[0], mats[1], mats[2], coarse, optimize=True)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, ...], n_coarse: int, std: float = 1.0) -> np.ndarray:
    """One smooth random field with the given ``shape`` (see ``_smooth_fields``)."""
    return _smooth_fields(rng, shape, n_coarse, (std,))[0]


@lru_cache(maxsize=64)
def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    """``(n, n)`` matrix of a 1D Gaussian blur (edge values repeated), the same as
    ``scipy.ndimage.gaussian_filter1d(x, sigma, mode="nearest", truncate=3.0)``."""
    matrix = ndimage.gaussian_filter1d(np.eye(n, dtype=np.float64), sigma, axis=0, mode="nearest", truncate=3.0)
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    matrix.setflags(write=False)
    return matrix


@lru_cache(maxsize=16)
def _centred_grid(shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    axes = [np.arange(n, dtype=np.float32) - np.float32((n - 1) / 2) for n in shape]
    grids = np.meshgrid(*axes, indexing="ij")
    for grid in grids:
        grid.setflags(write=False)
    return tuple(grids)


# --------------------------------------------------------------------------------------------
# Anatomy
# --------------------------------------------------------------------------------------------


@dataclass
class Anatomy:
    """A subject's anatomy on the working grid.

    Attributes
    ----------
    flavour:
        ``"geometric"`` or ``"brain"``.
    labels:
        ``(H, W)`` or ``(D, H, W)`` int64, values in ``LABELS[flavour]``.
    fractions:
        ``(K, *shape)`` float32 partial-volume fractions of each label (sum 1 per pixel), used to
        render smooth tissue boundaries; ``labels`` is their argmax.
    spacing:
        Pixel size of the working grid in mm (one per axis).
    info:
        What was drawn: number of lesions, axial level (brain 2D), ...
    """

    flavour: str
    labels: np.ndarray
    fractions: np.ndarray
    spacing: tuple[float, ...]
    info: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.labels.shape)


def _paint(fractions: np.ndarray, label: int, inside: np.ndarray, region=None) -> None:
    """Put tissue ``label`` with partial-volume fraction ``inside`` over whatever was there.

    Tissues are painted in increasing label order, so channels above ``label`` are still zero and
    only channels ``0..label`` need rescaling.
    """
    view = fractions[: label + 1] if region is None else fractions[(slice(0, label + 1), *region)]
    view *= 1.0 - inside
    view[label] += inside


def _argmax_labels(fractions: np.ndarray) -> np.ndarray:
    """``fractions.argmax(axis=0)`` as int64 (ties go to the lower label), a few times faster."""
    best = fractions[0].copy()
    labels = np.zeros(fractions.shape[1:], dtype=np.int64)
    for label in range(1, fractions.shape[0]):
        larger = fractions[label] > best
        labels[larger] = label
        np.maximum(best, fractions[label], out=best)
    return labels


# Geometric organs: (name, label, centre (z, y, x), semi-axes (z, y, x), in-plane angle in rad),
# coordinates in units of half the field of view, y pointing posterior (down the image), x to the
# image right. The liver sits on the image left, as radiology displays a patient's right side.
_ORGANS: tuple[tuple[str, int, tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ("body", 1, (0.0, 0.02, 0.0), (8.0, 0.62, 0.88), 0.0),
    ("liver", 2, (0.15, -0.05, -0.38), (0.65, 0.36, 0.32), 0.30),
    ("spleen", 3, (0.25, 0.05, 0.50), (0.35, 0.17, 0.12), -0.50),
    ("kidney", 4, (-0.20, 0.28, -0.32), (0.40, 0.13, 0.09), 0.40),
    ("kidney", 4, (-0.20, 0.28, 0.32), (0.40, 0.13, 0.09), -0.40),
    ("bone", 5, (0.0, 0.38, 0.0), (8.0, 0.11, 0.11), 0.0),
)
_GEOMETRIC_FOV_MM = (256.0, 384.0, 384.0)


def _ellipse_fraction(coords, centre, axes, angle, half_size) -> np.ndarray:
    """Partial-volume fraction of an ellipse/ellipsoid on a grid (soft edge one pixel wide)."""
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    y = coords[-2] - np.float32(centre[1])
    x = coords[-1] - np.float32(centre[2])
    u = (cos * x + sin * y) / np.float32(axes[2])
    v = (-sin * x + cos * y) / np.float32(axes[1])
    q2 = u * u + v * v
    if len(coords) == 3:
        w = (coords[0] - np.float32(centre[0])) / np.float32(axes[0])
        q2 += w * w
    q = np.sqrt(q2)
    # (1 - q) * (smallest in-plane semi-axis in pixels) approximates the distance to the edge.
    edge = np.float32(min(axes[1], axes[2]) * half_size)
    return np.clip((1.0 - q) * edge + 0.5, 0.0, 1.0, dtype=np.float32)


def _geometric_anatomy(shape, rng, deformation) -> tuple[np.ndarray, tuple[float, ...], dict]:
    ndim = len(shape)
    half = min(shape[-2:]) / 2.0
    # Normalised coordinates (in units of half the in-plane field of view), smoothly deformed.
    grids = _centred_grid(shape)
    coords = [g / np.float32(n / 2.0) for g, n in zip(grids, shape)]
    if deformation > 0:
        n_coarse = 4 if ndim == 3 else 5
        fields_ = _smooth_fields(rng, shape, n_coarse, [0.025 * deformation] * ndim)
        coords = [c + f for c, f in zip(coords, fields_)]
    fractions = np.zeros((len(LABELS["geometric"]), *shape), dtype=np.float32)
    fractions[0] = 1.0
    body_jitter = np.exp(rng.normal(0.0, 0.05 * deformation, 2))
    margin = 0.06 + 0.03 * deformation  # the coordinate deformation moves edges by about this much
    # All per-organ draws at once: centre shift (3), log axis scale (3), angle change (1).
    draws = rng.standard_normal((len(_ORGANS), 7)) * deformation * np.repeat([0.03, 0.08, 0.12], [3, 3, 1])
    for (name, label, centre, axes, angle), draw in zip(_ORGANS, draws):
        centre = np.asarray(centre) + draw[:3]
        axes = np.asarray(axes) * np.exp(draw[3:6])
        axes[1:] *= body_jitter
        if name != "body":
            # Organs move and scale with the body so that they stay inside it.
            centre[1:] *= body_jitter
        angle = angle + draw[6]
        # Evaluate each organ only in its bounding box (plus a margin): most of the grid is far away.
        region = []
        for axis, n in enumerate(shape):
            reach = (axes[0] if ndim == 3 and axis == 0 else max(axes[1:])) + margin
            centre_axis = centre[axis + 3 - ndim]
            low = int(np.floor((centre_axis - reach) * n / 2.0 + (n - 1) / 2.0))
            high = int(np.ceil((centre_axis + reach) * n / 2.0 + (n - 1) / 2.0)) + 1
            region.append(slice(max(low, 0), min(high, n)))
        region = tuple(region)
        if any(r.start >= r.stop for r in region):
            continue
        local = [c[region] for c in coords]
        _paint(fractions, label, _ellipse_fraction(local, centre, axes, angle, half), region)
    spacing = tuple(fov / n for fov, n in zip(_GEOMETRIC_FOV_MM[-ndim:], shape))
    return fractions, spacing, {}


@lru_cache(maxsize=8)
def _brain_atlas(grid: tuple[int, int, int]) -> tuple[np.ndarray, torch.Tensor, tuple[float, float, float], tuple[float, float]]:
    """MNI152 tissue fractions resampled to a working grid, cached.

    ``grid`` is ``(D, H, W)``; ``D = 0`` asks for isotropic voxels and as many axial slices as the
    brain needs (the 2D case). Returns ``(fractions (4, D, H, W), tissue tensor (1, 3, D, H, W),
    spacing, (z_low, z_high))`` with the label order background, csf, gm, wm, and the first and last slice
    index that contains brain.
    """
    from .data import load_mni152

    template = load_mni152(1)
    index = np.argwhere(template.brain_mask)
    low, high = index.min(axis=0).astype(float), index.max(axis=0).astype(float)
    extent = high - low + 1.0  # (x, y, z) in mm: the template has 1 mm voxels
    centre = (low + high) / 2.0
    depth, height, width = grid
    step = 1.08 * max(extent[0] / width, extent[1] / height)
    if depth == 0:
        step_z = step
        depth = int(np.ceil(extent[2] / step_z)) + 2
    else:
        step_z = 1.04 * extent[2] / depth
    kz, ky, kx = np.meshgrid(
        np.arange(depth) - (depth - 1) / 2.0,
        np.arange(height) - (height - 1) / 2.0,
        np.arange(width) - (width - 1) / 2.0,
        indexing="ij",
    )
    # Array axes: slice = inferior -> superior, row = anterior -> posterior, column = x (left -> right).
    coordinates = np.stack([centre[0] + kx * step, centre[1] - ky * step, centre[2] + kz * step_z])
    sigma = (0.3 * step, 0.3 * step, 0.3 * step_z)
    maps = []
    for volume in (template.csf, template.gm, template.wm):
        smoothed = ndimage.gaussian_filter(volume.astype(np.float32), sigma=sigma, mode="constant")
        maps.append(ndimage.map_coordinates(smoothed, coordinates, order=1, mode="constant", cval=0.0))
    tissue = np.clip(np.stack(maps).astype(np.float32), 0.0, 1.0)
    total = tissue.sum(axis=0)
    over = total > 1.0
    tissue[:, over] /= total[over]
    fractions = np.concatenate([1.0 - tissue.sum(axis=0, keepdims=True), tissue]).astype(np.float32)
    fractions[0] = np.clip(fractions[0], 0.0, 1.0)
    # torch's grid_sample is the fastest trilinear interpolation at hand (one C++ call for all
    # tissue channels); the tensor shares memory with ``fractions``.
    tissue_tensor = torch.from_numpy(np.ascontiguousarray(fractions[1:]))[None]
    brain_slices = np.flatnonzero((fractions[0] < 0.5).any(axis=(1, 2)))
    z_range = (float(brain_slices[0]), float(brain_slices[-1]))
    fractions.setflags(write=False)
    return fractions, tissue_tensor, (float(step_z), float(step), float(step)), z_range


def _sample_tissues(tissues: torch.Tensor, z: np.ndarray, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Trilinear samples of the atlas tissue channels at voxel positions; returns ``(3, *z.shape)``.

    Positions outside the atlas take the value at its border (background there). For a 2D slice,
    the atlas is read as a mosaic of its axial slices stacked vertically, ``(D*H, W)``: two bilinear
    samples (slice below and slice above each point) blended along z give the trilinear value, and
    torch's 2D sampler is several times faster than its 3D one.
    """
    depth, height, width = tissues.shape[2:]
    if z.ndim == 2:
        z = np.clip(z, 0.0, depth - 1.0001)
        y = np.clip(y, 0.0, height - 1.0)
        below = np.floor(z)
        weight = (z - below).astype(np.float32)
        rows = below * height + y
        grid = np.empty((1, 2 * z.shape[0], z.shape[1], 2), dtype=np.float32)
        grid[0, : z.shape[0], :, 0] = x * np.float32(2.0 / (width - 1)) - 1
        grid[0, z.shape[0]:, :, 0] = grid[0, : z.shape[0], :, 0]
        scale = np.float32(2.0 / (depth * height - 1))
        grid[0, : z.shape[0], :, 1] = rows * scale - 1
        grid[0, z.shape[0]:, :, 1] = (rows + height) * scale - 1
        mosaic = tissues.view(1, 3, depth * height, width)
        out = torch.nn.functional.grid_sample(mosaic, torch.from_numpy(grid), mode="bilinear", padding_mode="border", align_corners=True)
        out = out[0].numpy()
        return out[:, : z.shape[0]] * (1.0 - weight) + out[:, z.shape[0]:] * weight
    grid = np.stack(
        [x * np.float32(2.0 / (width - 1)) - 1, y * np.float32(2.0 / (height - 1)) - 1, z * np.float32(2.0 / (depth - 1)) - 1],
        axis=-1,
    ).astype(np.float32, copy=False)
    # No autograd context is needed: neither tensor requires a gradient.
    out = torch.nn.functional.grid_sample(tissues, torch.from_numpy(grid[None]), mode="bilinear", padding_mode="border", align_corners=True)
    return out[0].numpy().reshape(3, *z.shape)


def _rotation(angles: np.ndarray) -> np.ndarray:
    """3x3 rotation in (z, y, x) axes from three small angles (about z, y and x)."""
    a, b, c = angles
    rz = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rx = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _brain_anatomy(shape, rng, deformation, level_range) -> tuple[np.ndarray, tuple[float, ...], dict]:
    two_d = len(shape) == 2
    grid = (0, *shape) if two_d else tuple(shape)
    atlas, tissues, spacing, (z_low, z_high) = _brain_atlas(grid)
    dims = atlas.shape[1:]
    d = deformation
    info: dict = {}
    if two_d:
        height, width = shape
        yy, xx = _centred_grid(shape)
        theta = float(np.clip(rng.normal(0.0, 0.08 * d), -0.3, 0.3))
        scale = np.exp(np.clip(rng.normal(0.0, 0.05 * d, 2), -0.15, 0.15))
        shift = rng.normal(0.0, 1.0 * d, 2)
        tilt = rng.normal(0.0, 0.04 * d, 2)
        level = float(rng.uniform(*level_range))
        z_centre = z_low + level * (z_high - z_low)
        cos, sin = np.float32(np.cos(theta)), np.float32(np.sin(theta))
        sy, sx = (np.float32(1.0 / s) for s in scale)
        y = (cos * yy - sin * xx) * sy + np.float32((height - 1) / 2 + shift[0])
        x = (sin * yy + cos * xx) * sx + np.float32((width - 1) / 2 + shift[1])
        z = np.float32(z_centre) + np.float32(tilt[0]) * yy + np.float32(tilt[1]) * xx
        if d > 0:
            dy, dx, dz = _smooth_fields(rng, shape, 5, (1.0 * d, 1.0 * d, 0.5 * d))
            y, x, z = y + dy, x + dx, z + dz
        info.update(level=level, slice_index=z_centre)
    else:
        zz, yy, xx = _centred_grid(tuple(shape))
        step = np.asarray(spacing, dtype=np.float32)
        angles = np.clip(rng.normal(0.0, [0.08 * d, 0.03 * d, 0.03 * d]), -0.3, 0.3)
        scale = np.exp(np.clip(rng.normal(0.0, 0.05 * d, 3), -0.15, 0.15))
        matrix = (_rotation(angles) / scale[None, :]).astype(np.float32)
        mm = [zz * step[0], yy * step[1], xx * step[2]]
        shift = rng.normal(0.0, 1.0 * d, 3)
        sampled = []
        for axis in range(3):
            value = matrix[axis, 0] * mm[0] + matrix[axis, 1] * mm[1] + matrix[axis, 2] * mm[2]
            value = value / step[axis] + np.float32((dims[axis] - 1) / 2 + shift[axis])
            if d > 0:
                value = value + _smooth_field(rng, tuple(shape), 4, (0.5 if axis == 0 else 1.0) * d)
            sampled.append(value)
        z, y, x = sampled
    out = np.empty((len(LABELS["brain"]), *shape), dtype=np.float32)
    out[1:4] = _sample_tissues(tissues, z, y, x)
    out[0] = np.clip(1.0 - out[1:4].sum(axis=0), 0.0, 1.0)
    out[4] = 0.0
    return out, (spacing[1], spacing[2]) if two_d else spacing, info


def _add_lesions(fractions, host: int, lesion: int, rng, rate, radius_range, z_scale=1.0) -> int:
    """Add ``Poisson(rate)`` soft discs/balls of tissue ``lesion`` centred in tissue ``host``."""
    count = int(rng.poisson(rate)) if rate > 0 else 0
    if count == 0:
        return 0
    candidates = np.flatnonzero(fractions[host].ravel() > 0.6)
    if candidates.size == 0:
        return 0
    shape = fractions.shape[1:]
    picks = candidates[rng.integers(0, candidates.size, size=count)]
    radii = rng.uniform(radius_range[0], radius_range[1], size=count)
    jitter = rng.uniform(-0.5, 0.5, size=(count, len(shape)))
    for pick, radius, offset in zip(picks, radii, jitter):
        centre = np.array(np.unravel_index(pick, shape), dtype=np.float64) + offset
        scales = np.ones(len(shape))
        if len(shape) == 3:
            scales[0] = z_scale
        reach = np.ceil(radius / scales + 1.5).astype(int)
        lows = np.maximum(np.floor(centre).astype(int) - reach, 0)
        highs = np.minimum(np.floor(centre).astype(int) + reach + 1, shape)
        region = tuple(slice(lo, hi) for lo, hi in zip(lows, highs))
        squared = 0.0
        for axis, (lo, hi, c, scale) in enumerate(zip(lows, highs, centre, scales)):
            offsets = ((np.arange(lo, hi) - c) * scale) ** 2
            squared = squared + offsets.reshape([-1 if k == axis else 1 for k in range(len(shape))])
        distance = np.sqrt(squared)
        inside = np.clip(radius + 0.5 - distance, 0.0, 1.0).astype(np.float32)
        _paint(fractions, lesion, inside, region)
    return count


def make_anatomy(
    flavour: str = "brain",
    shape: Sequence[int] = (64, 64),
    seed: int | np.random.Generator = 0,
    lesion_rate: float = 1.0,
    lesion_radius: tuple[float, float] = (1.0, 3.0),
    deformation: float = 1.0,
    level_range: tuple[float, float] = (0.4, 0.8),
) -> Anatomy:
    """A random subject's anatomy.

    Parameters
    ----------
    flavour:
        ``"geometric"`` (body, liver, spleen, kidneys, vertebra; lesions in the liver) or
        ``"brain"`` (MNI152 CSF/GM/WM; lesions in the white matter).
    shape:
        ``(H, W)`` for a 2D scan, ``(D, H, W)`` for a volume; each size between 8 and 512.
    seed:
        int seed or a ``numpy.random.Generator``; the same seed gives the same anatomy.
    lesion_rate:
        Expected number of lesions per scan (Poisson mean), in [0, 100]. 0 gives no lesion.
    lesion_radius:
        ``(min, max)`` lesion radius in in-plane pixels of the working grid, in [0.5, 20];
        radii are drawn uniformly.
    deformation:
        Scale of the random per-subject variation, in [0, 3] (0 = the undeformed template for
        the brain, the mean shapes for the geometric anatomy; 1 = the default variability).
    level_range:
        Brain, 2D only: the axial level is drawn uniformly in this range of fractions of the
        brain's inferior-superior extent (0 = lowest slice with brain, 1 = top), within [0, 1].
    """
    flavour = _check_flavour(flavour)
    shape = _check_shape(shape)
    rng = _rng(seed)
    lesion_rate = _check_real(lesion_rate, "lesion_rate", 0.0, 100.0)
    lesion_radius = _check_pair(lesion_radius, "lesion_radius", 0.5, 20.0)
    deformation = _check_real(deformation, "deformation", 0.0, 3.0)
    level_range = _check_pair(level_range, "level_range", 0.0, 1.0)
    if flavour == "geometric":
        fractions, spacing, info = _geometric_anatomy(shape, rng, deformation)
        host, lesion = 2, 6
        z_scale = spacing[0] / spacing[1] if len(shape) == 3 else 1.0
    else:
        fractions, spacing, info = _brain_anatomy(shape, rng, deformation, level_range)
        host, lesion = 3, 4
        z_scale = spacing[0] / spacing[1] if len(shape) == 3 else 1.0
    info["n_lesions"] = _add_lesions(fractions, host, lesion, rng, lesion_rate, lesion_radius, z_scale)
    labels = _argmax_labels(fractions)
    return Anatomy(flavour=flavour, labels=labels, fractions=fractions, spacing=tuple(float(s) for s in spacing), info=info)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def render(
    anatomy: Anatomy,
    scanner: str | ScannerProfile = "T1",
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Render an anatomy with a scanner: float32 image with the labels' shape.

    Steps, in the order a scanner applies them: tissue means mixed by partial-volume fractions,
    smooth within-tissue texture, acquisition resolution and point-spread blur, smooth
    multiplicative bias field (coil sensitivity), Rician noise (magnitude of a complex signal with
    Gaussian noise), then ``gain * x + offset``.
    """
    if not isinstance(anatomy, Anatomy):
        raise TypeError(f"anatomy must be an Anatomy from make_anatomy, got {type(anatomy).__name__}")
    profile = get_scanner(scanner)
    rng = _rng(seed)
    shape = anatomy.labels.shape
    means = profile.means_for(anatomy.flavour)
    if anatomy.fractions.shape != (len(means), *shape):
        raise ValueError(f"anatomy.fractions must have shape {(len(means), *shape)}, got {anatomy.fractions.shape}")
    image = np.tensordot(means, anatomy.fractions, axes=1)
    n_coarse = max(4, min(shape) // 6)
    if profile.tissue_std > 0:
        image *= 1.0 + _smooth_field(rng, shape, n_coarse, profile.tissue_std)
    if profile.resolution > 1.0:
        low = ndimage.zoom(image, 1.0 / profile.resolution, order=1, mode="nearest", grid_mode=True)
        image = ndimage.zoom(low, [n / m for n, m in zip(shape, low.shape)], order=1, mode="nearest", grid_mode=True)
    if profile.blur_sigma > 0:
        if image.ndim == 2:
            rows, cols = (_blur_matrix(n, profile.blur_sigma) for n in shape)
            image = rows @ image @ cols.T
        else:
            image = ndimage.gaussian_filter(image, profile.blur_sigma, mode="nearest", truncate=3.0)
    if profile.bias_strength > 0:
        bias = _smooth_field(rng, shape, 3, 1.0)
        bias /= max(float(np.abs(bias).max()), 1e-6)
        image *= 1.0 + np.float32(profile.bias_strength) * bias
    if profile.noise_std > 0:
        noise = rng.standard_normal((2, *shape), dtype=np.float32) * np.float32(profile.noise_std)
        image = np.sqrt((image + noise[0]) ** 2 + noise[1] ** 2)
    image = np.float32(profile.gain) * image + np.float32(profile.offset)
    return image.astype(np.float32, copy=False)


def _scanner_spec(scanner) -> tuple[list, bool]:
    """Normalise ``scanner`` to a list of profiles or ``"random"`` markers, and say if it was a list."""
    if isinstance(scanner, (str, ScannerProfile)):
        items, multi = [scanner], False
    elif isinstance(scanner, Sequence) and len(scanner) > 0:
        items, multi = list(scanner), True
    else:
        raise TypeError(
            f"scanner must be a name, a ScannerProfile, 'random', or a non-empty list of them, got {scanner!r}"
        )
    return [item if (isinstance(item, str) and item == "random") else get_scanner(item) for item in items], multi


def _scan(entropy: tuple[int, ...], flavour, shape, scanners, multi, anatomy_kwargs) -> tuple[np.ndarray, np.ndarray]:
    # One generator per scan; the anatomy draws first, so the labels do not depend on the scanners.
    rng = np.random.default_rng(list(entropy))
    anatomy = make_anatomy(flavour, shape, rng, **anatomy_kwargs)
    images = []
    for profile in scanners:
        if isinstance(profile, str):
            profile = random_scanner(rng)
        images.append(render(anatomy, profile, rng))
    image = np.stack(images) if multi else images[0]
    return image, anatomy.labels


def make_scan(
    flavour: str = "brain",
    shape: Sequence[int] = (64, 64),
    scanner: str | ScannerProfile | Sequence[str | ScannerProfile] = "T1",
    seed: int = 0,
    lesion_rate: float = 1.0,
    lesion_radius: tuple[float, float] = (1.0, 3.0),
    deformation: float = 1.0,
    level_range: tuple[float, float] = (0.4, 0.8),
) -> tuple[np.ndarray, np.ndarray]:
    """One synthetic scan and its label map: ``(image, labels)``.

    ``image`` is float32 with ``shape`` for one scanner, or ``(C, *shape)`` when ``scanner`` is a
    list (the same subject scanned by C scanners/sequences, e.g. ``["T1", "T2", "FLAIR"]``);
    ``"random"`` (alone or in the list) draws a random profile (see ``random_scanner``).
    ``labels`` is int64 with ``shape``. The anatomy depends only on ``seed`` and the anatomy
    arguments, so the same seed with another scanner gives the same labels.
    See ``make_anatomy`` for the other parameters.
    """
    seed = _check_seed(seed)
    scanners, multi = _scanner_spec(scanner)
    kwargs = dict(lesion_rate=lesion_rate, lesion_radius=lesion_radius, deformation=deformation, level_range=level_range)
    return _scan((seed,), flavour, shape, scanners, multi, kwargs)


def make_scans(
    n: int,
    flavour: str = "brain",
    shape: Sequence[int] = (64, 64),
    scanner: str | ScannerProfile | Sequence[str | ScannerProfile] = "T1",
    seed: int = 0,
    **anatomy_kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scans stacked: images ``(n, *shape)`` (or ``(n, C, *shape)``), labels ``(n, *shape)``.

    Scan ``i`` is generated from the seed pair ``(seed, i)``, so the first k scans do not depend
    on ``n``, and ``make_scans(n, seed=s)[i]`` equals ``PhantomDataset(n, seed=s, normalise=False)[i]``.
    ``scanner="random"`` draws a new random profile per scan. ``anatomy_kwargs`` are those of
    ``make_anatomy`` (``lesion_rate``, ``lesion_radius``, ``deformation``, ``level_range``).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"n must be a positive int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be a positive int, got {n}")
    seed = _check_seed(seed)
    flavour = _check_flavour(flavour)
    shape = _check_shape(shape)
    unknown = set(anatomy_kwargs) - {"lesion_rate", "lesion_radius", "deformation", "level_range"}
    if unknown:
        raise TypeError(f"unknown keyword argument(s) {sorted(unknown)} for make_anatomy")
    scanners, multi = _scanner_spec(scanner)
    images, labels = [], []
    for index in range(int(n)):
        image, label = _scan((seed, index), flavour, shape, scanners, multi, anatomy_kwargs)
        images.append(image)
        labels.append(label)
    return np.stack(images), np.stack(labels)


class PhantomDataset(torch.utils.data.Dataset):
    """A torch Dataset of ``n`` synthetic scans, generated on demand and deterministic by index.

    Item ``i`` is ``(image, labels)``: ``image`` float32 ``(C, *shape)`` (C = 1 for one scanner,
    or the number of scanners when ``scanner`` is a list), ``labels`` int64 ``(*shape)``.
    ``scanner="random"`` gives every item its own random profile (domain randomisation).
    ``normalise=True`` z-scores each channel of each image (statistics over the whole image, not
    inside a foreground mask: every phantom has the same field of view and inference then needs no
    mask; the price is that a tissue's z-value shifts with the share of the image the body or brain
    covers, which notebook 6.1 measures. Real data with varying fields of view should use a mask).
    ``cache=True`` keeps generated items in memory (same values, faster later epochs).

    Parameters are those of ``make_scan``; ``seed`` picks the set of subjects, so two datasets
    with different seeds (train / test) share no subject, and two with the same seed but different
    scanners show the same subjects (item ``i`` has the same labels).
    """

    def __init__(
        self,
        n: int,
        flavour: str = "brain",
        shape: Sequence[int] = (64, 64),
        scanner: str | ScannerProfile | Sequence[str | ScannerProfile] = "T1",
        seed: int = 0,
        normalise: bool = True,
        lesion_rate: float = 1.0,
        lesion_radius: tuple[float, float] = (1.0, 3.0),
        deformation: float = 1.0,
        level_range: tuple[float, float] = (0.4, 0.8),
        cache: bool = False,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"n must be a positive int, got {type(n).__name__}")
        if n < 1:
            raise ValueError(f"n must be a positive int, got {n}")
        if not isinstance(normalise, bool) or not isinstance(cache, bool):
            raise TypeError("normalise and cache must be bools")
        self.n = int(n)
        self.flavour = _check_flavour(flavour)
        self.shape = _check_shape(shape)
        self.seed = _check_seed(seed)
        self.scanners, self._multi = _scanner_spec(scanner)
        self.normalise = normalise
        self.anatomy_kwargs = dict(
            lesion_rate=_check_real(lesion_rate, "lesion_rate", 0.0, 100.0),
            lesion_radius=_check_pair(lesion_radius, "lesion_radius", 0.5, 20.0),
            deformation=_check_real(deformation, "deformation", 0.0, 3.0),
            level_range=_check_pair(level_range, "level_range", 0.0, 1.0),
        )
        self.labels_map = dict(LABELS[self.flavour])
        self.num_classes = len(self.labels_map)
        self.in_channels = len(self.scanners)
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] | None = {} if cache else None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(index, torch.Tensor) and index.ndim == 0:
            index = int(index)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if index < 0:
            index += self.n
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for a dataset of {self.n} scans")
        index = int(index)
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        image, labels = _scan((self.seed, index), self.flavour, self.shape, self.scanners, True, self.anatomy_kwargs)
        if self.normalise:
            for channel in image:  # in place, one channel at a time
                mean, std = float(channel.mean()), float(channel.std())
                channel -= np.float32(mean)
                channel *= np.float32(1.0 / (std + 1e-6))
        item = (torch.from_numpy(image), torch.from_numpy(labels))
        if self._cache is not None:
            self._cache[index] = item
        return item

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All items stacked: images float32 ``(n, C, *shape)`` and labels int64 ``(n, *shape)``.

        For data sets small enough to hold in memory, so a notebook can index, batch and move them
        to the device as whole tensors (``TensorDataset``) instead of generating items per epoch.
        """
        images, labels = zip(*(self[i] for i in range(self.n)))
        return torch.stack(images), torch.stack(labels)
