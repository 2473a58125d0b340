"""Depth formulas of the paper architectures (no TensorFlow: the schemas check them before a run).

Each function returns the number of blocks/layers per stage for a valid depth, or raises
KoptError naming the formula, the paper's depths and the nearest valid ones.
"""

from __future__ import annotations

from kopt.errors import KoptError


def _refuse(
    key: str, depth: int, family: str, step: int, offset: int, paper: tuple[int, ...], note: str = ""
) -> KoptError:
    """``depth`` is not ``step*n + offset`` with n >= 1."""
    n = (depth - offset) // step
    nearest = [step * m + offset for m in (n, n + 1) if m >= 1] if n >= 1 else [step + offset]
    return KoptError(
        f"{key}={depth} is not a valid {family} depth; allowed: {step}n+{offset}{note} "
        f"(paper: {', '.join(map(str, paper))}); nearest: {' or '.join(map(str, nearest))}"
    )


def resnet_blocks(depth: int, key: str = "model.depth") -> int:
    """CIFAR ResNet (v1 and v2, basic blocks): depth = 6n+2, n blocks per stage."""
    if depth < 8 or (depth - 2) % 6:
        raise _refuse(key, depth, "ResNet", 6, 2, (20, 32, 44, 56, 110))
    return (depth - 2) // 6


def densenet_layers(depth: int, bottleneck: bool, key: str = "model.depth") -> int:
    """DenseNet: depth = 3n+4 (n layers per block); with bottleneck 6n+4 (each layer is 2 convs)."""
    if bottleneck and (depth < 10 or (depth - 4) % 6):
        raise _refuse(key, depth, "DenseNet-BC", 6, 4, (100, 190, 250), " with model.bottleneck=true")
    if not bottleneck and (depth < 7 or (depth - 4) % 3):
        raise _refuse(key, depth, "DenseNet", 3, 4, (40, 100), " with model.bottleneck=false")
    return (depth - 4) // (6 if bottleneck else 3)


def wrn_blocks(depth: int, key: str = "model.depth") -> int:
    """Wide ResNet WRN-d-k: depth = 6n+4, n blocks per group."""
    if depth < 10 or (depth - 4) % 6:
        raise _refuse(key, depth, "Wide ResNet", 6, 4, (16, 22, 28, 40))
    return (depth - 4) // 6
