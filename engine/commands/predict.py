"""`layerloom predict MODEL.onnx INPUT [--top K] [--json] [--tokens N] [--temperature T]`.

Runs an exported model on raw data with onnxruntime and the model's own metadata (engine/predict.py)
— no torch, no training code — and prints one line per sample, "row 5: warn 93.1 % (ok 5.2 %,
fail 1.7 %)", and when the data carries labels (a CSV's or Parquet's label column, class
sub-folders of images, an .npz's y) the accuracy with each class's precision, recall and F1 (and the
ROC AUC of a two-class model) — or, for a regression, MAE, RMSE and R² in the target's units. Every
model reads a .npy/.npz of samples; one trained on arrays (the digits) also reads CSV rows of flattened
samples and pictures (engine/predict_inputs.py), one trained on a table its CSV or Parquet file's rows
with their text and empty cells. For a text model INPUT is a prompt: it prints the likely next
characters, and with `--tokens N` the next N characters (greedy, or sampled at `--temperature`).
Exits 0 on success, 1 when the model or data do not fit, 2 when a file is missing or unreadable.

A CSV file is streamed: its predictions are printed as they are made (with --json too: one
prediction per line inside the JSON document), so a file of any size fits in memory. What is wrong
with the model, the header or the first rows is said before anything is printed; a bad cell further
down stops the output at its row, with the error on stderr and exit 1. An image declaring more
pixels than Pillow reads safely (a decompression bomb) is unreadable, exit 2 — in a folder, the
whole folder. `--top` below 1, `--tokens` out of range and a `--temperature` that is not 0 or a
finite number of at least 0.001 (nan, inf, negative, 1e-320) are refused naming the flag, exit 1.
"""

from __future__ import annotations

import json
import sys


def add_arguments(parser) -> None:
    parser.add_argument("model", help="an ONNX model written by `layerloom export --weights RUN_DIR`")
    parser.add_argument("input", help="a CSV file, an image or a folder of images, a .npy/.npz array of samples, "
                                      "or a text model's prompt")
    parser.add_argument("--top", type=int, default=3, metavar="K", help="classes shown per sample (default 3)")
    parser.add_argument("--json", action="store_true", help="print the predictions as JSON")
    parser.add_argument("--tokens", type=int, default=0, metavar="N", help="text models: generate N characters")
    parser.add_argument("--temperature", type=float, default=0.0, metavar="T",
                        help="text models: sample at temperature T, at least 0.001 (default 0: the most likely "
                             "character)")


def run(args) -> int:
    from ..predict import DeployedModel, PredictError, check_options  # onnxruntime is imported only now

    try:
        check_options(top=args.top, tokens=args.tokens, temperature=args.temperature)
        model = DeployedModel.load(args.model)
        if model.prep["kind"] != "text":
            _samples(model, args)
            return 0
        report, lines = _text(model, args)
    except PredictError as exc:
        sys.stdout.flush()  # what was printed before the error, then the error
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_status
    print(json.dumps(report, indent=1, ensure_ascii=False) if args.json else "\n".join(lines))
    return 0


def _samples(model, args) -> None:
    """Print each prediction as it comes (see the module docstring), then the scores against the labels."""
    from ..predict import iter_predictions

    predictions = iter_predictions(model, args.input)  # raises what is wrong before anything is printed
    names = model.class_names if model.classifier else None
    labelled = _Labelled(names)
    write = sys.stdout.write
    if args.json:
        write(f'{{"model": {json.dumps(model.name, ensure_ascii=False)}, "task": {json.dumps(model.task)}, '
              '"predictions": [')
    for i, prediction in enumerate(predictions):
        row = _row(prediction, names, args.top)
        labelled.add(prediction)
        write((",\n" if i else "\n") + json.dumps(row, ensure_ascii=False) if args.json else _line(row) + "\n")
    scores = labelled.scores()
    if args.json:
        accuracy = scores.get("accuracy") if scores else None
        write(f'\n], "accuracy": {json.dumps(accuracy)}, "metrics": {json.dumps(scores, ensure_ascii=False)}}}\n')
    elif scores:
        write(_report(scores, names))


