"""What every ONNX exporter shares: export a module with dynamic axes, quantize it, open it with ONNX Runtime."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from nlpkit.export import require


def export_onnx(
    module: torch.nn.Module,
    example_inputs: Mapping[str, torch.Tensor],
    path: Path,
    *,
    output_names: Sequence[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
) -> Path:
    """Export ``module(**example_inputs)`` to ``path`` with torch's dynamo-based exporter (``torch.export``), the
    axes named in ``dynamic_axes`` (input name -> {axis: name}) left dynamic; weights are stored inside the file."""
    require("onnx", "onnxscript")
    names = list(example_inputs)
    dims = {axis_name: torch.export.Dim.DYNAMIC for axes in dynamic_axes.values() for axis_name in axes.values()}
    dynamic_shapes = {
        name: {axis: dims[axis_name] for axis, axis_name in dynamic_axes.get(name, {}).items()} for name in names
    }
    program = torch.onnx.export(
        module.eval(),
        (),
        kwargs=dict(example_inputs),
        input_names=names,
        output_names=list(output_names),
        dynamic_shapes=dynamic_shapes,
        dynamo=True,
        verbose=False,
    )
    program.save(str(path), external_data=False)
    return path


def quantize_int8(path: Path) -> Path:
    """Dynamic int8 quantization of ``path``'s weights, in place (activations stay float, scaled per batch)."""
    require("onnxruntime")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantized = path.with_name(f"{path.stem}.int8{path.suffix}")
    quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8)
    os.replace(quantized, path)
    return path


def inference_session(path: Path, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation on (fused attention, layer norm, GELU)."""
    require("onnxruntime")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
