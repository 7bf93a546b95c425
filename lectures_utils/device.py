"""Choosing the compute device, seeding every random generator, and DataLoader defaults.

Every notebook calls ``get_device()`` once in its setup cell, so the same notebook runs on
CUDA, Apple MPS or the CPU without edits. Set the environment variable ``LECTURES_DEVICE``
(``cpu``, ``cuda``, ``cuda:1``, ``mps``) to override the automatic choice, for example to run
the book on the CPU on a machine that has a GPU.

The training seed works the same way: a notebook's setup cell reads it with ``SEED = book_seed()``
(0 unless the environment variable ``LECTURES_SEED`` says otherwise) and derives every training seed
from it, so the seed sweep (``make seeds``) and a curious reader can re-run a notebook with other
seeds without editing it.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch

DEVICE_ENV_VAR = "LECTURES_DEVICE"
SEED_ENV_VAR = "LECTURES_SEED"

__all__ = [
    "DEVICE_ENV_VAR",
    "SEED_ENV_VAR",
    "get_device",
    "book_seed",
    "seed_everything",
    "loader_kwargs",
    "make_loader",
    "TransformedLoader",
    "describe_device",
]


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(prefer: str | None = None) -> torch.device:
    """Return the device the book computes on: CUDA, then MPS, then CPU.

    Parameters
    ----------
    prefer:
        An explicit device string (``"cpu"``, ``"cuda"``, ``"cuda:0"``, ``"mps"``). When omitted,
        the environment variable ``LECTURES_DEVICE`` is read, and when that is unset the best
        available device is chosen.

    Raises
    ------
    ValueError
        If the requested device is not a known device type or is not available on this machine.
    """
    requested = prefer if prefer is not None else os.environ.get(DEVICE_ENV_VAR, "").strip()
    if requested:
        if not isinstance(requested, str):
            raise TypeError(f"prefer must be a device string such as 'cpu' or 'cuda', got {type(requested).__name__}")
        try:
            device = torch.device(requested.lower())
        except RuntimeError as err:
            raise ValueError(
                f"unknown device {requested!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'"
            ) from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {requested!r} was requested but CUDA is not available here")
        if device.type == "mps" and not _mps_available():
            raise ValueError(f"device {requested!r} was requested but MPS is not available here")
        if device.type not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"unsupported device {requested!r}: expected 'cpu', 'cuda', 'cuda:N' or 'mps'")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def describe_device(device: torch.device | None = None) -> str:
    """A one-line human description of ``device`` (name of the GPU, or CPU thread count)."""
    device = get_device() if device is None else torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return f"cpu ({torch.get_num_threads()} threads)"


def book_seed(default: int = 0) -> int:
    """The training seed of this run: ``$LECTURES_SEED`` when set, else ``default`` (0).

    Notebooks call it once in the setup cell (``SEED = book_seed()``) and derive the seeds of weight
    initialisation, shuffling and dropout from it (``SEED``, ``SEED + 1``, ...). Seeds that define a
    data set (a phantom cohort, a train/test split) stay fixed, so a sweep over ``SEED`` measures how
    much a result depends on training randomness, on the same data.

    Raises
    ------
    ValueError
        If ``LECTURES_SEED`` is set but is not an integer in ``[0, 2**31)``.
    """
    raw = os.environ.get(SEED_ENV_VAR, "").strip()
    if not raw:
        value = default
    else:
        try:
            value = int(raw)
        except ValueError as err:
            raise ValueError(f"{SEED_ENV_VAR} must be a non-negative integer such as 0 or 3, got {raw!r}") from err
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"default must be an int, got {type(value).__name__}")
    if not 0 <= int(value) < 2**31:
        raise ValueError(f"the training seed must be in [0, 2**31), got {value} (from {SEED_ENV_VAR} or default)")
    return int(value)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's legacy global generator and torch (CPU and CUDA).

    Returns a fresh ``numpy.random.Generator`` seeded with ``seed``: new code should draw from it
    rather than from the legacy global state.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    return np.random.default_rng(seed)


def loader_kwargs(device: torch.device | None = None) -> dict[str, Any]:
    """DataLoader keyword arguments that work on Windows, macOS and Linux alike.

    ``num_workers=0`` keeps loading in the notebook's own process (worker processes break in
    Jupyter on Windows and macOS); ``pin_memory`` is switched on only for CUDA.
    """
    device = get_device() if device is None else torch.device(device)
    return {"num_workers": 0, "pin_memory": device.type == "cuda"}


def make_loader(
    dataset: torch.utils.data.Dataset,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int | None = 0,
    device: torch.device | None = None,
    drop_last: bool = False,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` with the book's defaults and, when shuffling, a seeded order."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    generator = None
    if shuffle and seed is not None:
        generator = torch.Generator().manual_seed(int(seed))
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        drop_last=drop_last,
        **loader_kwargs(device),
    )


class TransformedLoader:
    """Wraps a loader and transforms every batch afresh: random augmentation, dropped MR sequences, ...

    ``transform(*batch, generator)`` receives the batch's tensors (``x, y`` for a ``(x, y)`` loader, ``x``
    for ``(x,)``) and a ``torch.Generator`` seeded once with ``seed``, and returns the new batch. Every
    epoch therefore sees new random draws, while two runs with the same seed see the same ones.
    ``len()`` is the wrapped loader's, so ``fit`` and progress bars work unchanged.
    """

    def __init__(self, loader: Iterable, transform: Callable, seed: int = 0) -> None:
        if not isinstance(loader, Iterable):
            raise TypeError(f"loader must be an iterable of batches, got {type(loader).__name__}")
        if not callable(transform):
            raise TypeError(f"transform must be callable as transform(*batch, generator), got {type(transform).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.loader, self.transform = loader, transform
        self.generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return len(self.loader)  # type: ignore[arg-type]

    def __iter__(self):
        for batch in self.loader:
            yield self.transform(*(batch if isinstance(batch, (list, tuple)) else (batch,)), self.generator)
