"""Inside the network: instruments that look at what each node of a compiled graph does.

Each module is one instrument over the compiled `fx.GraphModule` (its submodules are named by node id):
nan_origin.py finds the node where a NaN/inf first appeared, activations.py measures per-node activation
statistics at log points, profile.py measures per-node time and memory, feature_maps.py and gradcam.py
show what a layer responds to. None imports Qt; their results travel as events and files of the run.
"""

# a layer with more than this fraction of zero outputs is dead, of outputs at its range's ends saturated; here,
# not in activations.py, because the app reads them and must not import torch to do so
DEAD, SATURATED = 0.9, 0.9
# profile.json (profile.py) in a run or `layerloom profile` folder; the artifact tag of a run profiled at its start
PROFILE_FILE, PROFILE_TAG = "profile.json", "profile"
