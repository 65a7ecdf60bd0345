"""Blocks named after the PyTorch modules they came from: the grouping of repeated structures
(engine/onnx_import/grouping.py) finds the repeats from the wiring; this names them from the module tree,
so a ResNet's blocks are instances `layer1` (×2), `layer2_0`… of a definition `BasicBlock`, holding nodes
`conv1`, `bn1`… — and the graph's weight names are the module's own (`layer1.0.conv1.weight`, which
engine/weights_map.py matches to a torchvision state_dict by name).
"""

from __future__ import annotations

ModuleStack = list[tuple[str, str]]  # (module path, class name), outermost first, the model itself left out


class ModuleNaming:
    def __init__(self, stacks: dict[str, ModuleStack]):
        self.stacks = stacks  # node id → the modules its call sat in
        self.paths: dict[str, str] = {}  # instance id → its module's path

    def _module(self, occurrence: list[str]) -> tuple[str, str] | None:
        """The innermost module every node of the occurrence sits in."""
        stacks = [self.stacks.get(node_id) for node_id in occurrence]
        if not stacks or any(stack is None for stack in stacks):
            return None
        common = None
        for entries in zip(*stacks, strict=False):
            if len(set(entries)) != 1:
                break
            common = entries[0]
        return common

    def instance(self, occurrence: list[str]) -> str | None:
        module = self._module(occurrence)
        if module is None:
            return None
        wanted = module[0].replace(".", "_")
        self.paths[wanted] = module[0]
        return wanted

    def inner(self, node_id: str, instance: str) -> str | None:
        prefix = instance + "_"
        return node_id[len(prefix):] if node_id.startswith(prefix) else None

    def block(self, occurrence: list[str]) -> str | None:
        module = self._module(occurrence)
        return module[1] if module is not None else None

    def folded(self, chain: list[str]) -> str | None:
        """`layer1` for instances `layer1_0`, `layer1_1` — the modules 0, 1… of one container, all of them
        from 0, so the repeated instance's paths (`layer1.1.conv1`) are the modules' own."""
        paths = [self.paths.get(instance) for instance in chain]
        if any(path is None for path in paths):
            return None
        parents = {path.rpartition(".")[0] for path in paths}
        indices = [path.rpartition(".")[2] for path in paths]
        parent = parents.pop() if len(parents) == 1 else ""
        return parent.replace(".", "_") if parent and indices == [str(k) for k in range(len(chain))] else None
