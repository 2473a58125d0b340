"""FLOPs per image, counted from a built Keras graph.

FLOPs = 2 x the multiply-adds of every convolution (Conv1D/2D/3D, DepthwiseConv, SeparableConv,
ConvTranspose) and Dense layer, for one input example. Batch norm, activations, pooling, additions
and concatenations are not counted (they are a few percent at most), which is the convention of
the papers' tables. A layer called several times (shared) counts once per call in the graph;
nested models are walked recursively.
"""

from __future__ import annotations

import math

import keras
from keras import layers


def _prod(values) -> int:
    return math.prod(int(v) for v in values)


def layer_macs(layer, input_shape, output_shape) -> int:
    """Multiply-adds of one call of ``layer`` on one example (shapes include the batch axis)."""
    if isinstance(layer, layers.SeparableConv1D | layers.SeparableConv2D):
        depthwise = _prod(output_shape[1:-1]) * _prod(layer.depthwise_kernel.shape)
        return depthwise + _prod(output_shape[1:-1]) * _prod(layer.pointwise_kernel.shape)
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return 0
    if isinstance(layer, layers.Conv1DTranspose | layers.Conv2DTranspose | layers.Conv3DTranspose):
        # every input position is multiplied by the whole kernel
        return _prod(input_shape[1:-1]) * _prod(kernel.shape)
    if isinstance(layer, layers.Dense):
        # all leading axes (e.g. a sequence) repeat the kernel
        return _prod(output_shape[1:]) // int(output_shape[-1]) * _prod(kernel.shape)
    if isinstance(
        layer, layers.DepthwiseConv1D | layers.DepthwiseConv2D | layers.Conv1D | layers.Conv2D | layers.Conv3D
    ):
        # each output position: kernel window x input channels (per group) x output channels
        return _prod(output_shape[1:-1]) * _prod(kernel.shape)
    return 0


def _graph_nodes(model) -> list:
    """The call nodes of ``model``'s own graph (a layer called outside it is not counted)."""
    graph = getattr(model, "_functional", None) or model  # a Sequential wraps a functional graph
    return [node for nodes in graph._nodes_by_depth.values() for node in nodes]


def count_macs(model) -> int:
    total = 0
    for node in _graph_nodes(model):
        op = node.operation
        if isinstance(op, keras.Model):
            total += count_macs(op)
        elif node.input_tensors and node.outputs:
            total += layer_macs(op, node.input_tensors[0].shape, node.outputs[0].shape)
    return total


def count_flops(model) -> int:
    """2 x multiply-adds of the convolutions and dense layers, per example."""
    return 2 * count_macs(model)
