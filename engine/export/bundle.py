"""One call for the CLI and the app: the requested exports plus the model card beside them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..document import GraphDocument
from .model_card import build_card, write_card
from .onnx_export import OnnxExport, export_onnx
from .python_code import PythonExport, export_python
from .run_record import TrainedRun
from .weights import resolve_weights


@dataclass
class ExportResult:
    onnx: OnnxExport | None
    python: PythonExport | None
    card_paths: tuple[Path, Path]
    warnings: list[str] = field(default_factory=list)  # for the user before deploying (untrained weights…)


def export_all(doc: GraphDocument, *, onnx: str | Path | None = None, python: str | Path | None = None,
               weights: str | Path | None = None, opset: int = 17, preprocessing: bool = True,
               softmax: bool = False, outputs: list[str] | None = None) -> ExportResult:
    """Export to ONNX and/or Python code. Weights from a run folder make the ONNX model deployable:
    it takes raw data (`preprocessing=False` keeps that separate) and knows its class names.
    `outputs` limits the ONNX model to those Output nodes (a GAN's generator alone)."""
    weights_file = resolve_weights(weights) if weights is not None else None
    onnx_result = export_onnx(doc, onnx, weights=weights_file, opset=opset, preprocessing=preprocessing,
                              softmax=softmax, outputs=outputs) if onnx else None
    python_result = export_python(doc, python, weights=weights_file) if python else None
    card = build_card(
        doc, parameters=_parameter_count(doc), weights=weights_file, run=TrainedRun.beside(weights_file),
        onnx=onnx_result.to_dict() if onnx_result else None,
        python={k: str(v) for k, v in asdict(python_result).items()} if python_result else None,
    )
    return ExportResult(onnx_result, python_result, write_card(card, Path(onnx or python)), card["warnings"])


def _parameter_count(doc: GraphDocument) -> int:
    from ..compile import compile_graph

    return sum(p.numel() for p in compile_graph(doc, with_loss=False).module.parameters())
