"""A small, readable training loop shared by every chapter that trains a network.

``fit`` is deliberately short enough to read in class: move the batch to the device, forward,
loss, backward, step; then evaluate on the validation loader. It adds what a beginner's loop
usually lacks: a progress bar (tqdm.auto, so it renders in Jupyter and in a terminal; one bar per
run, so an executed notebook keeps a single progress widget rather than one per epoch), a
per-epoch ``History`` of losses and metrics, mixed precision on CUDA, and the elapsed time.

A metric is any callable ``metric(output, target) -> float`` computed on one batch; ``fit``
averages it over the validation set weighted by batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from .device import describe_device, get_device

Metric = Callable[[torch.Tensor, torch.Tensor], float | torch.Tensor]

__all__ = ["History", "fit", "evaluate", "predict", "predict_proba", "predict_labels"]


@dataclass
class History:
    """Per-epoch record of a training run.

    ``values`` maps a name (``"train_loss"``, ``"val_loss"``, ``"val_<metric>"``) to one float per
    epoch. ``history["val_loss"]`` reads a series; ``history.last("val_dice")`` its final value.
    """

    values: dict[str, list[float]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    device: str = "cpu"

    def append(self, name: str, value: float) -> None:
        self.values.setdefault(name, []).append(float(value))

    def __getitem__(self, name: str) -> list[float]:
        if name not in self.values:
            raise KeyError(f"no series {name!r} in this history; it has {sorted(self.values)}")
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def keys(self) -> list[str]:
        return list(self.values)

    @property
    def epochs(self) -> int:
        return max((len(v) for v in self.values.values()), default=0)

    def last(self, name: str) -> float:
        return self[name][-1]

    def best(self, name: str, mode: str = "min") -> float:
        if mode not in {"min", "max"}:
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        series = self[name]
        return min(series) if mode == "min" else max(series)


def _to_device(batch, device: torch.device):
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, Mapping):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _split_batch(batch) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(batch, (list, tuple)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(
        "each batch must be a tuple (inputs, targets), as a TensorDataset yields; "
        f"got {type(batch).__name__}"
    )


def _autocast(device: torch.device, amp: bool):
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext()


def _check_loader(loader, name: str) -> None:
    if not isinstance(loader, Iterable):
        raise TypeError(f"{name} must be an iterable of (inputs, targets) batches, got {type(loader).__name__}")
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return
    if n == 0:
        raise ValueError(f"{name} is empty: expected at least one batch")


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    metrics: Mapping[str, Metric] | None = None,
    device: torch.device | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """Average ``loss`` and each metric over ``loader`` (weighted by batch size), in eval mode."""
    _check_loader(loader, "loader")
    device = get_device() if device is None else torch.device(device)
    amp = device.type == "cuda" if amp is None else amp
    metrics = dict(metrics or {})
    was_training = model.training
    model.eval()
    totals: dict[str, float] = {}
    count = 0
    for batch in loader:
        inputs, targets = _split_batch(_to_device(batch, device))
        with _autocast(device, amp):
            outputs = model(inputs)
        outputs = outputs.float()
        n = int(inputs.shape[0])
        count += n
        if loss_fn is not None:
            totals["loss"] = totals.get("loss", 0.0) + float(loss_fn(outputs, targets)) * n
        for name, metric in metrics.items():
            totals[name] = totals.get(name, 0.0) + float(metric(outputs, targets)) * n
    model.train(was_training)
    return {name: total / count for name, total in totals.items()}


def _input_batches(data, batch_size: int):
    """Yield input batches from a tensor (split along dim 0) or from a loader (first element of each batch)."""
    if isinstance(data, torch.Tensor):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if data.ndim < 2 or len(data) == 0:
            raise ValueError(f"data must be a non-empty tensor of inputs (N, ...), got shape {tuple(data.shape)}")
        for start in range(0, len(data), batch_size):
            yield data[start:start + batch_size]
        return
    _check_loader(data, "data")
    for batch in data:
        yield batch[0] if isinstance(batch, (list, tuple)) else batch


@torch.no_grad()
def predict(model: torch.nn.Module, data, device: torch.device | None = None, batch_size: int = 64) -> torch.Tensor:
    """The model's outputs for every input, concatenated on the CPU as float32, in eval mode.

    data: a tensor of inputs ``(N, ...)``, run in batches of ``batch_size``, or a loader whose
    batches are inputs or ``(inputs, targets, ...)`` tuples. The model's train/eval mode is restored.
    """
    device = get_device() if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        outputs = [model(inputs.to(device)).float().cpu() for inputs in _input_batches(data, batch_size)]
    finally:
        model.train(was_training)
    return torch.cat(outputs)


def predict_proba(model: torch.nn.Module, data, device: torch.device | None = None, batch_size: int = 64) -> torch.Tensor:
    """Class probabilities: the softmax over dim 1 of ``predict`` (for a segmentation net ``(N, C, H, W)``)."""
    return torch.softmax(predict(model, data, device, batch_size), dim=1)


def predict_labels(model: torch.nn.Module, data, device: torch.device | None = None, batch_size: int = 64) -> torch.Tensor:
    """The most probable class per item (or pixel): the argmax over dim 1 of ``predict``, int64."""
    return predict(model, data, device, batch_size).argmax(dim=1)


def fit(
    model: torch.nn.Module,
    train_loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    val_loader: Iterable | None = None,
    metrics: Mapping[str, Metric] | None = None,
    device: torch.device | None = None,
    amp: bool | None = None,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train_loader`` and return its ``History``.

    Parameters
    ----------
    model, loss_fn, optimizer:
        The usual trio; the model is moved to ``device`` here (the optimizer keeps working because
        ``Module.to`` moves parameters in place).
    epochs:
        Number of passes over the training data (a positive int).
    val_loader, metrics:
        When given, ``val_loss`` and ``val_<name>`` for each metric are recorded after every epoch.
        Metrics are also computed on training batches as ``train_<name>``.
    device:
        Defaults to ``get_device()``.
    amp:
        Mixed precision (float16 autocast with gradient scaling). Defaults to on for CUDA and off
        elsewhere, where it would not speed anything up.
    scheduler:
        Stepped once per epoch.
    progress, verbose:
        Show one tqdm bar over the epochs (the current batch in its postfix); print the device and the
        elapsed time at the end.
    """
    if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    _check_loader(train_loader, "train_loader")
    if val_loader is not None:
        _check_loader(val_loader, "val_loader")
    device = get_device() if device is None else torch.device(device)
    amp = device.type == "cuda" if amp is None else bool(amp)
    metrics = dict(metrics or {})
    model.to(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp and device.type == "cuda")
    history = History(device=describe_device(device))
    start = time.perf_counter()

    epoch_bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=True)
    for _epoch in epoch_bar:
        model.train()
        totals: dict[str, float] = {}
        count = 0
        n_batches = len(train_loader) if hasattr(train_loader, "__len__") else None
        for step, batch in enumerate(train_loader, start=1):
            if progress:  # one bar for the whole run: batch progress goes into its postfix
                epoch_bar.set_postfix_str(f"batch {step}/{n_batches or '?'}", refresh=step == 1 or step == n_batches)
            inputs, targets = _split_batch(_to_device(batch, device))
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device, amp):
                outputs = model(inputs)
                loss = loss_fn(outputs, targets)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {loss.item()} in epoch {_epoch}; "
                    "lower the learning rate or check the inputs for NaN"
                )
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            n = int(inputs.shape[0])
            count += n
            totals["loss"] = totals.get("loss", 0.0) + float(loss.detach()) * n
            with torch.no_grad():
                for name, metric in metrics.items():
                    totals[name] = totals.get(name, 0.0) + float(metric(outputs.detach().float(), targets)) * n
        for name, total in totals.items():
            history.append(f"train_{name}", total / count)
        if val_loader is not None:
            for name, value in evaluate(model, val_loader, loss_fn, metrics, device, amp).items():
                history.append(f"val_{name}", value)
        if scheduler is not None:
            scheduler.step()
        epoch_bar.set_postfix({k: f"{v[-1]:.4g}" for k, v in history.values.items() if k.endswith("loss")})
    history.elapsed_s = time.perf_counter() - start
    if verbose:
        print(f"trained {epochs} epochs on {history.device} in {history.elapsed_s:.1f} s")
    return history
