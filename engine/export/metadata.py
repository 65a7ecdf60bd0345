"""What an exported ONNX model says about itself, in `metadata_props` (JSON values):

    layerloom.version         the Layerloom that wrote it
    layerloom.graph           the graph's name (also the ONNX graph's name)
    layerloom.task            classification | regression | unknown (no run record)
    layerloom.class_names     ["fail", "ok", "warn"], or null
    layerloom.preprocessing   how raw data becomes the input (engine/preprocessing.py), or null
    layerloom.inputs/outputs  [{"name", "shape" (null = dynamic), "dtype"}] as the graph takes/gives them

`layerloom predict` needs nothing else to run the model on raw data. `onnx_export` adds them before
the checker runs, so the file on disk is checked as it is.
"""

from __future__ import annotations

import json
from importlib import metadata as package_metadata

import onnx

from ..document import GraphDocument

PREFIX = "layerloom."


def package_version(name: str) -> str:
    try:
        return package_metadata.version(name)
    except package_metadata.PackageNotFoundError:
        return "not installed"


def add_metadata(model: onnx.ModelProto, doc: GraphDocument, data: dict | None, prep: dict | None) -> dict[str, str]:
    """Name the ONNX graph after `doc` and add the entries (keys without the prefix are returned)."""
    model.graph.name = doc.name
    entries = {
        "version": package_version("layerloom"),
        "graph": doc.name,
        "task": (data or {}).get("task") or "unknown",
        "class_names": json.dumps((data or {}).get("class_names"), ensure_ascii=False),
        "preprocessing": json.dumps(prep, ensure_ascii=False),
        "inputs": json.dumps(_signature(model.graph.input)),
        "outputs": json.dumps(_signature(model.graph.output)),
    }
    onnx.helper.set_model_props(model, {PREFIX + key: value for key, value in entries.items()})
    return entries


def _signature(values) -> list[dict]:
    return [{"name": value.name,
             "shape": [dim.dim_value if dim.HasField("dim_value") else None
                       for dim in value.type.tensor_type.shape.dim],
             "dtype": onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name}
            for value in values]
