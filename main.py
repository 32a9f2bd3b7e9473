"""Meta-training of MetaF2N (the original's main.py): SR model + MaskNet, MAML over face tasks.

    python generate_tfrecord.py
    python main.py --trial 1 --step 0 --gpu 0 --alexnet_weights alexnet-owt-7be5be79.pth \
        --gpen_weights weights/GPEN-BFR-256.pth [--disc_weights weights/RealESRGAN_x4plus_netD.pth]
    python main.py --trial 1 --step 1000 ...                # resume from weights/Model1/model-1000
    python main.py --trial 1 --step latest ...              # resume from the latest complete checkpoint, or
                                                            # start fresh: a scheduler restarts a killed job blindly
    python main.py --trial 1 --export pretrained_models/model-new   # for test.py --model_dir

Quick CPU run: ``--num_block 1 --restorer gt --lpips_weight 0``. Flags: ``python main.py --help``.
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import config
from metaf2n_tf.cli import run_main
from metaf2n_tf.train import loop


def main(argv=None) -> int:
    return run_main("main.py", _run, argv)


def _run(argv):
    loop.run(config.parse_train(argv))


if __name__ == "__main__":
    sys.exit(main())
