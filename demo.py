"""make demo: degrade scikit-image's astronaut, detect its face, adapt Real-ESRGAN x4plus, compare.

    python demo.py [--output_dir demo_output]
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags

import config

from metaf2n_tf import demo
from metaf2n_tf.cli import parse_flags, run_main


def main(argv=None):
    return run_main("demo.py", _run, argv)


def _run(argv):
    fv = flags.FlagValues()
    flags.DEFINE_string("output_dir", "demo_output", "where the demo writes its photos, faces and results", flag_values=fv)
    flags.DEFINE_string("model_dir", "realesrgan-x4plus", "SR weights (any source test.py takes)", flag_values=fv)
    flags.DEFINE_enum("backend", "auto", ["auto", "tf", "openvino"], "whole-image SR and face detection engine (as test.py --backend)",
                      flag_values=fv)
    parse_flags(fv, argv, "demo.py")
    rows = demo.run(fv.output_dir, config.AdaptConfig(model_dir=fv.model_dir, backend=fv.backend))
    print(demo.format_table(rows))
    print(f"\ncomparison (bicubic | x4plus | adapted | ground truth): {fv.output_dir}/comparison.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
