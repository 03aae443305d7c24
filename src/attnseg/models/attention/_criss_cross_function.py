"""Fused criss-cross attention: 1x1 projections + cross attention + residual in one autograd node.

Layout: ``qkv`` is channels-last (B, H, W, 2d + C), so the row slice ``t[b, i]`` (W x c) and the
column slice ``t[b, :, j]`` (H x c, row stride W * c) are both strided matrices and every product
is a batched GEMM on views. Energies and probabilities live in two contiguous buffers,
``col`` (B, W, H, H) (``col[b, j, i, k]``: pixel (i, j) looking at (k, j)) and ``row``
(B, H, W, W) (``row[b, i, j, l]``: pixel (i, j) looking at (i, l)), with one softmax across both:
O(B * HW * (H + W)) memory, no (HW) x (HW) tensor, no padded copies. Results that are not
contiguous (the column side) are produced a few columns at a time into a small buffer, which
keeps CPU ``bmm`` on its single batched-GEMM call instead of one GEMM per matrix.

The backward pass stores neither the aggregated features nor their gradient, thanks to
``d gamma = sum(P * G)`` and ``dE = gamma * P * (G - rowsum(P * G))``, ``G[p, s] = dy_p . v_s``;
``gamma`` itself is folded into the projection GEMMs' ``alpha``.
"""

from __future__ import annotations

import torch
from torch.autograd.function import FunctionCtx, once_differentiable

# Elements of the per-chunk scratch buffer (4 MB in fp32).
CHUNK_ELEMENTS = 1 << 20


def _cols(t: torch.Tensor) -> torch.Tensor:
    """(H, W, c) channels-last map -> (W, H, c) batch of per-column matrices (a view)."""
    return t.transpose(0, 1)


