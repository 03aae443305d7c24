"""The memory meter behind every published peak-memory figure (``attnseg-bench``, ``attnseg-report``).

:class:`PeakMemory` measures the peak, during a block of code, of the bytes held by the tensors
allocated inside the block, above what was held when it started:

* on CUDA, the caching allocator's own count: ``torch.cuda.max_memory_allocated`` minus
  ``torch.cuda.memory_allocated`` at the start (tensors only, not the allocator's reserve);
* elsewhere (CPU), the same quantity followed through PyTorch's dispatcher: every tensor storage
  an operator creates inside the block is counted from its creation until it is freed. Views and
  in-place results share a storage and are not counted again; storages made before the block
  (weights, inputs) are not counted. It does not depend on the process's allocator or RSS, so
  it is repeatable and the same in any process.

Both count activations kept for backward, temporaries (an attention map and its softmax),
outputs and gradients, and neither counts the weights or inputs that existed before the block;
:func:`held_bytes` is that starting level, for a whole-process figure. The CPU count does not see
inside ``torch.compile``d code: under a dispatch mode Dynamo runs the frame eagerly, so what it
would measure is the eager step (the benchmarks leave those rows without a memory figure).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class _LiveBytes(TorchDispatchMode):
    """Counts the bytes of every tensor storage created inside the mode while it is alive."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: weakref.WeakSet = weakref.WeakSet()
        self.current = 0
        self.peak = 0

    def _free(self, nbytes: int) -> None:
        self.current -= nbytes

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        inputs = {
            t.untyped_storage().data_ptr()
            for t in tree_leaves((args, kwargs))
            if isinstance(t, torch.Tensor) and t.device.type != "meta"
        }
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == "meta":
                continue
            storage = tensor.untyped_storage()
            if storage in self.seen or (storage.nbytes() and storage.data_ptr() in inputs):
                continue  # a view, an in-place result, or an out= argument: no new memory
            self.seen.add(storage)
            self.current += storage.nbytes()
            weakref.finalize(storage, self._free, storage.nbytes())
        self.peak = max(self.peak, self.current)
        return out


class PeakMemory:
    """``with PeakMemory(device) as meter: ...`` then ``meter.peak_mib`` (see the module docstring).

    Args:
        device: where the measured work runs; CUDA devices use the allocator's peak.
    """

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self.peak_bytes = 0
        self._mode: _LiveBytes | None = None
        self._base = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
        else:
            self._mode = _LiveBytes().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_bytes = torch.cuda.max_memory_allocated(self.device) - self._base
        else:
            self._mode.__exit__(*exc)
            self.peak_bytes = self._mode.peak

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


def held_bytes(
    device: torch.device | str, parts: Iterable[nn.Module | torch.optim.Optimizer | torch.Tensor]
) -> int:
    """What is held before a step: the allocator's count on CUDA; elsewhere the distinct storages
    of ``parts`` (modules' parameters, gradients and buffers, optimizers' state, tensors)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device)
    tensors: list[torch.Tensor] = []
    for part in parts:
        if isinstance(part, nn.Module):
            tensors += [*part.parameters(), *part.buffers()]
            tensors += [p.grad for p in part.parameters() if p.grad is not None]
        elif isinstance(part, torch.optim.Optimizer):
            tensors += [t for state in part.state.values() for t in tree_leaves(state)]
        else:
            tensors.append(part)
    storages = {
        t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
        for t in tensors
        if isinstance(t, torch.Tensor) and t.device.type != "meta"
    }
    return sum(storages.values())


def peak_training_memory(module: nn.Module, inputs: Any) -> float:
    """Peak MiB (:class:`PeakMemory`) of one forward + backward of ``module`` on ``inputs``.

    ``inputs`` is a tensor or a list of tensors (for multi-stage heads); the backward starts from
    the mean of every output.
    """
    inputs = inputs if isinstance(inputs, list) else [inputs]
    inputs = [x.detach().requires_grad_(True) for x in inputs]  # their grads are the backbone's
    was_training = module.training
    module.train()
    try:
        with PeakMemory(inputs[0].device) as meter:
            out = module(inputs if len(inputs) > 1 else inputs[0])
            outputs = out.values() if isinstance(out, dict) else [out]
            sum(o.float().mean() for o in outputs).backward()
            del out, outputs
        module.zero_grad(set_to_none=True)
    finally:
        module.train(was_training)
    return meter.peak_mib
