"""Peak memory of a module's training step, measured the same way on every device."""

from __future__ import annotations

import weakref
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
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor):
                continue
            storage = tensor.untyped_storage()
            if storage not in self.seen:  # views and in-place results share a storage
                self.seen.add(storage)
                self.current += storage.nbytes()
                weakref.finalize(storage, self._free, storage.nbytes())
        self.peak = max(self.peak, self.current)
        return out


def peak_training_memory(module: nn.Module, inputs: Any) -> float:
    """Peak MiB of the tensors that one forward + backward of ``module`` on ``inputs`` allocates.

    Inputs, weights and anything allocated outside the call are not counted; activations kept
    for backward, temporaries (e.g. an attention map and its softmax) and gradients are. The
    count follows tensor lifetimes in PyTorch's dispatcher, so it is the same on CPU and GPU
    and does not depend on the caching allocator.
    """
    inputs = inputs if isinstance(inputs, list) else [inputs]
    inputs = [x.detach().requires_grad_(True) for x in inputs]  # their grads are the backbone's
    was_training = module.training
    module.train()
    try:
        with _LiveBytes() as tracker:
            out = module(inputs if len(inputs) > 1 else inputs[0])
            outputs = out.values() if isinstance(out, dict) else [out]
            sum(o.float().mean() for o in outputs).backward()
            del out, outputs
        module.zero_grad(set_to_none=True)
    finally:
        module.train(was_training)
    return tracker.peak / 2**20
