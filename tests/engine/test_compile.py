"""The compiler: graph document → torch.fx GraphModule, checked against hand-written torch modules."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine.compile import compile_graph
from engine.document import Edge, GraphDocument
from engine.errors import CompileError, DocumentError, GraphInvalid
from nodes import registry


def wire(doc, *pairs):
    """Add wires given as ("src.port", "dst.port")."""
    for src, dst in pairs:
        doc.add_edge(Edge(*src.split("."), *dst.split(".")))


def mlp_doc(with_head=True) -> GraphDocument:
    """input1 (4) → fc1 (8) → relu1 → fc2 (3) → output1, plus CrossEntropyLoss on target1."""
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [4]}, node_id="input1")
    doc.add_node("Linear", {"out_features": 8, "init": "kaiming"}, node_id="fc1")
    doc.add_node("ReLU", node_id="relu1")
    doc.add_node("Linear", {"out_features": 3}, node_id="fc2")
    doc.add_node("Output", node_id="output1")
    wire(doc, ("input1.out", "fc1.in"), ("fc1.out", "relu1.in"), ("relu1.out", "fc2.in"), ("fc2.out", "output1.in"))
    if with_head:
        doc.add_node("Target", {"shape": [], "dtype": "int64"}, node_id="target1")
        doc.add_node("CrossEntropyLoss", node_id="loss1")
        wire(doc, ("fc2.out", "loss1.pred"), ("target1.out", "loss1.target"))
    return doc


def copy_into(reference: nn.Module, compiled: nn.Module, names: dict[str, str]) -> None:
    """Copy each compiled submodule's weights into the reference submodule of the mapped name."""
    for ours, theirs in names.items():
        reference.get_submodule(theirs).load_state_dict(compiled.get_submodule(ours).state_dict())


def test_mlp_trains_exactly_like_the_hand_written_network():
    compiled = compile_graph(mlp_doc())
    assert (compiled.input_names, compiled.target_names) == (["input1"], ["target1"])
    assert (compiled.output_names, compiled.loss_names) == (["output1"], ["loss1"])
    reference = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    copy_into(reference, compiled.module, {"fc1": "0", "fc2": "2"})
    x, y = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])

    result = compiled.module(x, y)
    logits = reference(x)
    expected_loss = F.cross_entropy(logits, y)
    assert set(result) == {"loss", "loss1", "output1"}
    torch.testing.assert_close(result["output1"], logits)
    torch.testing.assert_close(result["loss"], expected_loss)
    torch.testing.assert_close(result["loss1"], expected_loss)
    result["loss"].backward()
    expected_loss.backward()
    torch.testing.assert_close(compiled.module.fc1.weight.grad, reference[0].weight.grad)


def chain_doc(input_params: dict, layers: list[tuple[str, str, dict]]) -> GraphDocument:
    """input1 → each (id, type, params) in turn → output1."""
    doc = GraphDocument()
    doc.add_node("Input", input_params, node_id="input1")
    previous = "input1"
    for node_id, type_id, params in layers:
        doc.add_node(type_id, params, node_id=node_id)
        wire(doc, (f"{previous}.out", f"{node_id}.in"))
        previous = node_id
    doc.add_node("Output", node_id="output1")
    wire(doc, (f"{previous}.out", "output1.in"))
    return doc


def test_cnn_matches_the_hand_written_network():
    doc = chain_doc({"shape": [1, 8, 8]}, [
        ("conv1", "Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1, "init": "kaiming"}),
        ("relu1", "ReLU", {}), ("pool1", "MaxPool2d", {"kernel_size": 2}), ("flatten1", "Flatten", {}),
        ("fc1", "Linear", {"out_features": 10}),
    ])
    compiled = compile_graph(doc, with_loss=False)
    reference = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                              nn.Linear(4 * 4 * 4, 10))
    copy_into(reference, compiled.module, {"conv1": "0", "fc1": "4"})
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(compiled.module(x), reference(x))


class LastStepLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(3, 6, batch_first=True), nn.Linear(6, 2)

    def forward(self, x):  # (N, T, 3) → (N, 2)
        return self.head(self.lstm(x)[0][:, -1])


