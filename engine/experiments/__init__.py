"""Experiments over a graph: the learning-rate range test (lr_find.py), sweeps of settings and node
parameters (sweep.py and its helpers, on Optuna) and the comparison of two runs (compare.py).

Each is a thin layer over the ordinary trainer and run store: a range test drives the run's own
trainer step on a fresh copy of the model, a sweep's trials are ordinary runs, and a comparison reads
two run folders. Nothing here imports Qt; torch and Optuna are imported by the modules that need them.
"""
