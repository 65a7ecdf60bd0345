"""SiLU (swish: EfficientNet's and MobileNetV3's SE activation) spelt out in ONNX ops, imported as one SiLU node.

ONNX before opset 24 has no Swish, so torch's exporters write `x · sigmoid(x)` as a Sigmoid and a Mul reading x
twice; mapped op by op that is two nodes and a wire around them that say nothing of what they are. The anchor is
a Mul of a tensor by the Sigmoid of that same tensor, the Sigmoid read by nothing else; the region must give
x·σ(x) on sample data.
"""

from __future__ import annotations

import numpy as np

from .regions import Dataflow, Region, first_proven, named, same


def match(flow: Dataflow, index: int) -> Region | str | None:
    """The SiLU region ending at Mul node `index`; None when it is not x times the sigmoid of x."""
    anchor = flow.model.nodes[index]
    if anchor.op != "Mul" or len(anchor.inputs) != 2:
        return None
    for x, gate in (anchor.inputs, anchor.inputs[::-1]):
        producer = flow.producer.get(gate)
        sigmoid = flow.model.nodes[producer] if producer is not None else None
        if sigmoid is None or sigmoid.op != "Sigmoid" or sigmoid.inputs[0] != x or len(flow.readers(gate)) != 1:
            continue
        if x not in flow.model.shapes:
            return None
        y = anchor.outputs[0]

        def propose(_x, _y, members, output, x=x, y=y):
            sample = flow.sample(x)
            if not same(sample / (1.0 + np.exp(-sample)), output):
                return "the product of the input and its sigmoid does not give x·σ(x)"
            return Region(members, flow.producer[y], lambda b: b.emit(
                named(flow, members, anchor), "SiLU", {}, [x], outputs={"out": y}))

        return first_proven(flow, [x], [y], propose)
    return None
