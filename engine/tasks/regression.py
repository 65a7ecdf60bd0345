"""Regression: predicted against true values (the data of a scatter plot), MAE and RMSE."""

from __future__ import annotations

from .base import Sample, TaskKind, predictions

MAX_POINTS = 256  # values in the scatter data (all outputs of the first samples)


class Regression(TaskKind):
    name = "regression"

    def metrics(self, setup, sample: Sample) -> dict[str, float]:
        error = predictions(setup, sample) - sample.y.float()
        return {"mae": float(error.abs().mean()), "rmse": float(error.pow(2).mean().sqrt())}

    def artifacts(self, setup, sample: Sample, out) -> None:
        predicted = predictions(setup, sample).reshape(-1)[:MAX_POINTS]
        out.data("predicted_vs_true", {"true": sample.y.float().reshape(-1)[:MAX_POINTS].tolist(),
                                       "predicted": predicted.tolist()})
