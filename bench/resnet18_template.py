"""Writes the "Fine-tune ResNet-18 on an image folder" template, resources/examples/finetune_resnet18.json.

    python bench/resnet18_template.py [--out PATH]

The network is not drawn by hand: torchvision's ResNet-18 (written out in plain PyTorch, with torchvision's
names, in engine/torch_import/reference_models.py, since torchvision need not be installed) is imported by
Layerloom's own PyTorch importer, as a user would:

    layerloom import --factory engine.torch_import.reference_models:resnet18 --input-shape 3,32,32

which gives the stem, eight BasicBlock instances (two block definitions: with and without a downsampling
shortcut), pooling and the 1000-class `fc`. This script then makes it a fine-tuning template: `fc` gets
one output per class of the template's data (scikit-learn's digits, as 32×32 RGB pictures, built in: no
download), a Target and a CrossEntropyLoss are wired to it, the backbone (everything before `fc`) is frozen
(`training.frozen`), and `training.pretrained` names torchvision's ImageNet weights. The template ships no
weights: until they are fetched (`layerloom weights fetch GRAPH torchvision:resnet18:IMAGENET1K_V1`, or
File → Fetch published weights…) a run starts from the random initialisation and validation says so.
The import's own random weights are not kept.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.cli import main as layerloom  # noqa: E402
from engine.document import Edge  # noqa: E402
from engine.fileformat import load_document, save_document  # noqa: E402
from engine.layout import layered_positions  # noqa: E402
from engine.torch_import import NODE_SIZE  # noqa: E402

TEMPLATE = ROOT / "resources" / "examples" / "finetune_resnet18.json"
FACTORY = "engine.torch_import.reference_models:resnet18"
IMAGE_SIZE = 32  # a CPU step stays quick; the stem and three stride-2 stages leave 1×1 maps for layer4
CLASSES = 10  # the digits
HEAD = "fc"
PUBLISHED = "torchvision:resnet18:IMAGENET1K_V1"
WEIGHTED = ("Conv2d", "BatchNorm2d", "Block")  # the backbone's nodes that hold weights: what training.frozen lists
NAME = "Fine-tune ResNet-18 on an image folder"
DESCRIPTION = ("ResNet-18 imported from PyTorch, backbone frozen, new 10-class head; digits as 32×32 RGB. "
               "Fetch its ImageNet weights, then set dataset image_folder, path, image_size.")
TRAINING = {
    "dataset": {"name": "digits", "image_size": [IMAGE_SIZE, IMAGE_SIZE], "grayscale": False, "val_split": 0.2},
    "pretrained": PUBLISHED,
    "optimizer": {"name": "adamw", "lr": 0.01, "weight_decay": 0.01},
    "schedule": {"name": "cosine"},
    "epochs": 5,
    "batch_size": 64,
    "seed": 0,
}


def imported(folder: Path):
    """ResNet-18 as the importer makes it: `layerloom import --factory …` into `folder`."""
    graph = folder / "resnet18.json"
    status = layerloom(["import", "--factory", FACTORY, "--input-shape", f"3,{IMAGE_SIZE},{IMAGE_SIZE}",
                        "--out", str(graph)])
    if status:
        raise SystemExit(f"layerloom import failed (exit {status})")
    return load_document(graph)


def template(doc):
    """The imported graph as a fine-tuning template (see the module docstring)."""
    backbone = [node_id for node_id, node in doc.nodes.items() if node.type_id in WEIGHTED and node_id != HEAD]
    doc.set_param(HEAD, "out_features", CLASSES)
    doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
    doc.add_node("CrossEntropyLoss", {}, node_id="loss1")
    doc.add_edge(Edge(HEAD, "out", "loss1", "pred"))
    doc.add_edge(Edge("target1", "out", "loss1", "target"))
    for node_id, position in layered_positions(doc, dict.fromkeys(doc.nodes, NODE_SIZE)).items():
        doc.nodes[node_id].position = position
    x, y = doc.nodes[HEAD].position  # the labels enter below the head they are compared with
    doc.nodes["target1"].position = (x, y + 2.2 * NODE_SIZE[1])
    doc.name, doc.description = NAME, DESCRIPTION
    doc.training = {**TRAINING, "frozen": backbone}
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TEMPLATE, help=f"where to write it (default {TEMPLATE})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="layerloom-resnet18-") as folder:
        doc = template(imported(Path(folder)))
    save_document(doc, args.out)
    print(f"wrote {args.out}: {len(doc.nodes)} nodes, frozen {', '.join(doc.training['frozen'])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
