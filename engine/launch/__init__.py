"""Running a graph beyond the app's own worker: on many processes, many machines, or elsewhere.

    bundle.py   a launch bundle: the graph, its resolved settings and ready-to-run torchrun,
                SkyPilot and Slurm files for N nodes × G GPUs (`layerloom launch`, the app's "Run on…")
    follow.py   reading a run folder's events.jsonl as it grows (following a remote run live)
    devices.py  what this machine can train on (the app's device picker asks the worker for it)

Nothing here imports Qt; only devices.py imports torch, inside its function.
"""
