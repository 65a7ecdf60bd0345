"""Class weights "balanced": `class_balance: "weights"` gives each class n / (classes · count) from the training
labels, the trainer adds them to the graph's CrossEntropyLoss, and a churn model trained so finds the churners
that always answering the majority class misses."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from table_files import churn_rows, write_csv
from test_table_training import mlp
from train_harness import iris_mlp, of_type, run

from engine.compile import compile_graph
from engine.data import load_dataset
from engine.errors import DataError
from engine.train.class_weights import weigh_classes


@pytest.fixture(scope="module")
def churn(tmp_path_factory):
    root = tmp_path_factory.mktemp("churn")
    write_csv(root / "churn.csv", *churn_rows(1000, seed=2))
    return root, {"name": "csv", "path": "churn.csv", "class_balance": "weights"}


def test_weights_are_balanced_over_the_training_labels_and_recorded(churn):
    root, dataset = churn
    split = load_dataset(dataset, seed=0, base_dir=root)
    counts = np.bincount(split.train.tensors[1].numpy())
    assert len(split.train) == counts.sum() == 800  # no sample repeated, unlike "oversample"
    assert split.class_weights == pytest.approx((800 / (2 * counts)).tolist())
    assert split.class_weights[split.class_names.index("yes")] > 1.5 > 1 > split.class_weights[0]
    assert split.record(dataset)["class_weights"] == split.class_weights
    assert "class weights" in split.describe() and not any("imbalanced" in w for w in split.warnings)
    with pytest.raises(DataError, match="'class_balance' applies to one class label per sample"):
        write_csv(root / "price.csv", ["a", "price"], [[str(i), f"{i * 1.5}"] for i in range(40)])
        load_dataset({"name": "csv", "path": "price.csv", "task": "regression", "class_balance": "weights"}, seed=0,
                     base_dir=root)


def test_the_weights_reach_the_cross_entropy_of_the_compiled_graph():
    class Data:
        class_weights = [0.5, 2.0, 1.0]

    class Setup:
        data, compiled = Data(), compile_graph(iris_mlp(), with_loss=True)

    assert weigh_classes(Setup) == []
    torch.manual_seed(0)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    with torch.no_grad():
        out = Setup.compiled.module(x, y)
    expected = F.cross_entropy(out["output1"], y, weight=torch.tensor([0.5, 2.0, 1.0]))
    assert "weight = (0.5, 2.0, 1.0)" in Setup.compiled.module.code
    assert float(out["loss"]) == pytest.approx(float(expected))
    assert float(out["loss"]) != pytest.approx(float(F.cross_entropy(out["output1"], y)))
    assert "loss1.weight" not in Setup.compiled.module.state_dict()  # checkpoints and exports are unchanged


def test_churn_with_class_weights_finds_the_churners(churn):
    root, dataset = churn
    width = load_dataset(dataset, seed=0, base_dir=root).input_shape[0]
    doc = mlp(width, 2, "CrossEntropyLoss", {"shape": [], "dtype": "int64"}, dataset=dataset, epochs=4)
    result, events = run(doc, root / "run", base_dir=root)
    assert result.state == "finished"
    confusion = [e["data"] for e in of_type(events, "artifact") if e.get("tag") == "confusion"][-1]
    churners = confusion["class_names"].index("yes")
    assert confusion["support"][churners] < 0.4 * sum(confusion["support"])  # the rare class
    # always answering "no" finds none of them; this run without weights finds 79 %
    assert confusion["recall"][churners] > 0.85
