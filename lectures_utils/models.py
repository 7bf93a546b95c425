"""Small segmentation networks that chapter 6 trains and compares, and two counting helpers.

All networks are channels-first and return raw class scores (logits) of the input's spatial size:
2D nets map (N, C_in, H, W) -> (N, n_classes, H, W); 3D nets map (N, C_in, D, H, W) ->
(N, n_classes, D, H, W). Widths are small on purpose (base 8-16) so the book trains them on a CPU.

- ``UNet``: configurable 2D/3D U-Net (concatenated skips, transposed-convolution upsampling).
- ``FCN``: FCN-32s/16s/8s-style net (1x1 classifiers, bilinear upsampling, additive skip fusion).
- ``VNet``: V-Net-style 3D net (residual stages, strided-convolution downsampling).
- ``PyramidPooling`` and ``PSPNet``: PSPNet's pyramid pooling module on a small backbone.
- ``UNetPlusPlus``: nested skips, deep supervision, pruning at test time (``prune_level``).
- ``ConvLSTMCell`` and ``BiConvLSTMUNet``: a 2D U-Net per slice plus a bidirectional ConvLSTM
  across slices.
- ``count_parameters`` and ``count_flops`` (floating-point operations of one forward pass).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = [
    "UNet",
    "FCN",
    "VNet",
    "PyramidPooling",
    "PSPNet",
    "UNetPlusPlus",
    "ConvLSTMCell",
    "BiConvLSTMUNet",
    "count_parameters",
    "count_flops",
]


def _check_int(value, name: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _check_input(x, in_channels: int, spatial_dims: int, multiple: int, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expects a torch tensor, got {type(x).__name__}")
    if x.ndim != spatial_dims + 2:
        kind = "(N, C, H, W)" if spatial_dims == 2 else "(N, C, D, H, W)"
        raise ValueError(f"{name} expects a {spatial_dims}D batch {kind}, got shape {tuple(x.shape)}")
    if x.shape[1] != in_channels:
        raise ValueError(f"{name} expects {in_channels} input channels, got {x.shape[1]}")
    bad = [s for s in x.shape[2:] if s % multiple]
    if bad:
        raise ValueError(f"{name} needs spatial sizes divisible by {multiple}, got {tuple(x.shape[2:])}")


def _conv(dims: int):
    return nn.Conv2d if dims == 2 else nn.Conv3d


def _norm(kind: str, channels: int, dims: int) -> nn.Module:
    if kind == "batch":
        return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)(channels)
    if kind == "instance":
        return (nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d)(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'batch', 'instance' or 'none', got {kind!r}")


class _DoubleConv(nn.Sequential):
    """(conv 3x3 -> norm -> ReLU) x 2, the U-Net building block."""

    def __init__(self, cin: int, cout: int, dims: int = 2, norm: str = "batch") -> None:
        conv = _conv(dims)
        super().__init__(
            conv(cin, cout, 3, padding=1, bias=norm == "none"), _norm(norm, cout, dims), nn.ReLU(inplace=True),
            conv(cout, cout, 3, padding=1, bias=norm == "none"), _norm(norm, cout, dims), nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    """U-Net: an encoder of ``depth`` poolings, a mirrored decoder, concatenated skip connections.

    Widths are ``base_channels * 2**level``. Input spatial sizes must be divisible by ``2**depth``.
    ``features(x)`` returns the last decoder feature map (before the 1x1 classifier).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 16, depth: int = 3,
                 spatial_dims: int = 2, norm: str = "batch") -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        self.n_classes = _check_int(n_classes, "n_classes", 2)
        _check_int(base_channels, "base_channels")
        self.depth = _check_int(depth, "depth")
        if spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {spatial_dims!r}")
        self.spatial_dims = spatial_dims
        widths = [base_channels * 2**k for k in range(depth + 1)]
        self.widths = widths
        self.down = nn.ModuleList([_DoubleConv(in_channels, widths[0], spatial_dims, norm)])
        self.down.extend(_DoubleConv(widths[k - 1], widths[k], spatial_dims, norm) for k in range(1, depth + 1))
        up = nn.ConvTranspose2d if spatial_dims == 2 else nn.ConvTranspose3d
        self.up = nn.ModuleList(up(widths[k], widths[k - 1], 2, stride=2) for k in range(depth, 0, -1))
        self.dec = nn.ModuleList(_DoubleConv(2 * widths[k - 1], widths[k - 1], spatial_dims, norm)
                                 for k in range(depth, 0, -1))
        self.head = _conv(spatial_dims)(widths[0], n_classes, 1)
        self._pool = F.max_pool2d if spatial_dims == 2 else F.max_pool3d

    def features(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, self.spatial_dims, 2**self.depth, "UNet")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else self._pool(x, 2))
            skips.append(x)
        x = skips.pop()
        for up, dec in zip(self.up, self.dec):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class FCN(nn.Module):
    """An FCN-style net: five conv+pool stages (stride 32), 1x1 classifiers, skip fusion by addition.

    ``variant="32s"`` upsamples the coarsest scores 32x; ``"16s"`` first adds the pool4 scores;
    ``"8s"`` also adds the pool3 scores, then upsamples 8x. Upsampling is bilinear (the original
    learns transposed convolutions initialised to bilinear). Inputs must be divisible by 32.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 8, variant: str = "8s",
                 norm: str = "batch") -> None:
        super().__init__()
        if variant not in ("32s", "16s", "8s"):
            raise ValueError(f"variant must be '32s', '16s' or '8s', got {variant!r}")
        self.in_channels = _check_int(in_channels, "in_channels")
        _check_int(n_classes, "n_classes", 2)
        _check_int(base_channels, "base_channels")
        self.variant = variant
        widths = [base_channels * m for m in (1, 2, 4, 8, 8)]
        chans = [in_channels] + widths
        self.stages = nn.ModuleList(_DoubleConv(chans[k], chans[k + 1], 2, norm) for k in range(5))
        # "fc6/fc7" of the classification net turned into convolutions
        self.fc = nn.Sequential(nn.Conv2d(widths[4], 4 * base_channels * 4, 1), nn.ReLU(inplace=True))
        self.score_fr = nn.Conv2d(4 * base_channels * 4, n_classes, 1)
        # only the skips a variant fuses get a classifier, so every parameter is trained
        if variant in ("16s", "8s"):
            self.score_pool4 = nn.Conv2d(widths[3], n_classes, 1)
        if variant == "8s":
            self.score_pool3 = nn.Conv2d(widths[2], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2, 32, "FCN")
        size = x.shape[2:]
        pools = []
        for stage in self.stages:
            x = F.max_pool2d(stage(x), 2)
            pools.append(x)
        score = self.score_fr(self.fc(pools[4]))  # stride 32
        if self.variant in ("16s", "8s"):
            score = F.interpolate(score, scale_factor=2, mode="bilinear", align_corners=False)
            score = score + self.score_pool4(pools[3])  # stride 16
        if self.variant == "8s":
            score = F.interpolate(score, scale_factor=2, mode="bilinear", align_corners=False)
            score = score + self.score_pool3(pools[2])  # stride 8
        return F.interpolate(score, size=size, mode="bilinear", align_corners=False)


class _ResStage3d(nn.Module):
    """V-Net stage: ``n_convs`` 3x3x3 convolutions with PReLU, plus the input (residual)."""

    def __init__(self, channels: int, n_convs: int, cin: int | None = None) -> None:
        super().__init__()
        cin = channels if cin is None else cin
        layers = []
        for k in range(n_convs):
            layers += [nn.Conv3d(cin if k == 0 else channels, channels, 3, padding=1),
                       nn.InstanceNorm3d(channels, affine=True), nn.PReLU(channels)]
        self.convs = nn.Sequential(*layers)
        self.skip = nn.Identity() if cin == channels else nn.Conv3d(cin, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x) + self.skip(x)


class VNet(nn.Module):
    """A small V-Net: residual 3D stages, 2x2x2 stride-2 convolutions instead of pooling,
    transposed convolutions up, concatenated skips. Inputs (N, C, D, H, W), sizes divisible by 2**depth.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 8, depth: int = 2) -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        _check_int(n_classes, "n_classes", 2)
        _check_int(base_channels, "base_channels")
        self.depth = _check_int(depth, "depth")
        widths = [base_channels * 2**k for k in range(depth + 1)]
        self.inp = _ResStage3d(widths[0], 1, cin=in_channels)
        self.downs = nn.ModuleList(nn.Sequential(nn.Conv3d(widths[k], widths[k + 1], 2, stride=2), nn.PReLU(widths[k + 1]))
                                   for k in range(depth))
        self.enc = nn.ModuleList(_ResStage3d(widths[k + 1], 2) for k in range(depth))
        self.ups = nn.ModuleList(nn.ConvTranspose3d(widths[k + 1], widths[k], 2, stride=2) for k in range(depth - 1, -1, -1))
        self.dec = nn.ModuleList(_ResStage3d(widths[k], 2, cin=2 * widths[k]) for k in range(depth - 1, -1, -1))
        self.head = nn.Conv3d(widths[0], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 3, 2**self.depth, "VNet")
        x = self.inp(x)
        skips = [x]
        for down, enc in zip(self.downs, self.enc):
            x = enc(down(x))
            skips.append(x)
        skips.pop()
        for up, dec in zip(self.ups, self.dec):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.head(x)


