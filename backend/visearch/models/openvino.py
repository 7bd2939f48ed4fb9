"""OpenVINO as the runtime of a model's towers on CPU (``VISEARCH_RUNTIME``).

Measured (docs/performance.md): OpenVINO runs the CLIP ViT-B/32 image tower 2.1x faster than
torch in fp32 and the offline model's EfficientNet about 1.8x (bf16 on CPUs with AVX-512 BF16
or AMX, where its oneDNN graphs fuse attention and the MLP; f32 elsewhere), with cosine
>= 0.999 to torch fp32.
It is an optional dependency (the ``openvino`` extra); without it, or on a GPU, torch runs.

A tower is converted once per model, tower and precision and kept as OpenVINO IR under the
cache directory, so later starts read it instead of tracing the model again; OpenVINO's own
compiled-blob cache sits next to it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import structlog
import torch

from visearch.models.precision import Precision

log = structlog.get_logger(__name__)
E = TypeVar("E")
#: OpenVINO inference precision per visearch precision (int8 stays with torch).
_HINTS = {"fp32": "f32", "bf16": "bf16"}


def available() -> bool:
    """True when the ``openvino`` package is installed."""
    return importlib.util.find_spec("openvino") is not None


def supports(device: str, precision: str) -> bool:
    """Whether OpenVINO can run a model on ``device`` in ``precision`` here."""
    return device == "cpu" and precision in _HINTS and available()


def wanted(runtime: str, device: str, precision: str) -> bool:
    """Whether a model runs on OpenVINO for ``VISEARCH_RUNTIME=runtime``: ``auto`` where it
    can; ``openvino`` forced (a ``ModelLoadError`` where it cannot); ``torch`` never."""
    from visearch.models.base import ModelLoadError

    if runtime == "openvino" and not supports(device, precision):
        raise ModelLoadError(
            f"VISEARCH_RUNTIME=openvino needs the openvino package (pip install "
            f"'visearch[openvino]'), a CPU and precision fp32 or bf16 (have {device}, "
            f"{precision}); or set VISEARCH_RUNTIME=auto"
        )
    return runtime == "openvino" or (runtime == "auto" and supports(device, precision))


def converted(convert: Callable[[], E], runtime: str, model_id: str) -> E | None:
    """``convert()``, or None when OpenVINO cannot convert the model and the runtime was
    only ``auto`` (logged: torch runs it); a forced ``openvino`` raises ``ModelLoadError``."""
    from visearch.models.base import ModelLoadError

    try:
        return convert()
    except Exception as exc:
        if runtime == "openvino":
            raise ModelLoadError(f"OpenVINO could not convert {model_id!r}: {exc}") from exc
        log.warning("openvino_conversion_failed", error=str(exc), model_id=model_id)
        return None


class CompiledTower:
    """One tower compiled for the CPU; call it with numpy inputs, get a float32 array."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._output = compiled.output(0)
        self._lock = threading.Lock()  # one infer request: one call at a time

    @classmethod
    def convert(
        cls,
        module: torch.nn.Module,
        example: Mapping[str, torch.Tensor],
        precision: Precision,
        cache_dir: Path | None,
        key: str,
        dynamic_axes: tuple[int, ...] = (0,),
    ) -> CompiledTower:
        """Trace ``module`` (inputs named as in ``example``; ``dynamic_axes`` of every input
        may vary, e.g. batch and sequence length) or read its cached IR, and compile it in
        ``precision``. ``key`` names the weights and the tower for the cache."""
        import openvino as ov

        core = ov.Core()
        ir = None
        if cache_dir is not None:
            digest = hashlib.sha256(f"{key}|{ov.__version__}".encode()).hexdigest()[:16]
            ir = cache_dir / f"{digest}.xml"
            core.set_property({"CACHE_DIR": str(cache_dir / "compiled")})
        if ir is not None and ir.is_file():
            model = core.read_model(str(ir))
        else:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python control flow
                model = ov.convert_model(module.eval(), example_input=dict(example))
            shapes = [tuple(t.shape) for t in example.values()]
            for port, shape in zip(model.inputs, shapes, strict=True):  # in example's order
                dims = [-1 if i in dynamic_axes else d for i, d in enumerate(shape)]
                port.get_node().set_partial_shape(ov.PartialShape(dims))
            model.validate_nodes_and_infer_types()
            if ir is not None:
                try:
                    ir.parent.mkdir(parents=True, exist_ok=True)
                    ov.save_model(model, str(ir), compress_to_fp16=False)
                except OSError as exc:  # a read-only data dir: convert again next time
                    log.warning("openvino_cache_not_written", path=str(ir), error=str(exc))
        compiled = core.compile_model(model, "CPU", {
            "INFERENCE_PRECISION_HINT": _HINTS[precision],
            "PERFORMANCE_HINT": "LATENCY",
            # As many threads as torch uses (OMP_NUM_THREADS, torch.set_num_threads).
            "INFERENCE_NUM_THREADS": torch.get_num_threads(),
        })
        return cls(compiled)

    def __call__(self, inputs: Mapping[str, np.ndarray] | np.ndarray) -> np.ndarray:
        with self._lock:
            out = self._compiled(dict(inputs) if isinstance(inputs, Mapping) else [inputs])
        return np.asarray(out[self._output], dtype=np.float32)
