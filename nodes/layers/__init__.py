"""The torch modules behind node types that torch.nn does not provide as-is.

These files import torch at module level, so only `build` functions import them (lazily): importing
`nodes` stays torch-free. Every forward is free of data-dependent Python control flow, so a module
works as a `call_module` in the compiled fx graph, under `torch.fx.symbolic_trace` and through the
ONNX exporter with a dynamic batch (and, for sequences, a dynamic length).
"""