class PyramidPooling(nn.Module):
    """PSPNet's pyramid pooling: average-pool to b x b for each bin b, 1x1 conv, upsample, concatenate.

    Output channels: ``in_channels + len(bins) * branch_channels`` (default branch = in // len(bins)).
    """

    def __init__(self, in_channels: int, bins: Sequence[int] = (1, 2, 3, 6), branch_channels: int | None = None) -> None:
        super().__init__()
        _check_int(in_channels, "in_channels")
        bins = tuple(bins)
        if not bins or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in bins):
            raise ValueError(f"bins must be a non-empty sequence of positive ints, got {bins!r}")
        branch = max(1, in_channels // len(bins)) if branch_channels is None else _check_int(branch_channels, "branch_channels")
        self.in_channels, self.bins = in_channels, bins
        self.out_channels = in_channels + len(bins) * branch
        self.branches = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(in_channels, branch, 1), nn.ReLU(inplace=True)) for b in bins
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2, 1, "PyramidPooling")
        size = x.shape[2:]
        pooled = [F.interpolate(branch(x), size=size, mode="bilinear", align_corners=False) for branch in self.branches]
        return torch.cat([x] + pooled, dim=1)


class PSPNet(nn.Module):
    """A small PSPNet: conv backbone with stride 8, pyramid pooling, 3x3 fusion, 1x1 classifier, 8x bilinear up."""

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 16, bins: Sequence[int] = (1, 2, 3, 6),
                 norm: str = "batch") -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        _check_int(n_classes, "n_classes", 2)
        _check_int(base_channels, "base_channels")
        w = [base_channels, 2 * base_channels, 4 * base_channels]
        self.backbone = nn.Sequential(
            _DoubleConv(in_channels, w[0], 2, norm), nn.MaxPool2d(2),
            _DoubleConv(w[0], w[1], 2, norm), nn.MaxPool2d(2),
            _DoubleConv(w[1], w[2], 2, norm), nn.MaxPool2d(2),
        )
        self.ppm = PyramidPooling(w[2], bins)
        self.fuse = nn.Sequential(nn.Conv2d(self.ppm.out_channels, w[2], 3, padding=1), _norm(norm, w[2], 2), nn.ReLU(inplace=True))
        self.head = nn.Conv2d(w[2], n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 2, 8, "PSPNet")
        scores = self.head(self.fuse(self.ppm(self.backbone(x))))
        return F.interpolate(scores, size=x.shape[2:], mode="bilinear", align_corners=False)


