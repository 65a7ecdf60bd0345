"""Suite-wide settings. One BLAS/OpenMP thread per process: CI has 2 cores, and tiny models train
tens of times faster single-threaded than with threads fighting over them (measured: 24 s → 0.3 s
for a 5-epoch LSTM run). Set before anything imports torch, so child processes inherit it too."""

import os
import tempfile

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Whatever a test writes to the user data folder (unsaved graphs' runs, the step-time calibration, the error
# log) goes to a folder of the test session's, never the user's own (tests/app sets one per test).
os.environ.setdefault("LAYERLOOM_DATA_DIR", tempfile.mkdtemp(prefix="layerloom-tests-"))

# Hypothesis profiles: the default keeps the suite within CI's budget; `--hypothesis-profile long` runs the
# property and state-machine tests at a depth for local hunting.
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("long", max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
