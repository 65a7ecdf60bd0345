"""Does data or compute bound a run? The verdict from two figures (no torch: the app reads it).

`loader` is the data pipeline's samples/s measured alone — the run's batches fetched and augmented as the
trainer fetches them, with no model (`speed.loader_rate`, which bench/data.py's sources measure the same
way); `measured` is the run's training throughput, which counts fetching and the step together
(`speed.TrainingClock`). Fetched in the training process (data on the device, or `data_workers` 0) a
sample costs 1/loader + 1/step seconds, so the step's own rate is 1 / (1/measured − 1/loader) and data
bounds the run when fetching takes longer than the step. Fetched by DataLoader workers, fetching overlaps
the step and the run goes at the slower of the two: data bounds it when the loader is within HEADROOM
of the run's rate (the step could go faster: its rate is at least the measured one).
"""

from __future__ import annotations

HEADROOM = 0.15  # a loader less than this much faster than an overlapped run holds it back


def data_or_compute(loader: float, measured: float, workers: int) -> tuple[str, str]:
    """("data" | "compute", the line saying so): "data-bound: the loader gives 1,480 samples/s, the step takes
    3,100/s — raise data_workers". `workers`: the DataLoader processes fetching (0: the training process)."""
    if workers:
        data_bound, step = loader < measured * (1 + HEADROOM), measured
        takes = f"at least {step:,.0f}/s" if data_bound else f"{step:,.0f}/s"
    else:
        spare = 1 / measured - 1 / loader  # seconds a sample's step takes, fetching aside
        step = 1 / spare if spare > 0 else float("inf")
        data_bound = loader < step
        takes = f"{step:,.0f}/s" if spare > 0 else "no measurable time"
    figures = f"the loader gives {loader:,.0f} samples/s, the step takes {takes}"
    if not data_bound:
        return "compute", f"compute-bound: {figures} — the data keeps up; a faster device or a lighter model speeds it"
    advice = ("raise data_workers" if workers else
              "stream it with DataLoader workers (data_placement: stream, data_workers) or lighten the augmentation")
    return "data", f"data-bound: {figures} — {advice}"
