"""Class weights "balanced" for the loss: `dataset.class_balance: "weights"` reaches the graph's CrossEntropyLoss.

The data layer computes each class's weight from the training labels (engine/data/split.py:
`DataSplit.class_weights`); the graph's loss nodes know nothing of the data, so once the run's module is
compiled, `weigh_classes` adds the weights to every cross-entropy call in its FX graphs as a constant
argument (a tuple of floats, readable in the module's `.code`) and regenerates the code. The weights are no
parameter or buffer: checkpoints and exports are the same with or without them.
"""

from __future__ import annotations

import torch.fx as fx

from nodes.layers.loss import cross_entropy


def weigh_classes(setup) -> list[str]:
    """Weigh the cross-entropy losses of the run's compiled module by the data's class weights, if it has any;
    the warnings for the run's log (a graph without a CrossEntropyLoss cannot use them)."""
    weights = getattr(setup.data, "class_weights", None)
    if not weights:
        return []
    weighed = 0
    for module in setup.compiled.module.modules():
        if not isinstance(module, fx.GraphModule):
            continue
        calls = [node for node in module.graph.nodes if node.op == "call_function" and node.target is cross_entropy]
        for node in calls:
            node.kwargs = {**node.kwargs, "weight": tuple(weights)}
        if calls:
            module.recompile()
            weighed += len(calls)
    if not weighed:
        return ["class_balance \"weights\" has no effect: the graph has no CrossEntropyLoss to weigh — use "
                "\"oversample\" instead"]
    return []
