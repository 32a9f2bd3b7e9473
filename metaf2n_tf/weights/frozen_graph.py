"""Runs a frozen TF1 ``GraphDef`` (``.pb``: weights baked in as constants) as a TF2 function.

A frozen graph holds no variables, so there is nothing to assign: the graph is imported once inside a
``tf.compat.v1.wrap_function`` and pruned to the one input and the one output the caller names.
"""
import os

import tensorflow as tf
from google.protobuf.message import DecodeError

from metaf2n_tf.errors import WeightsError


def read_graph_def(path):
    """Parses ``path`` into a ``GraphDef``; WeightsError when it is missing or not a GraphDef."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise WeightsError(f"{path}: not found (expected a frozen TensorFlow graph .pb)")
    with open(path, "rb") as f:
        raw = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(raw)
    except DecodeError:
        raise WeightsError(f"{path}: not a TensorFlow GraphDef (protobuf parse failed)") from None
    if not graph_def.node:
        raise WeightsError(f"{path}: GraphDef has no nodes, expected a frozen graph")
    return graph_def


def load_frozen_graph(path, input_name, output_name):
    """Returns a function ``x -> y`` running ``path`` from tensor ``input_name`` to ``output_name``.

    Args:
      path: the ``.pb`` file.
      input_name: input tensor, e.g. ``"x:0"``.
      output_name: output tensor, e.g. ``"Identity:0"``.
    """
    path = os.fspath(path)
    graph_def = read_graph_def(path)
    try:
        wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    except (ValueError, tf.errors.OpError) as e:
        raise WeightsError(f"{path}: graph does not import ({str(e).splitlines()[0]})") from None
    graph = wrapped.graph
    try:
        inputs = graph.as_graph_element(input_name)
        outputs = graph.as_graph_element(output_name)
    except (KeyError, ValueError):
        raise WeightsError(f"{path}: graph has no tensor '{input_name}' or '{output_name}'") from None
    return wrapped.prune(inputs, outputs)
