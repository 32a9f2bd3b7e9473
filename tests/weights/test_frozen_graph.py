import numpy as np
import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.weights.frozen_graph import load_frozen_graph


def _write_affine_graph(path):
    """A frozen graph y = 2 x + 1 built with TF1 ops, written as a GraphDef."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None], name="x")
        tf.identity(x * 2.0 + 1.0, name="y")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return str(path)


def test_runs_the_graph(tmp_path):
    run = load_frozen_graph(_write_affine_graph(tmp_path / "g.pb"), "x:0", "y:0")
    np.testing.assert_array_equal(run(tf.constant([0.0, 1.5, -2.0])).numpy(), [1.0, 4.0, -3.0])


def test_errors_name_the_file(tmp_path):
    with pytest.raises(WeightsError, match="missing.pb: not found"):
        load_frozen_graph(tmp_path / "missing.pb", "x:0", "y:0")
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\xff\xfe not a protobuf \x00\x01")
    with pytest.raises(WeightsError, match="garbage.pb"):
        load_frozen_graph(garbage, "x:0", "y:0")
    with pytest.raises(WeightsError, match="no tensor 'x:0' or 'z:0'"):
        load_frozen_graph(_write_affine_graph(tmp_path / "g.pb"), "x:0", "z:0")
