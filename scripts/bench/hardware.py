"""What the numbers were taken on (CPU, SIMD flags, GPU, load) and what it can do at most:
a matrix-multiplication probe per precision, the ceiling the model's speed is compared with."""

from __future__ import annotations

import os
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

from visearch.models.precision import REPORTED_FLAGS, cpu_flags, cpu_model


def hardware() -> dict[str, Any]:
    """CPU model, cores, the SIMD flags precision choices depend on, GPU, torch, load."""
    import torch

    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "simd_flags": {f: f in flags for f in REPORTED_FLAGS},
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_average": list(os.getloadavg()),
        "gpu": None,
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                       "count": torch.cuda.device_count()}
    return info


def _rate(fn: Callable[[], object], flops: float, seconds: float, sync: Callable[[], None]) -> float:
    fn()
    sync()
    started, n = time.perf_counter(), 0
    while True:
        fn()
        n += 1
        if n % 4 == 0:
            sync()
            elapsed = time.perf_counter() - started
            if elapsed >= seconds:
                return flops * n / elapsed / 1e9


def matmul_probe(device: str = "cpu", size: int = 1024, seconds: float = 1.0) -> dict[str, Any]:
    """GFLOP/s of a square matmul in fp32, bf16, int8 (a dynamically quantized Linear: what
    int8 models run) and, on CUDA, fp16; ratios to fp32 and the best of them."""
    import torch

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    flops = 2.0 * size**3
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    out: dict[str, Any] = {"device": device, "size": size, "threads": torch.get_num_threads()}
    ops: dict[str, Callable[[], object]] = {"fp32": lambda: a @ b}
    ab, bb = a.bfloat16(), b.bfloat16()
    ops["bf16"] = lambda: ab @ bb
    if device == "cuda":
        ah, bh = a.half(), b.half()
        ops["fp16"] = lambda: ah @ bh
    else:
        linear = torch.nn.Sequential(torch.nn.Linear(size, size, bias=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            q = torch.ao.quantization.quantize_dynamic(linear, {torch.nn.Linear},
                                                       dtype=torch.qint8)
        ops["int8"] = lambda: q(a)
    rates = dict.fromkeys(ops, 0.0)
    with torch.inference_mode():
        for _ in range(3):  # interleaved rounds, best of each: load hits all alike
            for name, op in ops.items():
                rates[name] = max(rates[name], _rate(op, flops, seconds / 3, sync))
    for name, value in rates.items():
        out[f"{name}_gflops"] = round(value, 1)
        out[f"{name}_vs_fp32"] = round(value / rates["fp32"], 2)
    best = max(rates, key=lambda k: rates[k])
    out["best"] = best
    out["best_gflops"] = round(rates[best], 1)
    return out