class UNetPlusPlus(nn.Module):
    """U-Net++: nodes X[i][j] (level i, column j) with nested dense skips and deep supervision.

    X[i][0] is the encoder; X[i][j] = block(cat(X[i][0..j-1], up(X[i+1][j-1]))). A 1x1 head on each
    X[0][j], j = 1..depth, gives ``depth`` outputs. ``forward(x)`` returns the list of all outputs in
    training mode when ``deep_supervision`` is on, otherwise their mean; ``forward(x, prune_level=l)``
    computes only the nodes with i + j <= l and returns the output of X[0][l] (a pruned, smaller net).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 8, depth: int = 3,
                 deep_supervision: bool = True, norm: str = "batch") -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        _check_int(n_classes, "n_classes", 2)
        _check_int(base_channels, "base_channels")
        self.depth = _check_int(depth, "depth")
        self.deep_supervision = bool(deep_supervision)
        w = [base_channels * 2**i for i in range(depth + 1)]
        self.nodes = nn.ModuleDict()
        for i in range(depth + 1):
            self.nodes[f"{i}_0"] = _DoubleConv(in_channels if i == 0 else w[i - 1], w[i], 2, norm)
        for j in range(1, depth + 1):
            for i in range(depth + 1 - j):
                self.nodes[f"{i}_{j}"] = _DoubleConv(j * w[i] + w[i + 1], w[i], 2, norm)
        self.heads = nn.ModuleList(nn.Conv2d(w[0], n_classes, 1) for _ in range(depth))

    def forward(self, x: torch.Tensor, prune_level: int | None = None):
        _check_input(x, self.in_channels, 2, 2**self.depth, "UNetPlusPlus")
        if prune_level is not None and (isinstance(prune_level, bool) or prune_level not in range(1, self.depth + 1)):
            raise ValueError(f"prune_level must be an int in [1, {self.depth}] or None, got {prune_level!r}")
        levels = self.depth if prune_level is None else prune_level
        X: dict[tuple[int, int], torch.Tensor] = {}
        for i in range(levels + 1):
            X[i, 0] = self.nodes[f"{i}_0"](x if i == 0 else F.max_pool2d(X[i - 1, 0], 2))
        for j in range(1, levels + 1):
            for i in range(levels + 1 - j):
                up = F.interpolate(X[i + 1, j - 1], scale_factor=2, mode="bilinear", align_corners=False)
                X[i, j] = self.nodes[f"{i}_{j}"](torch.cat([X[i, k] for k in range(j)] + [up], dim=1))
        if prune_level is not None:
            return self.heads[prune_level - 1](X[0, prune_level])
        outputs = [head(X[0, j + 1]) for j, head in enumerate(self.heads)]
        if self.deep_supervision and self.training:
            return outputs
        return torch.stack(outputs).mean(0)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell: the LSTM gate equations with convolutions instead of matrix products.

    [i, f, g, o] = conv(cat(x, h)); c' = sigmoid(f) c + sigmoid(i) tanh(g); h' = sigmoid(o) tanh(c').
    Gate order and semantics are those of ``torch.nn.LSTMCell``. x: (N, C_in, H, W); state (h, c):
    two (N, hidden, H, W) tensors or None (zeros).
    """

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.in_channels = _check_int(in_channels, "in_channels")
        self.hidden_channels = _check_int(hidden_channels, "hidden_channels")
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size!r}")
        self.gates = nn.Conv2d(in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None):
        _check_input(x, self.in_channels, 2, 1, "ConvLSTMCell")
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        if h.shape != (x.shape[0], self.hidden_channels, *x.shape[2:]) or c.shape != h.shape:
            raise ValueError(f"state tensors must have shape {(x.shape[0], self.hidden_channels, *x.shape[2:])}, "
                             f"got {tuple(h.shape)} and {tuple(c.shape)}")
        i, f, g, o = self.gates(torch.cat([x, h], dim=1)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class BiConvLSTMUNet(nn.Module):
    """2D U-Net features for every slice, a bidirectional ConvLSTM across slices, a 1x1 classifier.

    Input (N, C_in, D, H, W) (D slices), output (N, n_classes, D, H, W). Each slice's prediction sees
    its own U-Net features plus the forward and backward ConvLSTM states, which carry context from
    the slices before and after it.
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 2, base_channels: int = 8, depth: int = 2,
                 hidden_channels: int = 8, norm: str = "batch") -> None:
        super().__init__()
        self.unet = UNet(in_channels, n_classes, base_channels, depth, 2, norm)
        self.unet.head = nn.Identity()  # only the U-Net's features are used
        self.in_channels = in_channels
        self.forward_cell = ConvLSTMCell(base_channels, hidden_channels)
        self.backward_cell = ConvLSTMCell(base_channels, hidden_channels)
        self.head = nn.Conv2d(base_channels + 2 * hidden_channels, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input(x, self.in_channels, 3, 1, "BiConvLSTMUNet")
        n, cin, d, h, w = x.shape
        feats = self.unet.features(x.permute(0, 2, 1, 3, 4).reshape(n * d, cin, h, w))
        feats = feats.reshape(n, d, -1, h, w)
        fwd, state = [], None
        for k in range(d):
            state = self.forward_cell(feats[:, k], state)
            fwd.append(state[0])
        bwd, state = [None] * d, None
        for k in reversed(range(d)):
            state = self.backward_cell(feats[:, k], state)
            bwd[k] = state[0]
        out = [self.head(torch.cat([feats[:, k], fwd[k], bwd[k]], dim=1)) for k in range(d)]
        return torch.stack(out, dim=2)


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, input_shape: Sequence[int], device: torch.device | str = "cpu") -> int:
    """Floating-point operations (multiply and add counted separately) of one forward pass.

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` (convolutions, transposed convolutions,
    matrix products); ``input_shape`` includes the batch dimension, e.g. (1, 1, 64, 64).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    shape = tuple(input_shape)
    if len(shape) < 3 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape):
        raise ValueError(f"input_shape must be (N, C, *spatial) positive ints, got {input_shape!r}")
    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(shape, device=device))
    model.train(was_training)
    return int(counter.get_total_flops())