def _set_cols(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> None:
    """``_cols(out) = a @ b`` for (W, H, c) column batches, a few columns at a time."""
    cols = _cols(out)
    step = max(1, CHUNK_ELEMENTS // max(1, cols[0].numel()))
    for s in range(0, cols.shape[0], step):
        cols[s : s + step].copy_(torch.bmm(a[s : s + step], b[s : s + step]))


def _last_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over the last dim as a GEMV: ~50x faster than ``t.sum(-1)`` on CPU for a dim of ~100."""
    rows = t.reshape(-1, t.shape[-1])  # (M, n)
    return torch.mv(rows, t.new_ones(t.shape[-1])).view(t.shape[:-1])  # (...)


def _column_sum(t: torch.Tensor) -> torch.Tensor:
    """(M, c) -> (c,) as a GEMV on the transposed view (no copy)."""
    return torch.mv(t.t(), t.new_ones(t.shape[0]))


def _softmax_(col: torch.Tensor, row: torch.Tensor) -> None:
    """In-place softmax over each pixel's H + W entries, split across ``col`` and ``row``."""
    peak = torch.maximum(col.amax(-1).transpose(1, 2), row.amax(-1))  # (B, H, W)
    col.sub_(peak.transpose(1, 2).unsqueeze(-1)).exp_()
    row.sub_(peak.unsqueeze(-1)).exp_()
    total = _last_sum(col).transpose(1, 2) + _last_sum(row)  # (B, H, W)
    col.div_(total.transpose(1, 2).unsqueeze(-1))
    row.div_(total.unsqueeze(-1))


def _split(t: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return t[..., :d], t[..., d : 2 * d], t[..., 2 * d :]


class CrissCrossFunction(torch.autograd.Function):
    """``y = x + gamma * CCA(x)``; ``weight``/``bias`` stack the query, key and value 1x1 convs.

    Called as ``apply(x, weight (2d + C, C), bias (2d + C,), gamma (1,), d, compute_dtype)``.
    """

    @staticmethod
    def forward(ctx: FunctionCtx, x, weight, bias, gamma, key_channels: int, dtype: torch.dtype):
        with torch.autocast(x.device.type, enabled=False):
            qkv, col, row = _project_and_attend(x, weight, bias, key_channels, dtype)
            out_dtype = torch.promote_types(x.dtype, gamma.dtype)
            y = _aggregate(x, qkv[..., 2 * key_channels :], col, row, float(gamma), out_dtype)
        ctx.save_for_backward(x, weight, gamma, qkv, col, row)
        ctx.key_channels, ctx.bias_dtype = key_channels, bias.dtype
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_y: torch.Tensor):
        x, weight, gamma, qkv, col, row = ctx.saved_tensors
        d, g = ctx.key_channels, float(gamma)
        with torch.autocast(x.device.type, enabled=False):
            grad_y = grad_y.contiguous()
            grads, grad_gamma = _attention_backward(grad_y, qkv, col, row, d, g)
            # grad_v is kept without its factor gamma: the projection GEMMs apply it as alpha
            weights = (weight[:d], weight[d : 2 * d], weight[2 * d :])
            parts = list(zip(weights, (1.0, 1.0, g), grads, strict=True))
            grad_x = _input_grad(grad_y, parts, x.dtype) if ctx.needs_input_grad[0] else None
            grad_w = torch.cat([_weight_grad(grad, x, alpha) for _, alpha, grad in parts])
            # (B * H * W, c) per projection -> (c,)
            grad_b = torch.cat([alpha * _column_sum(grad.flatten(0, 2)) for _, alpha, grad in parts])
        grad_gamma = grad_gamma.reshape(gamma.shape).to(gamma.dtype)  # (1,)
        return grad_x, grad_w.to(weight.dtype), grad_b.to(ctx.bias_dtype), grad_gamma, None, None


def _project_and_attend(x, weight, bias, d: int, dtype: torch.dtype):
    """Channels-last ``qkv`` (B, H, W, 2d + C) and the cross probabilities ``col``, ``row``."""
    batch, channels, height, width = x.shape
    xc, wc, bc = x.to(dtype).contiguous(), weight.to(dtype), bias.to(dtype)
    qkv = x.new_empty(batch, height, width, weight.shape[0], dtype=dtype)
    col = x.new_empty(batch, width, height, height, dtype=dtype)
    row = x.new_empty(batch, height, width, width, dtype=dtype)
    for b in range(batch):
        # (N, C_in) @ (C_in, 2d + C) -> (N, 2d + C), N = H * W in row-major order
        torch.addmm(bc, xc[b].view(channels, -1).t(), wc.t(), out=qkv[b].view(height * width, -1))
        q, k, _ = _split(qkv[b], d)
        torch.bmm(_cols(q), _cols(k).transpose(1, 2), out=col[b])  # (W, H, H)
        torch.bmm(q, k.transpose(1, 2), out=row[b])  # (H, W, W)
    # a pixel sees itself once, through its row
    torch.diagonal(col, dim1=-2, dim2=-1).fill_(float("-inf"))
    acc = torch.promote_types(dtype, torch.float32)
    col, row = col.to(acc), row.to(acc)  # softmax in at least fp32; no copy when already fp32
    _softmax_(col, row)
    return qkv, col, row


def _aggregate(x, v, col, row, gamma: float, out_dtype: torch.dtype) -> torch.Tensor:
    """y = x + gamma * (cross-weighted sum of v), returned in NCHW."""
    batch, channels = x.shape[:2]
    p_col, p_row = col.to(v.dtype), row.to(v.dtype)
    agg = v.new_empty(v.shape[1:])  # (H, W, C), one image at a time
    y = torch.empty(x.shape, dtype=out_dtype, device=x.device)
    for b in range(batch):
        _set_cols(agg, p_col[b], _cols(v[b]))
        agg.baddbmm_(p_row[b], v[b])  # (H, W, C)
        # a 2-D transposed copy: CPU has a blocked fast path for exactly this pattern
        y[b].view(channels, -1).copy_(agg.view(-1, channels).t())  # (C, N)
    return torch.add(x, y, alpha=gamma, out=y)


def _attention_backward(grad_y, qkv, col, row, d: int, gamma: float):
    """Gradients of the channels-last q, k, v (v's without the factor gamma) and of gamma."""
    batch, height, width, _ = qkv.shape
    channels, dtype = grad_y.shape[1], qkv.dtype
    grad_q, grad_k = qkv.new_empty(2, batch, height, width, d)
    grad_v = qkv.new_empty(batch, height, width, channels)
    g_col, g_row = torch.empty_like(col, dtype=dtype), torch.empty_like(row, dtype=dtype)
    p_col, p_row = col.to(dtype), row.to(dtype)
    dy = qkv.new_empty(height, width, channels)  # channels-last copy of one image's dy
    for b in range(batch):
        v = _split(qkv[b], d)[2]
        dy.view(-1, channels).copy_(grad_y[b].view(channels, -1).t())  # (N, C) <- (C, N)^T
        torch.bmm(_cols(dy), _cols(v).transpose(1, 2), out=g_col[b])  # G, (W, H, H)
        torch.bmm(dy, v.transpose(1, 2), out=g_row[b])  # G, (H, W, W)
        _set_cols(grad_v[b], p_col[b].transpose(1, 2), _cols(dy))
        grad_v[b].baddbmm_(p_row[b].transpose(1, 2), dy)  # (H, W, C)
    del dy, p_col, p_row
    g_col, g_row = g_col.to(col.dtype).mul_(col), g_row.to(row.dtype).mul_(row)  # P * G
    total = _last_sum(g_col).transpose(1, 2) + _last_sum(g_row)  # (B, H, W)
    g_col.addcmul_(col, total.transpose(1, 2).unsqueeze(-1), value=-1).mul_(gamma)  # dE
    g_row.addcmul_(row, total.unsqueeze(-1), value=-1).mul_(gamma)
    g_col, g_row = g_col.to(dtype), g_row.to(dtype)
    for b in range(batch):
        q, k, _ = _split(qkv[b], d)
        _set_cols(grad_q[b], g_col[b], _cols(k))
        grad_q[b].baddbmm_(g_row[b], k)  # (H, W, d)
        _set_cols(grad_k[b], g_col[b].transpose(1, 2), _cols(q))
        grad_k[b].baddbmm_(g_row[b].transpose(1, 2), q)
    return (grad_q, grad_k, grad_v), total.sum()


def _input_grad(grad_y: torch.Tensor, parts, dtype: torch.dtype) -> torch.Tensor:
    """dx = dy (residual) + sum of alpha W^T dproj, written straight into NCHW."""
    batch, channels = grad_y.shape[:2]
    grad_x = torch.empty(grad_y.shape, dtype=dtype, device=grad_y.device)
    for b in range(batch):
        out = grad_x[b].view(channels, -1)  # (C_in, N)
        out.copy_(grad_y[b].view(channels, -1))  # (C_in, N)
        for weight, alpha, grad in parts:
            proj = grad[b].view(-1, grad.shape[-1]).t()  # (c, N)
            if out.dtype == grad.dtype:
                out.addmm_(weight.to(grad.dtype).t(), proj, alpha=alpha)
            else:
                out.add_(weight.to(grad.dtype).t() @ proj, alpha=alpha)
    return grad_x


def _weight_grad(grad: torch.Tensor, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """dW = alpha * sum_b dproj_b^T x_b^T: (c, C_in)."""
    batch, channels = x.shape[:2]
    grad_w = grad.new_zeros(grad.shape[-1], channels)
    for b in range(batch):
        x_b = x[b].to(grad.dtype).reshape(channels, -1)  # (C_in, N)
        grad_w.addmm_(grad[b].view(-1, grad.shape[-1]).t(), x_b.t(), alpha=alpha)  # (c, N) @ (N, C_in)
    return grad_w
