"""Per-layer gradient norms computed on the device, without a host sync.

Reading a norm with `.item()` stalls the GPU until the step finishes, so the training loop must
not do it every step. `GradNorms` returns device tensors — one L2 norm per node and the global
norm — from one `torch._foreach_norm` over all gradients and one `index_add_` that sums the
squared norms of each node's parameters; the caller syncs (`.tolist()`) only at log points.
"""

from __future__ import annotations

import torch


class GradNorms:
    """Gradient L2 norms per node of a compiled module (its submodules are named by node id).

    `node_ids` defaults to every node that owns parameters, in the order the module's fx graph first
    calls them (a block instance's submodule is registered after the plain layers, but is called where
    it sits in the graph), else in module order. Parameters are grouped once here; each call only
    gathers the current `.grad` tensors.
    """

    def __init__(self, module: torch.nn.Module, node_ids: list[str] | None = None):
        owners: dict[str, list[torch.nn.Parameter]] = {}
        for name, param in module.named_parameters():
            if param.requires_grad:
                owners.setdefault(name.split(".", 1)[0], []).append(param)
        self.node_ids = _call_order(module, list(owners)) if node_ids is None else list(node_ids)
        missing = [n for n in self.node_ids if n not in owners]
        if missing:
            raise ValueError(f"nodes without trainable parameters: {', '.join(missing)}")
        self._params = [p for n in self.node_ids for p in owners[n]]
        self._owner = [i for i, n in enumerate(self.node_ids) for _ in owners[n]]
        self._index: dict[tuple[bool, ...], torch.Tensor] = {}  # which grads exist → owner index on device

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-node norms of shape (len(node_ids),), global norm over those nodes) as fp32 device
        tensors; a node whose parameters have no gradient yet reports 0."""
        every = [p.grad for p in self._params]
        present = tuple(g is not None for g in every)
        grads = [g for g in every if g is not None]
        device = self._params[0].device if self._params else torch.device("cpu")
        squares = torch.zeros(len(self.node_ids), dtype=torch.float32, device=device)
        if not grads:
            return squares, squares.sum()
        norms = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float32))  # (P,) one fused kernel per dtype
        squares.index_add_(0, self._owner_index(present, device), norms.square())
        return squares.sqrt(), torch.linalg.vector_norm(norms)

    def _owner_index(self, present: tuple[bool, ...], device: torch.device) -> torch.Tensor:
        """The node index of each present grad, cached so steady-state steps copy nothing to the device."""
        index = self._index.get(present)
        if index is None:
            owners = [owner for owner, has in zip(self._owner, present, strict=True) if has]
            index = self._index[present] = torch.tensor(owners, dtype=torch.long, device=device)
        return index


def _call_order(module: torch.nn.Module, owners: list[str]) -> list[str]:
    """`owners` (top-level submodule names) in the order the module's fx graph first calls into them."""
    graph = getattr(module, "graph", None)
    if graph is None:
        return owners
    first: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            first.setdefault(str(node.target).split(".", 1)[0], len(first))
    return sorted(owners, key=lambda owner: first.get(owner, len(first)))