class _Labelled:
    """What the labelled predictions add up to: a classifier's confusion counts and (two classes) the second
    class's probabilities for the ROC AUC; a regression's true and predicted values."""

    def __init__(self, names: list[str] | None):
        self.names = names
        self.true: list = []
        self.guess: list = []

    def add(self, prediction) -> None:
        target = (prediction.target or "").strip()
        if not target:
            return
        if self.names is None:
            try:
                self.true.append(float(target))
            except ValueError:
                return  # a regression's label that is not a number scores nothing
            self.guess.append(prediction.scores.reshape(-1)[0])
        elif target in self.names:
            self.true.append(self.names.index(target))
            self.guess.append(prediction.scores)
        else:
            self.true.append(-1)  # a class the model does not know: counted, and always wrong
            self.guess.append(prediction.scores)

    def scores(self) -> dict | None:
        if not self.true:
            return None
        import numpy as np

        from ..metrics import per_class, regression_scores, roc_auc

        if self.names is None:
            return {"samples": len(self.true), **regression_scores(self.true, self.guess)}
        true, probabilities = np.array(self.true), np.stack(self.guess)
        guess = probabilities.argmax(axis=1)
        known = true >= 0
        classes = len(self.names)
        confusion = np.bincount(true[known] * classes + guess[known], minlength=classes * classes)
        report = {"samples": len(true), "accuracy": float((true == guess).mean()),
                  **per_class(confusion.reshape(classes, classes))}
        if classes == 2:
            report["roc_auc"] = roc_auc(probabilities[known, 1], true[known] == 1)
        return report


def _report(scores: dict, names: list[str] | None) -> str:
    if names is None:
        r2 = f", R² {scores['r2']:.3f}" if scores["r2"] is not None else ""
        return (f"MAE {scores['mae']:.4g}, RMSE {scores['rmse']:.4g}{r2} over {scores['samples']} samples with "
                "a target\n")
    lines = [f"accuracy: {_percent(scores['accuracy'])} over {scores['samples']} labelled samples"]
    width = max(len(name) for name in names)
    for i, name in enumerate(names):
        cells = [f"{key} {_percent(scores[key][i]) if scores[key][i] is not None else '–':>7}"
                 for key in ("precision", "recall", "f1")]
        lines.append(f"  {name:<{width}}  " + "  ".join(cells) + f"  ({scores['support'][i]} samples)")
    if scores.get("roc_auc") is not None:
        lines.append(f"ROC AUC ({names[1]} against {names[0]}): {scores['roc_auc']:.3f}")
    return "\n".join(lines) + "\n"


def _row(prediction, names: list[str] | None, top: int) -> dict:
    if names is None:
        return {"sample": prediction.sample, "values": prediction.scores.reshape(-1).tolist()}
    order = (-prediction.scores).argsort()[:top]  # an ndarray: no numpy import, --help stays fast
    return {"sample": prediction.sample, "label": names[order[0]],
            "probabilities": {names[i]: float(prediction.scores[i]) for i in order}, "target": prediction.target}


def _line(row: dict) -> str:
    if "values" in row:
        return f"{row['sample']}: " + ", ".join(f"{v:.4g}" for v in row["values"])
    best, *rest = row["probabilities"].items()
    line = f"{row['sample']}: {best[0]} {_percent(best[1])}"
    if rest:
        line += " (" + ", ".join(f"{name} {_percent(p)}" for name, p in rest) + ")"
    if row["target"] is not None and row["target"] != row["label"]:
        line += f"  [labelled {row['target']}]"
    return line


def _percent(p: float) -> str:
    return f"{100 * p:.1f} %"


def _text(model, args) -> tuple[dict, list[str]]:
    from ..predict import generate, next_character

    probabilities = next_character(model, args.input)
    vocab = model.prep["vocab"]
    order = (-probabilities).argsort()[:args.top]
    following = {vocab[i]: float(probabilities[i]) for i in order}
    lines = [f"next after {args.input[-20:]!r}: " + ", ".join(f"{ch!r} {_percent(p)}" for ch, p in following.items())]
    generated = generate(model, args.input, args.tokens, args.temperature) if args.tokens else None
    if generated is not None:
        lines.append(args.input + generated)
    return {"model": model.name, "task": model.task, "prompt": args.input, "next": following,
            "generated": generated}, lines
