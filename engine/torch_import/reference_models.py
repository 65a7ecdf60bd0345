"""Published architectures written out in plain PyTorch, for when their library is not installed.

`resnet18()` is torchvision's ResNet-18 exactly — the same modules, hyperparameters, initialisation and
state_dict names (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, `fc`), so torchvision's
published weights load into it (`load_state_dict(strict=True)`) and onto the graph Layerloom imports
from it. It is a factory like any other:

    layerloom import --factory engine.torch_import.reference_models:resnet18 --input-shape 3,224,224

It makes the "Fine-tune ResNet-18" template (`python bench/finetune.py --write-resnet18-template`) and lets
the tests stand in for torchvision, whose wheel cannot be imported beside the CPU torch here.
"""

from __future__ import annotations

import torch
from torch import nn

STAGES = ((64, 1), (128, 2), (256, 2), (512, 2))  # (width, stride of its first block): ResNet-18's four layers
BLOCKS_PER_STAGE = 2


class BasicBlock(nn.Module):
    """Conv 3×3 – BN – ReLU – Conv 3×3 – BN, plus the input (through `downsample` when the shape changes),
    then ReLU; one ReLU module called twice, as torchvision's."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem (Conv 7×7 stride 2 – BN – ReLU – MaxPool 3×3 stride 2), four stages of BasicBlocks, global
    average pooling and a Linear classifier: (N, 3, H, W) → (N, num_classes)."""

    def __init__(self, layers: tuple[int, ...] = (BLOCKS_PER_STAGE,) * 4, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            self._make_layer(width, blocks, stride) for (width, stride), blocks in zip(STAGES, layers, strict=True))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * BasicBlock.expansion, num_classes)
        for module in self.modules():  # torchvision's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (N, num_classes)


def resnet18(num_classes: int = 1000) -> ResNet:
    """ResNet-18 with torchvision's structure and names, randomly initialised as torchvision does."""
    return ResNet((BLOCKS_PER_STAGE,) * 4, num_classes)