def test_lstm_matches_the_hand_written_network():
    doc = chain_doc({"shape": [5, 3]}, [
        ("lstm1", "LSTM", {"hidden_size": 6}), ("fc1", "Linear", {"out_features": 2}),
    ])
    compiled = compile_graph(doc, with_loss=False)
    reference = LastStepLSTM()
    reference.lstm.load_state_dict(compiled.module.lstm1.rnn.state_dict())
    copy_into(reference, compiled.module, {"fc1": "head"})
    x = torch.randn(4, 5, 3)
    torch.testing.assert_close(compiled.module(x), reference(x))


def test_transformer_block_matches_torchs_own_encoder_layer():
    doc = chain_doc({"shape": [6], "dtype": "int64"}, [
        ("embed1", "Embedding", {"num_embeddings": 11, "embedding_dim": 8}),
        ("block1", "TransformerBlock", {"num_heads": 2, "causal": True}),
        ("fc1", "Linear", {"out_features": 11}),
    ])
    compiled = compile_graph(doc, with_loss=False).module
    embed, head = nn.Embedding(11, 8), nn.Linear(8, 11)
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=32, dropout=0.0, activation="gelu", norm_first=True,
                                       batch_first=True)
    embed.load_state_dict(compiled.embed1.state_dict())
    head.load_state_dict(compiled.fc1.state_dict())
    block = compiled.block1
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(block.attn.qkv.weight)
        layer.self_attn.in_proj_bias.copy_(block.attn.qkv.bias)
    layer.self_attn.out_proj.load_state_dict(block.attn.proj.state_dict())
    for ours, theirs in (("ln1", "norm1"), ("ln2", "norm2"), ("ffn.0", "linear1"), ("ffn.2", "linear2")):
        layer.get_submodule(theirs).load_state_dict(block.get_submodule(ours).state_dict())
    tokens = torch.randint(0, 11, (3, 6))
    mask = nn.Transformer.generate_square_subsequent_mask(6)
    expected = head(layer(embed(tokens), src_mask=mask, is_causal=True))
    torch.testing.assert_close(compiled(tokens), expected)


def test_a_multi_output_layer_feeds_each_port_through_getitem():
    doc = GraphDocument()
    doc.add_node("Input", {"shape": [6]}, node_id="input1")
    doc.add_node("Split", {"index": 2}, node_id="split1")
    doc.add_node("Output", node_id="output1")
    doc.add_node("Output", node_id="output2")
    wire(doc, ("input1.out", "split1.in"), ("split1.a", "output1.in"), ("split1.b", "output2.in"))
    compiled = compile_graph(doc, with_loss=False)
    assert "split1_a = split1[0]" in compiled.module.code
    x = torch.randn(2, 6)
    a, b = compiled.module(x)
    torch.testing.assert_close(a, x[:, :2])
    torch.testing.assert_close(b, x[:, 2:])


