"""main.py's config: the degradation options file, square-patch flags, the variant flags' checks."""
import json

import pytest

import config
from metaf2n_tf.data.degradations import DegradationConfig
from metaf2n_tf.errors import ConfigError

BASE = ["--lpips_weight=0"]


def test_width_defaults_to_height_and_must_equal_it():
    cfg = config.parse_train(BASE + ["--height=32", "--height1=64"])
    assert (cfg.data.width, cfg.data.width1) == (32, 64)
    assert config.parse_train(BASE + ["--height=32", "--width=32"]).data.width == 32
    with pytest.raises(ConfigError, match="--width: got 48, expected --height = 32"):
        config.parse_train(BASE + ["--height=32", "--width=48"])


def test_degradation_options_file_overrides_named_fields_only(tmp_path):
    path = tmp_path / "deg.json"
    path.write_text(json.dumps({"noise_range": [1, 10], "jpeg_range": [60, 95], "flip_prob": 0.0}))
    cfg = config.parse_train(BASE + [f"--degradation_options={path}"])
    assert cfg.degradation.noise_range == (1.0, 10.0) and cfg.degradation.jpeg_range == (60.0, 95.0)
    assert cfg.degradation.flip_prob == 0.0
    assert cfg.degradation.kernel_range == DegradationConfig().kernel_range  # untouched: the default
    assert config.parse_train(BASE).degradation == DegradationConfig()


@pytest.mark.parametrize("options, message", [
    ({"nosie_range": [1, 2]}, "unknown degradation setting 'nosie_range'"),
    ({"noise_range": 3}, "noise_range: got 3, expected a list"),
    ({"noise_range": [5, 1]}, "noise_range"),
    ([1, 2], "expected a JSON object"),
])
def test_bad_degradation_options_are_one_line_errors(tmp_path, options, message):
    path = tmp_path / "deg.json"
    path.write_text(json.dumps(options))
    with pytest.raises(ConfigError, match=message) as info:
        config.parse_train(BASE + [f"--degradation_options={path}"])
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_variant_flags():
    cfg = config.parse_train(BASE + ["--freeze_sr", "--learn_inner_lr", "--mask_init=ones"])
    assert cfg.meta.freeze_sr and cfg.meta.learn_inner_lr and cfg.meta.mask_init == "ones"
    with pytest.raises(ConfigError, match="--freeze_sr: got --second_order_grad_iter 100, expected 0"):
        config.parse_train(BASE + ["--freeze_sr", "--second_order_grad_iter=100"])
    # With learned rates, first-order steps still train something (the rates): accepted.
    cfg = config.parse_train(BASE + ["--freeze_sr", "--learn_inner_lr", "--second_order_grad_iter=100"])
    assert cfg.meta.second_order_grad_iter == 100
    with pytest.raises(ConfigError, match="--mask_init: got 'zeros'"):
        config.parse_train(BASE + ["--mask_init=zeros"])
