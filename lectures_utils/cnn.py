"""Convolution helpers of chapter 4: sizes, receptive fields, im2col, cost counting and Grad-CAM.

- ``conv_output_size`` / ``conv_transpose_output_size``: the output-length formulas (with dilation
  and output padding), as ``torch.nn.Conv2d`` / ``ConvTranspose2d`` compute them;
- ``receptive_field``: receptive field and jump (input pixels per output step) layer by layer;
- ``im2col`` / ``conv2d_im2col``: a 2D convolution (cross-correlation) as one matrix product;
- ``count_params_macs``: parameters and multiply-accumulate operations of a model, per layer;
- ``grad_cam``: Grad-CAM class activation maps from a chosen layer.

All tensors are channels-first: images ``(N, C, H, W)``, kernels ``(C_out, C_in, kH, kW)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "receptive_field",
    "im2col",
    "conv2d_im2col",
    "count_params_macs",
    "grad_cam",
]


def _pos_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
        return _pos_int(value[0], name, minimum), _pos_int(value[1], name, minimum)
    v = _pos_int(value, name, minimum)
    return v, v


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one axis.

    ``o = floor((i + 2p - d(k - 1) - 1) / s) + 1``; with ``d = 1`` this is the familiar
    ``floor((i + 2p - k) / s) + 1``. Raises ValueError if the (dilated) kernel does not fit.
    """
    size, kernel = _pos_int(size, "size"), _pos_int(kernel, "kernel")
    stride, dilation = _pos_int(stride, "stride"), _pos_int(dilation, "dilation")
    padding = _pos_int(padding, "padding", 0)
    span = dilation * (kernel - 1) + 1
    if size + 2 * padding < span:
        raise ValueError(f"the dilated kernel spans {span} pixels but the padded input has only {size + 2 * padding}")
    return (size + 2 * padding - span) // stride + 1


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output length of a transposed convolution along one axis.

    ``o' = s(i' - 1) - 2p + d(k - 1) + output_padding + 1``; with ``d = 1`` and no output padding
    this is ``s(i' - 1) + k - 2p``. ``output_padding`` must be smaller than ``stride`` or
    ``dilation`` (as in PyTorch): it picks one of the input sizes that a strided convolution maps
    to the same output size.
    """
    size, kernel = _pos_int(size, "size"), _pos_int(kernel, "kernel")
    stride, dilation = _pos_int(stride, "stride"), _pos_int(dilation, "dilation")
    padding, output_padding = _pos_int(padding, "padding", 0), _pos_int(output_padding, "output_padding", 0)
    if output_padding >= max(stride, dilation):
        raise ValueError(f"output_padding must be smaller than stride or dilation, got {output_padding} "
                         f"with stride {stride} and dilation {dilation}")
    out = stride * (size - 1) - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise ValueError(f"padding {padding} leaves no output (size {out})")
    return out


def receptive_field(layers: Sequence[tuple[int, ...]]) -> list[tuple[int, int]]:
    """Receptive field and jump after each layer of a chain of convolutions/poolings.

    layers: ``(kernel, stride)`` or ``(kernel, stride, dilation)`` per layer, input first.
    Returns ``[(r_1, j_1), (r_2, j_2), ...]`` with ``r_l = r_{l-1} + d_l (k_l - 1) j_{l-1}``
    (input pixels one output unit sees) and ``j_l = j_{l-1} s_l`` (input pixels between neighbouring
    output units), starting from ``r_0 = j_0 = 1``.
    """
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence) or len(layers) == 0:
        raise ValueError("layers must be a non-empty sequence of (kernel, stride[, dilation]) tuples")
    r, j, out = 1, 1, []
    for n, layer in enumerate(layers):
        if not isinstance(layer, (tuple, list)) or len(layer) not in (2, 3):
            raise ValueError(f"layer {n} must be (kernel, stride) or (kernel, stride, dilation), got {layer!r}")
        k, s = _pos_int(layer[0], f"layers[{n}] kernel"), _pos_int(layer[1], f"layers[{n}] stride")
        d = _pos_int(layer[2], f"layers[{n}] dilation") if len(layer) == 3 else 1
        r = r + d * (k - 1) * j
        j = j * s
        out.append((r, j))
    return out


def im2col(x: torch.Tensor, kernel_size, stride=1, padding=0, dilation=1) -> torch.Tensor:
    """Unfold every kernel-sized patch of ``x`` into a column.

    x: ``(N, C, H, W)`` tensor. Returns ``(N, C * kH * kW, L)`` with ``L = H_out * W_out``; rows are
    ordered (channel, kernel row, kernel column), the same layout as ``torch.nn.functional.unfold``.
    Built from ``kH * kW`` strided slices, so no Python loop runs over pixels.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    (kh, kw), (sh, sw) = _pair(kernel_size, "kernel_size", 1), _pair(stride, "stride", 1)
    (ph, pw), (dh, dw) = _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    n, c, h, w = x.shape
    ho = conv_output_size(h, kh, sh, ph, dh)
    wo = conv_output_size(w, kw, sw, pw, dw)
    xp = F.pad(x, (pw, pw, ph, ph))
    patches = [xp[:, :, i * dh: i * dh + sh * (ho - 1) + 1: sh, j * dw: j * dw + sw * (wo - 1) + 1: sw]
               for i in range(kh) for j in range(kw)]
    cols = torch.stack(patches, dim=2)  # (N, C, kH*kW, Ho, Wo)
    return cols.reshape(n, c * kh * kw, ho * wo)


def conv2d_im2col(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
                  stride=1, padding=0, dilation=1) -> torch.Tensor:
    """2D convolution (cross-correlation, as in CNNs) via im2col and one matrix product.

    x: ``(N, C_in, H, W)``; weight: ``(C_out, C_in, kH, kW)``; bias: ``(C_out,)`` or None.
    Returns ``(N, C_out, H_out, W_out)``, equal to ``F.conv2d`` with the same arguments (groups=1).
    """
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 4:
        raise ValueError(f"weight must have shape (C_out, C_in, kH, kW), got {tuple(weight.shape)}")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but weight expects {weight.shape[1]}")
    cout, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    ho = conv_output_size(x.shape[2], kh, sh, ph, dh)
    wo = conv_output_size(x.shape[3], kw, sw, pw, dw)
    cols = im2col(x, (kh, kw), (sh, sw), (ph, pw), (dh, dw))
    out = weight.reshape(cout, -1) @ cols  # (C_out, C*kH*kW) @ (N, C*kH*kW, L) -> (N, C_out, L)
    if bias is not None:
        if bias.shape != (cout,):
            raise ValueError(f"bias must have shape ({cout},), got {tuple(bias.shape)}")
        out = out + bias.view(1, cout, 1)
    return out.reshape(x.shape[0], cout, ho, wo)


def count_params_macs(model: torch.nn.Module, input_shape: Sequence[int]) -> dict:
    """Parameters and multiply-accumulate operations (MACs) of one forward pass of one image.

    input_shape: ``(C, H, W)`` (no batch axis). MACs are counted for ``Conv2d`` (including grouped
    and depthwise), ``ConvTranspose2d`` and ``Linear`` layers: ``outputs x (C_in / groups) x kH x kW``
    and ``in x out``; additions of biases, normalisation, activations and pooling are not counted,
    as in the papers' "multiply-adds". Returns ``{"params": int, "macs": int, "layers": [dict, ...]}``
    with one row per counted layer (name, type, output shape, params, macs).
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if len(input_shape) != 3 or any(not isinstance(v, int) or v < 1 for v in input_shape):
        raise ValueError(f"input_shape must be (C, H, W) positive ints, got {tuple(input_shape)}")
    rows: list[dict] = []
    hooks = []

    def hook(name):
        def fn(module, inputs, output):
            if isinstance(module, torch.nn.Conv2d):
                k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
                macs = output[0].numel() * k
            elif isinstance(module, torch.nn.ConvTranspose2d):
                k = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
                macs = inputs[0][0].numel() * k
            else:
                macs = output[0].numel() * module.in_features
            rows.append({"name": name, "type": type(module).__name__, "output": tuple(output.shape[1:]),
                         "params": sum(p.numel() for p in module.parameters(recurse=False)), "macs": int(macs)})
        return fn

    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, torch.nn.Linear)):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        x = torch.zeros(1, *input_shape, device=p.device if p is not None else "cpu")
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return {"params": sum(p.numel() for p in model.parameters()), "macs": sum(r["macs"] for r in rows),
            "layers": rows}


def grad_cam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor,
             class_idx: int | torch.Tensor | None = None) -> torch.Tensor:
    """Grad-CAM maps at the resolution of ``layer``'s output (no upsampling, no normalisation).

    ``L = ReLU(sum_k alpha_k A^k)`` with ``alpha_k`` the spatial mean of ``d y_c / d A^k``, where
    ``A`` is the output of ``layer`` and ``y_c`` the logit of class ``c`` (default: the predicted
    class of each image). x: ``(N, C, H, W)``; returns ``(N, 1, h, w)``. Gradients are taken with
    ``torch.autograd.grad``, so the parameters' ``.grad`` stay untouched.
    """
    if not isinstance(model, torch.nn.Module) or not isinstance(layer, torch.nn.Module):
        raise TypeError("model and layer must be torch.nn.Module instances")
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a (N, C, H, W) tensor, got {getattr(x, 'shape', type(x).__name__)}")
    if not any(m is layer for m in model.modules()):
        raise ValueError("layer is not a submodule of model")
    store: dict[str, torch.Tensor] = {}

    def forward_hook(module, inputs, output):
        store["acti"] = output

    handle = layer.register_forward_hook(forward_hook)
    try:
        with torch.enable_grad():
            logits = model(x)
            if class_idx is None:
                idx = logits.argmax(1)
            else:
                idx = torch.as_tensor(class_idx, device=logits.device).long().expand(logits.shape[0])
                if (idx < 0).any() or (idx >= logits.shape[1]).any():
                    raise ValueError(f"class_idx must be in [0, {logits.shape[1]}), got {class_idx}")
            score = logits.gather(1, idx.view(-1, 1)).sum()
            acti = store["acti"]
            grad = torch.autograd.grad(score, acti)[0]
    finally:
        handle.remove()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * acti.detach()).sum(1, keepdim=True))
