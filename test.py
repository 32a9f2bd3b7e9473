"""Test-time adaptation + x4 super-resolution of LQ photos (MetaF2N's test.py).

    python test.py --input_dir LQ --face_dir FACES --output_dir OUT --model_dir pretrained_models/model-new \
        --fine_tune_num 1
"""
import sys

import metaf2n_tf  # noqa: F401  (TensorFlow, when something needs it, is imported quietly)
import config
from metaf2n_tf.adapt.run import run_folder
from metaf2n_tf.cli import run_main


def main(argv=None):
    return run_main("test.py", _run, argv)


def _run(argv):
    cfg = config.parse_test(argv)
    summary = run_folder(cfg.adapt)
    print(
        f"test.py: wrote {len(summary.written)} image(s) to {cfg.adapt.output_dir}; "
        f"{len(summary.no_faces)} without faces (not adapted); {len(summary.failed)} with errors"
        + (f"; {len(summary.skipped)} skipped (result already there)" if summary.skipped else ""),
        file=sys.stderr,
    )
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
