"""What every ONNX exporter shares: export a module with dynamic axes, quantize it, open it with ONNX Runtime."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
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
    axes named in ``dynamic_axes`` (input name -> {axis: name}) left dynamic, with those names in the file; weights are
    stored inside the file."""
    require("onnx", "onnxscript")
    _forget_cached_rnn_kernels()
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
    # torch.export names the dynamic axes s0, s1...: give them the caller's names (what a user of the file sees).
    renames = {}
    for value in program.model.graph.inputs:
        for axis, axis_name in dynamic_axes.get(value.name, {}).items():
            symbol = getattr(value.shape[axis], "value", None) if value.shape is not None else None
            if isinstance(symbol, str):
                renames.setdefault(symbol, axis_name)
    program.rename_axes(renames)
    program.save(str(path), external_data=False)
    _infer_shapes_again(path)
    return path


def _infer_shapes_again(path: Path) -> None:
    """Replace the exporter's shape annotations by ONNX's own inference from the dynamic inputs.

    torch 2.13 gives an LSTM's or GRU's outputs (and all that follows) the example's sequence length: only
    annotations, but ONNX Runtime then warns at every run whose outputs differ, and could fold shapes on them. Outputs
    that inference cannot shape (constants) keep the exporter's."""
    import onnx

    model = onnx.load(str(path))
    declared = {output.name: onnx.TypeProto() for output in model.graph.output}
    for output in model.graph.output:
        declared[output.name].CopyFrom(output.type)
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except onnx.shape_inference.InferenceError:  # keep the exporter's annotations rather than none
        return
    for output in model.graph.output:
        if not output.type.tensor_type.HasField("shape"):
            output.type.CopyFrom(declared[output.name])
    onnx.save(model, str(path))


def _forget_cached_rnn_kernels() -> None:
    """Drop the kernels torch cached for aten::lstm / aten::gru during an earlier export (torch 2.13): the exporter
    swaps in an export-friendly decomposition and restores the registry afterwards, but not the cache, so a second
    export in the same process unrolls the RNN over the example's length and fails on a dynamic sequence axis."""
    for op in (torch.ops.aten.lstm.input, torch.ops.aten.gru.input):
        cache = getattr(op, "_dispatch_cache", None)
        if cache is not None:
            cache.clear()


def quantize_int8(path: Path, *, float_weight_shapes: Collection[tuple[int, ...]] = ()) -> Path:
    """Dynamic int8 quantization of ``path``'s weights, in place (activations stay float, scaled per batch).

    The matrix products whose weight has one of ``float_weight_shapes`` stay float: see
    :func:`feed_forward_output_shapes`."""
    require("onnx", "onnxruntime")
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    excluded = []
    if float_weight_shapes:
        graph = onnx.load(str(path)).graph
        weights = {tensor.name: tuple(tensor.dims) for tensor in graph.initializer}
        wanted = set(map(tuple, float_weight_shapes))
        excluded = [
            node.name
            for node in graph.node
            if node.op_type in ("MatMul", "Gemm") and any(weights.get(name) in wanted for name in node.input)
        ]
    quantized = path.with_name(f"{path.stem}.int8{path.suffix}")
    quantize_dynamic(str(path), str(quantized), weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    os.replace(quantized, path)
    return path


def feed_forward_output_shapes(config: Any) -> list[tuple[int, int]]:
    """The weight shape of a transformer encoder's feed-forward output projections (intermediate -> hidden), which
    dynamic int8 should leave float: they read the GELU's activations, whose per-batch range is the widest in the
    layer, so one int8 scale for them costs the most accuracy (all-MiniLM-L6-v2 on SST-2 dev: 83.0% with them int8,
    83.9% as in fp32 without, still 1.8x the fp32 graph's speed at batch 1)."""
    intermediate, hidden = getattr(config, "intermediate_size", None), getattr(config, "hidden_size", None)
    return [(intermediate, hidden)] if isinstance(intermediate, int) and isinstance(hidden, int) else []


def inference_session(path: Path, *, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation on (fused attention, layer norm, GELU).

    ``threads`` defaults to ``$OMP_NUM_THREADS`` when it is set, the variable that sets PyTorch's thread count, so
    both runtimes get the same share of a machine (ONNX Runtime itself ignores it and takes every core)."""
    require("onnxruntime")
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is None and os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = int(os.environ["OMP_NUM_THREADS"]) or None
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
