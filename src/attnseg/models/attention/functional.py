"""Dense dot-product attention over the pixels of a feature map, without an (HW) x (HW) tensor.

The fused path follows FlashAttention (Dao et al., NeurIPS 2022, https://arxiv.org/abs/2205.14135):
process one block of query rows at a time and recompute its probabilities in the backward pass
instead of storing them, so memory is O(block * N) instead of O(N^2) at the same GEMM FLOPs.

Inputs stay channels-first, as the 1x1 projections produce them: ``q, k`` (B, d, N), ``v``
(B, C, N), output (B, C, N) with ``out[:, :, i] = sum_j softmax_j(scale * q_i . k_j) v[:, :, j]``.
``d`` may differ from ``C`` (SAGAN / DANet use d = C / 8).

Dispatch: CUDA, and anything under ``torch.compile``, uses ``F.scaled_dot_product_attention``
(flash / memory-efficient kernels). Eager CPU uses :class:`RecomputeAttention`: CPU SDPA only
fuses when q/k and v share a head dimension (otherwise it materialises N x N), and its fused
backward measured ~10x slower than this function at N = 97 * 97 (see docs/benchmark.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import FunctionCtx, once_differentiable

# Query rows per block: a (rows x N) fp32 block at N = 97 * 97 is ~19 MB. Measured on 2 cores:
# 512 rows run the (rows x d) @ (d x N) GEMMs ~1.5x faster than 256, and 1024 no faster.
BLOCK_ROWS = 512


def _blocks(n: int) -> list[tuple[int, int]]:
    return [(s, min(s + BLOCK_ROWS, n)) for s in range(0, n, BLOCK_ROWS)]


class _Scratch:
    """(B, rows, N) block buffers allocated once per call and reused by every block.

    Fresh 19 MB blocks would each be a new mmap (glibc serves allocations above its threshold
    that way), i.e. ~5000 page faults per block: measured +0.7 s per training step at N = 97^2.
    """

    def __init__(self, like: torch.Tensor, n: int, dtypes: tuple[torch.dtype, ...]) -> None:
        rows = min(BLOCK_ROWS, n)
        self.buffers = [like.new_empty(like.shape[0] * rows * n, dtype=dtype) for dtype in dtypes]
        self.batch, self.n = like.shape[0], n

    def __call__(self, index: int, rows: int) -> torch.Tensor:
        flat = self.buffers[index][: self.batch * rows * self.n]
        return flat.view(self.batch, rows, self.n)  # (B, rows, N), contiguous


def _probs(q_blk: torch.Tensor, k: torch.Tensor, energy: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """Softmax rows of one (pre-scaled) query block into ``probs`` (B, n, N), at least fp32."""
    torch.bmm(q_blk.transpose(1, 2), k, out=energy)  # (B, n, N)
    return torch.softmax(energy.to(probs.dtype), dim=-1, out=probs)


class RecomputeAttention(torch.autograd.Function):
    """``attention(q, k, v, scale)`` that stores no N x N probabilities: backward recomputes them."""

    @staticmethod
    def forward(ctx: FunctionCtx, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float):
        n = v.shape[-1]
        acc = torch.promote_types(v.dtype, torch.float32)
        out = v.new_empty(v.shape)  # (B, C, N)
        with torch.autocast(v.device.type, enabled=False):
            q = q if scale == 1.0 else q * scale  # scaling q costs d x N, scaling energies N x N
            scratch = _Scratch(v, n, (q.dtype, acc))
            for s, e in _blocks(n):
                probs = _probs(q[:, :, s:e], k, scratch(0, e - s), scratch(1, e - s))
                torch.bmm(v, probs.to(v.dtype).transpose(1, 2), out=out[:, :, s:e])  # (B, C, n)
        ctx.save_for_backward(q, k, v, out)
        ctx.scale = scale
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: torch.Tensor):
        q, k, v, out = ctx.saved_tensors  # q already scaled
        n, scale = v.shape[-1], ctx.scale
        acc = torch.promote_types(v.dtype, torch.float32)
        with torch.autocast(v.device.type, enabled=False):
            grad_out = grad_out.contiguous()
            # softmax backward needs rowsum(dP * P) = dO_i . O_i, one number per query row
            delta = (grad_out.to(acc) * out.to(acc)).sum(1).unsqueeze(-1)  # (B, N, 1)
            grad_q = torch.empty_like(q)
            grad_k = torch.zeros_like(k, dtype=acc)
            grad_v = torch.zeros_like(v, dtype=acc)
            scratch = _Scratch(v, n, (q.dtype, acc, v.dtype))
            for s, e in _blocks(n):
                probs = _probs(q[:, :, s:e], k, scratch(0, e - s), scratch(1, e - s))  # (B, n, N)
                grad_o = grad_out[:, :, s:e]  # (B, C, n)
                grad_v.baddbmm_(grad_o.to(acc), probs)  # (B, C, N)
                grad_p = torch.bmm(grad_o.transpose(1, 2), v, out=scratch(2, e - s)).to(acc)  # (B, n, N)
                grad_e = grad_p.sub_(delta[:, s:e]).mul_(probs)  # softmax backward
                torch.bmm(k, grad_e.to(k.dtype).transpose(1, 2), out=grad_q[:, :, s:e])  # (B, d, n)
                grad_k.baddbmm_(q[:, :, s:e].to(acc), grad_e)  # (B, d, N)
            if scale != 1.0:
                grad_q.mul_(scale)  # grad_k already carries it, through the scaled q
        return grad_q, grad_k.to(k.dtype), grad_v.to(v.dtype), None


def sdpa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """The same map through ``F.scaled_dot_product_attention`` (one head)."""
    out = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), scale=scale)
    return out.transpose(1, 2)  # (B, C, N)


def dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float = 1.0
) -> torch.Tensor:
    """softmax(scale * q^T k) applied to v, channels-first: (B, d, N), (B, d, N), (B, C, N) -> (B, C, N)."""
    if q.device.type == "cpu" and not torch.compiler.is_compiling():
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else v.dtype
        with torch.autocast("cpu", enabled=False):
            return RecomputeAttention.apply(q.to(dtype), k.to(dtype), v.to(dtype), scale)
    return sdpa_attention(q, k, v, scale)
