"""--init_weights of training: ``none`` (random, nothing read) and a source with more RRDB blocks than --num_block."""
import numpy as np
import pytest

import metaf2n_tf  # noqa: F401
import config
from metaf2n_tf.errors import WeightsError
from metaf2n_tf.train import init_weights
from metaf2n_tf.weights import h5
from tests.reference_tf1 import random_tensors


def _blocks(model):
    return sorted({int(layer.name.split("_")[1]) for layer in model.layers if layer.name.startswith("body_")})


def test_none_builds_random_models_and_reads_nothing(monkeypatch, capsys):
    assert config.parse_train(["--init_weights=none", "--lpips_weight=0"]).meta.init_weights == "none"
    monkeypatch.setattr(init_weights, "read_weights", lambda source: pytest.fail(f"read {source}"))
    sr, mask = init_weights.build_sr_and_mask("none", 2)
    assert _blocks(sr) == [0, 1] and sr.name == "MODEL" and mask.name == "Mask"
    assert sr.get_layer("conv_first").kernel.shape == (3, 3, 3, 64)
    assert capsys.readouterr().err == "note: --init_weights none: SR model and MaskNet randomly initialised\n"


def test_source_with_more_blocks_gives_its_first_ones(tmp_path, capsys):
    tensors = random_tensors(num_block=2, seed=4, num_feat=8, grow=4)
    path = str(tmp_path / "init.h5")
    h5.write_h5(path, {k: v for k, v in tensors.items() if k.startswith("MODEL/")})  # no MaskNet: it stays random
    sr, _ = init_weights.build_sr_and_mask(path, 1)
    assert _blocks(sr) == [0]
    np.testing.assert_array_equal(sr.get_layer("body_0_rdb3_conv5").kernel.numpy(),
                                  tensors["MODEL/body/0/rdb3/conv5/weight"])
    np.testing.assert_array_equal(sr.get_layer("conv_last").bias.numpy(), tensors["MODEL/conv_last/bias"])
    assert "holds no MaskNet: MaskNet randomly initialised" in capsys.readouterr().err
    with pytest.raises(WeightsError, match=r"init\.h5: holds 2 RRDB blocks, got --num_block 3"):
        init_weights.build_sr_and_mask(path, 3)
