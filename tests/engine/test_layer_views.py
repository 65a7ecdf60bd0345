"""Look at a layer, and why a prediction: feature maps and Grad-CAM have the input's shape and follow the sample."""

from __future__ import annotations

import pytest
import torch
from train_harness import example

from engine.compile import compile_graph
from engine.data import load_dataset
from engine.inspect.feature_maps import layer_images, layer_view
from engine.inspect.gradcam import explain, spatial_nodes


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    doc = example("digits_cnn")
    module = compile_graph(doc, with_loss=False).module.eval()
    x = load_dataset(doc.training["dataset"], 0).val.tensors[0][:4]  # (4, 1, 8, 8)
    return module, x


def test_gradcam_and_saliency_have_the_inputs_spatial_shape_and_change_with_the_sample(cnn):
    module, x = cnn
    result = explain(module, x)
    assert result["layer"] == spatial_nodes(module, x)[-1] == "pool2"  # the last map before Flatten
    for key in ("gradcam", "saliency"):
        maps = result[key]
        assert maps.shape == (4, 8, 8) and maps.min() >= 0 and maps.max() <= 1
        assert not torch.allclose(maps[0], maps[1])  # another digit, another explanation
    assert torch.equal(result["classes"], module(x).argmax(-1))
    by_hand = x.clone().requires_grad_(True)  # saliency is |∂score/∂x| of the predicted class, scaled
    module(by_hand)[0, result["classes"][0]].backward()
    grad = by_hand.grad[0].abs().amax(0)
    assert torch.allclose(result["saliency"][0], (grad - grad.min()) / (grad.max() - grad.min()), atol=1e-5)
    assert explain(module, x, layer="conv1")["gradcam"].shape == (4, 8, 8)
    with pytest.raises(ValueError, match="fc1 gives no .* map"):
        explain(module, x, layer="fc1")


def test_feature_maps_filters_and_weights_of_a_layer(cnn):
    module, x = cnn
    first, second = layer_view(module, x[:1], "conv1"), layer_view(module, x[1:2], "conv1")
    maps = first["feature_maps"]
    assert maps.shape == (module.conv1.out_channels, 8, 8)  # padding keeps the input's 8×8
    assert maps.amax((1, 2)).le(1).all() and maps.amin((1, 2)).eq(0).all()  # each map scaled on its own
    assert not torch.allclose(maps, second["feature_maps"])
    assert torch.equal(first["filters"], module.conv1.weight.detach())
    linear = layer_view(module, x[:1], "fc1")
    assert linear["feature_maps"] is None and linear["weights"].shape == module.fc1.weight.shape
    images = layer_images(first)
    assert set(images) == {"feature_maps", "filters"} and images["feature_maps"].width > 0
    assert set(layer_images(linear)) == {"weights"}
    with pytest.raises(ValueError, match="no node 'nope'"):
        layer_view(module, x[:1], "nope")