def test_generated_code_and_state_dict_are_named_by_node_id():
    module = compile_graph(mlp_doc()).module
    assert list(module.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert "fc1 = self.fc1(input1)" in module.code
    # a loss is a plain function call: no module call per step
    assert "loss1 = nodes_layers_loss_cross_entropy(fc2, target1, label_smoothing = 0.0)" in module.code


def test_weight_init_is_applied_per_node():
    module = compile_graph(mlp_doc()).module
    assert torch.count_nonzero(module.fc1.bias) == 0  # kaiming zeroes biases
    assert torch.count_nonzero(module.fc2.bias) > 0  # torch's default init keeps uniform biases


def test_an_invalid_graph_raises_graph_invalid_with_every_diagnostic():
    doc = mlp_doc()
    doc.remove_edge(Edge("input1", "out", "fc1", "in"))
    doc.set_param("fc2", "out_features", 0)
    with pytest.raises(GraphInvalid) as caught:
        compile_graph(doc)
    places = {(d.node, d.port or d.param) for d in caught.value.diagnostics}
    assert {("fc1", "in"), ("fc2", "out_features")} <= places
    assert "fc1.in: input is not connected" in str(caught.value)


def test_a_layer_that_fails_to_build_is_named(monkeypatch):
    linear = registry.get_spec("Linear")

    def refuse(params, in_shapes):
        raise RuntimeError("out of memory")

    monkeypatch.setitem(registry._SPECS, "Linear", dataclasses.replace(linear, build=refuse))
    with pytest.raises(CompileError, match=r"^fc1 \(Linear\): cannot build the layer: out of memory$"):
        compile_graph(mlp_doc())


def test_a_node_id_that_shadows_a_module_attribute_is_refused():
    doc = mlp_doc()
    with pytest.raises(DocumentError, match="'train' is the name of a torch module attribute"):
        doc.add_node("Linear", node_id="train")  # a submodule named `train` would hide Module.train()
    doc.nodes["train"] = dataclasses.replace(doc.nodes["fc2"])  # slipped past the document: compile refuses too
    doc.add_node("Output", node_id="output2")
    wire(doc, ("fc2.out", "train.in"), ("train.out", "output2.in"))
    with pytest.raises(CompileError, match="train \\(Linear\\).*reserved.*rename the node"):
        compile_graph(doc)


def test_inference_flavour_prunes_loss_and_target():
    doc = mlp_doc()
    doc.add_node("Linear", {"out_features": 2}, node_id="aux1")  # feeds only a second loss
    doc.add_node("Target", {"shape": [2], "dtype": "float32"}, node_id="target2")
    doc.add_node("MSELoss", node_id="loss2")
    wire(doc, ("relu1.out", "aux1.in"), ("aux1.out", "loss2.pred"), ("target2.out", "loss2.target"))
    training = compile_graph(doc)
    x, y1, y2 = torch.randn(3, 4), torch.tensor([0, 1, 2]), torch.rand(3, 2)
    result = training.module(x, y1, y2)
    torch.testing.assert_close(result["loss"], result["loss1"] + result["loss2"])

    inference = compile_graph(doc, with_loss=False)
    assert (inference.input_names, inference.target_names, inference.loss_names) == (["input1"], [], [])
    assert {name for name, _ in inference.module.named_children()} == {"fc1", "relu1", "fc2"}
    inference.module.load_state_dict(training.module.state_dict(), strict=False)
    torch.testing.assert_close(inference.module(x), result["output1"])


def test_two_outputs_come_back_as_a_tuple_in_output_order():
    doc = mlp_doc(with_head=False)
    doc.add_node("Output", node_id="output0")
    wire(doc, ("relu1.out", "output0.in"))
    compiled = compile_graph(doc, with_loss=False)
    assert compiled.output_names == ["output0", "output1"]
    hidden, logits = compiled.module(torch.randn(2, 4))
    assert (hidden.shape, logits.shape) == ((2, 8), (2, 3))


def test_missing_sinks_and_label_leaks_are_reported():
    with pytest.raises(CompileError, match="no loss node"):
        compile_graph(mlp_doc(with_head=False))
    doc = mlp_doc()
    doc.add_node("Output", node_id="output2")
    wire(doc, ("target1.out", "output2.in"))
    with pytest.raises(CompileError, match="output2 depends on Target 'target1'"):
        compile_graph(doc, with_loss=False)


def test_torch_compile_fullgraph_gives_the_same_result():
    compiled = compile_graph(mlp_doc())
    args = compiled.example_inputs(batch_size=4)
    fast = torch.compile(compiled.module, backend="eager", fullgraph=True)
    expected = compiled.module(*args)
    for key, value in fast(*args).items():
        torch.testing.assert_close(value, expected[key])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the legacy exporter is what export uses
def test_onnx_export_with_a_dynamic_batch_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    compiled = compile_graph(mlp_doc(), with_loss=False)
    path = tmp_path / "mlp.onnx"
    torch.onnx.export(compiled.module.eval(), compiled.example_inputs(2), path, dynamo=False, opset_version=17,
                      input_names=["input1"], output_names=["output1"],
                      dynamic_axes={"input1": {0: "batch"}, "output1": {0: "batch"}})
    x = torch.randn(7, 4)
    (got,) = ort.InferenceSession(str(path)).run(None, {"input1": x.numpy()})
    torch.testing.assert_close(torch.from_numpy(got), compiled.module(x))
