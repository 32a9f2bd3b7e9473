"""train.loop.make_strategy / is_chief: TF_CONFIG parsing and the strategy chosen, with strategies stubbed."""
import json
import types

import pytest
import tensorflow as tf

import metaf2n_tf  # noqa: F401
from metaf2n_tf.errors import ConfigError
from metaf2n_tf.train import loop


def _tf_config(monkeypatch, cluster, task=None):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task or {"type": "worker", "index": 0}}))


@pytest.fixture()
def stubs(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setattr(loop, "select_gpus", lambda gpu: [])
    monkeypatch.setattr(tf.distribute, "MultiWorkerMirroredStrategy", lambda: "multi-worker")
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", lambda: "mirrored")
    return monkeypatch


def test_no_tf_config_no_gpu_is_the_default_strategy(stubs):
    assert loop.make_strategy("") is tf.distribute.get_strategy()


def test_gpus_give_mirrored(stubs):
    stubs.setattr(loop, "select_gpus", lambda gpu: ["GPU:0", "GPU:1"] if gpu == "0,1" else [])
    assert loop.make_strategy("0,1") == "mirrored"


@pytest.mark.parametrize("cluster, expected", [
    ({"worker": ["a:1"]}, "default"),  # one worker: nothing to synchronise with
    ({"worker": ["a:1", "b:1"]}, "multi-worker"),
    ({"chief": ["a:1"], "worker": ["b:1"]}, "multi-worker"),
    ({"chief": ["a:1"], "ps": ["b:1", "c:1"]}, "default"),  # parameter servers are not workers
])
def test_workers_counted_from_tf_config(stubs, cluster, expected):
    _tf_config(stubs, cluster)
    got = loop.make_strategy("")
    assert (got is tf.distribute.get_strategy()) if expected == "default" else got == expected


def test_malformed_tf_config_is_one_line(stubs):
    stubs.setenv("TF_CONFIG", "{cluster: ")
    with pytest.raises(ConfigError, match=r'^TF_CONFIG: got malformed JSON, expected \{"cluster": \.\.\., "task": \.\.\.\}$'):
        loop.make_strategy("")


def _strategy(task_type, task_id, cluster):
    spec = types.SimpleNamespace(as_dict=lambda: cluster)
    resolver = types.SimpleNamespace(task_type=task_type, task_id=task_id, cluster_spec=lambda: spec)
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize("task_type, task_id, cluster, chief", [
    ("chief", 0, {"chief": ["a"], "worker": ["b"]}, True),
    ("worker", 0, {"chief": ["a"], "worker": ["b"]}, False),  # a chief exists: worker 0 is not it
    ("worker", 0, {"worker": ["a", "b"]}, True),  # no chief: worker 0 writes the files
    ("worker", 1, {"worker": ["a", "b"]}, False),
    (None, None, {}, True),  # a resolver without a task: a single process
])
def test_is_chief(task_type, task_id, cluster, chief):
    assert loop.is_chief(_strategy(task_type, task_id, cluster)) is chief
    assert loop.is_chief(types.SimpleNamespace()) is True  # no resolver at all (default strategy)
