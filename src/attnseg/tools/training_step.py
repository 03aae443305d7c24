"""One whole training step of a model, timed and metered: forward, the module's loss over every
output, backward, optimizer step. Shared by ``attnseg-step-bench`` (the paper setting) and
``attnseg-report`` (each head of a sweep at one fixed input, beside its mIoU)."""

from __future__ import annotations

import statistics

import torch

from attnseg.tools.measure import autocast, meter_sees, time_steps
from attnseg.tools.memory import PeakMemory, held_bytes
from attnseg.training.module import SegmentationModule


def measure_training_step(
    module: SegmentationModule,
    images: torch.Tensor,
    masks: torch.Tensor,
    *,
    dtype: str = "fp32",
    execution: str = "eager",
    warmup: int = 1,
    repeats: int = 3,
) -> dict[str, float | str | None]:
    """Median and best step time, ms per image, the first step's time (optimizer state; the
    compilation of a compiled step), and peak memory: of the step above what was held before it
    (``step_peak_mib``) and of the whole model (``peak_mib``: that plus the weights, buffers,
    optimizer state and batch; on CUDA the allocator's peak). Memory is ``None`` where the meter
    cannot see the step (compiled code on the CPU)."""
    device = images.device
    module.train()
    optimizer = module.build_optimizer()
    forward = module.net
    if execution == "compile":
        torch._dynamo.reset()  # a fresh cache per model: no recompile limit shared across models
        forward = torch.compile(module.net, dynamic=False)
    logits_dtype = ""  # what autocast made of the forward

    def step() -> None:
        nonlocal logits_dtype
        with autocast(device, dtype):
            outputs = forward(images)
            loss, _ = module.compute_loss(outputs, masks)
        logits_dtype = str(outputs["out"].dtype).removeprefix("torch.")
        del outputs  # as in training: the logits are not held through backward
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    first = time_steps(step, 1, device)[0]
    time_steps(step, warmup - 1, device)
    times = time_steps(step, repeats, device)
    step_mib = peak_mib = None
    if meter_sees(device, execution):
        held = held_bytes(device, [module, optimizer, images, masks])
        with PeakMemory(device) as meter:
            step()
        step_mib, peak_mib = meter.peak_mib, (held + meter.peak_bytes) / 2**20
    median = statistics.median(times)
    return {"time_median_s": median, "time_min_s": min(times), "ms_per_image": 1e3 * median / len(images),
            "first_step_s": first, "step_peak_mib": step_mib, "peak_mib": peak_mib,
            "logits_dtype": logits_dtype}  # fmt: skip
