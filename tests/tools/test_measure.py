"""attnseg.tools.measure: the device choice, bf16, the CUDA rules (checked on the CPU with
``torch.cuda`` faked), out-of-memory errors, and the workers' rows, failures and time limits."""

from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from attnseg.tools import bench, model_cost, report, step_bench
from attnseg.tools.measure import (
    ROW_PREFIX,
    autocast,
    is_out_of_memory,
    meter_sees,
    resolve_device,
    run_workers,
    time_steps,
)
from attnseg.tools.memory import PeakMemory, held_bytes
from tests.conftest import ROOT

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


def test_auto_is_the_cpu_without_a_gpu(no_gpu: None) -> None:
    assert resolve_device("auto") == CPU and resolve_device("cpu") == CPU


def test_auto_is_the_gpu_when_there_is_one(one_gpu: None) -> None:
    assert resolve_device("auto") == CUDA and resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(ValueError, match="--device cuda:1: this machine has 1 CUDA device"):
        resolve_device("cuda:1")


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_a_gpu_is_an_error_naming_the_option(no_gpu: None, name: str) -> None:
    with pytest.raises(ValueError, match=f"--device {name}: CUDA was asked for.*use --device cpu"):
        resolve_device(name)


@pytest.mark.parametrize("name", ["gpu", "mps"])
def test_other_devices_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match=f"--device {name}: expected auto, cpu or cuda"):
        resolve_device(name)


COMMANDS = {
    "attnseg-bench": bench.main,
    "attnseg-step-bench": step_bench.main,
    "attnseg-report": lambda argv: report.main(["a_sweep", *argv]),
    "attnseg-model-cost": model_cost.main,
}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_refuses_cuda_without_a_gpu(no_gpu: None, capsys, command: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        COMMANDS[command](["--device", "cuda"])
    assert exit_.value.code == 2
    assert "argument --device: cuda: CUDA was asked for" in capsys.readouterr().err


def test_bf16_is_autocast_and_fp32_is_left_alone() -> None:
    conv, x = nn.Conv2d(3, 4, 1), torch.rand(1, 3, 4, 4)
    with autocast(CPU, "bf16"):
        assert conv(x).dtype == torch.bfloat16
    with autocast(CPU, "fp32"):
        assert conv(x).dtype == torch.float32
    with pytest.raises(ValueError, match="dtype must be one of"):
        autocast(CPU, "fp16")


def test_the_cpu_meter_does_not_see_compiled_code() -> None:
    assert meter_sees(CPU, "eager") and meter_sees(CUDA, "eager") and meter_sees(CUDA, "compile")
    assert not meter_sees(CPU, "compile")


def test_timings_synchronise_the_gpu_before_and_after_each_step(monkeypatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append("sync"))
    assert len(time_steps(lambda: log.append("step"), 2, CUDA)) == 2
    assert log == ["sync", "step", "sync"] * 2
    log.clear()
    time_steps(lambda: log.append("step"), 1, CPU)
    assert log == ["step"]


def test_cuda_peak_is_the_allocators_above_what_was_held(monkeypatch) -> None:
    log: list[str] = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: log.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: log.append("reset"))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: 100 * 2**20)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 250 * 2**20)
    with PeakMemory(CUDA) as meter:
        log.append("step")
    assert meter.peak_mib == 150 and log == ["sync", "reset", "step", "sync"]
    assert held_bytes(CUDA, [nn.Linear(2, 2)]) == 100 * 2**20  # the allocator's count, not the parts


def test_held_bytes_counts_weights_gradients_optimizer_state_and_tensors_once() -> None:
    layer, x = nn.Linear(10, 10), torch.zeros(5, 10)
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    weights = (10 * 10 + 10) * 4
    assert held_bytes(CPU, [layer, optimizer, x, x.view(-1)]) == weights + x.nbytes
    layer(x).sum().backward()
    optimizer.step()  # gradients, and the momentum buffers
    assert held_bytes(CPU, [layer, optimizer, x]) == 3 * weights + x.nbytes


@pytest.mark.parametrize(
    "err",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        torch.OutOfMemoryError("out of memory"),
        RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 10 GB"),
    ],
)
def test_out_of_memory_errors_are_recognised(err: Exception) -> None:
    assert is_out_of_memory(err)


def test_other_errors_are_not_out_of_memory() -> None:
    assert not is_out_of_memory(RuntimeError("shape mismatch")) and not is_out_of_memory(ValueError("x"))


STUB = "tests.tools.worker_stub"


def _stub(**spec: object) -> dict:
    return {"prefix": ROW_PREFIX, **spec}


@pytest.fixture
def stub_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def test_rows_come_back_in_order_and_missing_ones_say_why(stub_path: None) -> None:
    wanted = [{"case": "a"}, {"case": "b"}]
    specs = [
        _stub(rows=[{"case": "a", "ms": 1.0}], exit=3),  # a crash after its first row
        _stub(rows=[{"case": "b", "ms": 3.0}, {"case": "a", "ms": 2.0}]),
    ]
    assert list(run_workers(STUB, specs, lambda spec: wanted)) == [
        {"case": "a", "ms": 1.0},
        {"case": "b", "status": "failed (exit 3)"},
        {"case": "a", "ms": 2.0},
        {"case": "b", "ms": 3.0},
    ]


def test_a_worker_past_its_timeout_is_killed_and_its_rows_kept(stub_path: None) -> None:
    start = time.monotonic()
    rows = run_workers(
        STUB, [_stub(rows=[{"case": "a"}], sleep=60)], lambda s: [{"case": "a"}, {"case": "b"}], timeout=3
    )
    assert list(rows) == [{"case": "a"}, {"case": "b", "status": "timeout (3 s)"}]
    assert time.monotonic() - start < 30


def test_a_spent_budget_skips_the_rest(stub_path: None) -> None:
    rows = run_workers(STUB, [_stub(rows=[{"case": "a"}])], lambda s: [{"case": "a"}], budget=0)
    assert list(rows) == [{"case": "a", "status": "skipped (time budget spent)"}]
