"""ONNX export of a segmentor and its check against onnxruntime.

The ONNX model takes ``images`` (B, 3, H, W), float RGB in [0, 1] (normalisation is part of the
graph, as in PyTorch) and returns ``logits`` (B, K, H, W). The batch dimension is dynamic; height
and width are fixed to ``image_size`` unless ``dynamic_size`` is set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

MAX_SINGLE_FILE_BYTES = 1_500_000_000  # ONNX protobufs are limited to 2 GB; larger weights go to a .data file


def _sdpa_to_onnx(
    query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False
):
    """ONNX translation of ``aten.scaled_dot_product_attention`` for inputs of any rank.

    The attention modules call SDPA with single-head 3-D (B, N, d) tensors (under ``torch.export``
    their fused CPU path is bypassed), and onnxscript's own translation accepts only 4-D inputs
    ("only 4D query, key, and value are supported"). Masks, dropout and GQA are not used here.
    """
    if attn_mask is not None or is_causal or dropout_p or enable_gqa:
        raise NotImplementedError(
            "scaled_dot_product_attention export: masks, dropout and GQA are not supported"
        )
    from onnxscript import opset18 as op

    rank = len(query.shape)
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    key_t = op.Transpose(key, perm=[*range(rank - 2), rank - 1, rank - 2])  # (..., d, N)
    scores = op.MatMul(
        op.Mul(query, op.CastLike(op.Constant(value_float=scale), query)), key_t
    )  # (..., N, N)
    return op.MatMul(op.Softmax(scores, axis=-1), value)


class LogitsOnly(nn.Module):
    """The segmentor with a plain tensor output (ONNX graphs return tensors, not dicts)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)["out"]


def export_onnx(
    net: nn.Module,
    path: str | Path,
    *,
    image_size: Sequence[int],
    opset: int = 18,
    dynamic_size: bool = False,
    dynamo: bool = True,
) -> Path:
    """Write ``net`` (images -> logits tensor) as ONNX with a dynamic batch dimension.

    ``dynamo=True`` uses the ``torch.export``-based exporter (PyTorch's default);
    ``dynamo=False`` the older TorchScript-based one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, 3, *image_size)
    axes = {0: "batch", 2: "height", 3: "width"} if dynamic_size else {0: "batch"}
    kwargs: dict = {"input_names": ["images"], "output_names": ["logits"], "opset_version": opset}
    if dynamo:
        dims = {axis: torch.export.Dim(name, min=1 if axis == 0 else 32) for axis, name in axes.items()}
        big = sum(p.numel() * p.element_size() for p in net.parameters()) > MAX_SINGLE_FILE_BYTES
        kwargs.update(dynamic_shapes={"images": dims}, external_data=big, verbose=False)
        kwargs["custom_translation_table"] = {
            torch.ops.aten.scaled_dot_product_attention.default: _sdpa_to_onnx
        }
    else:
        kwargs.update(dynamic_axes={"images": axes, "logits": axes})
    for name in ("onnxscript", "onnx_ir"):  # their INFO logs list every graph pass
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        torch.onnx.export(net.eval(), (example,), str(path), dynamo=dynamo, **kwargs)
    except Exception as err:
        exporter = "torch.export-based (dynamo)" if dynamo else "TorchScript-based"
        raise RuntimeError(f"The {exporter} ONNX exporter failed on {_describe(net)}: {err}") from err
    return path


def compare_with_onnxruntime(
    net: nn.Module, path: str | Path, images: torch.Tensor, atol: float = 1e-4
) -> float:
    """Max absolute difference between onnxruntime's and PyTorch's logits; raises above ``atol``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"images": images.numpy()})
    with torch.inference_mode():
        torch_logits = net.eval()(images).numpy()
    if onnx_logits.shape != torch_logits.shape:
        raise ValueError(
            f"{path}: onnxruntime output shape {onnx_logits.shape} != PyTorch's {torch_logits.shape}"
        )
    error = float(np.abs(onnx_logits - torch_logits).max())
    if not error <= atol:
        raise ValueError(f"{path}: onnxruntime output differs from PyTorch's by {error:.3g} > atol {atol:g}")
    return error


def _describe(net: nn.Module) -> str:
    inner = getattr(net, "net", net)
    backbone = getattr(getattr(inner, "backbone", None), "name", "?")
    return f"{type(getattr(inner, 'head', inner)).__name__} on {backbone}"
