"""Writes the 68 landmarks of every aligned face in a folder, offline (face-api.js 68-point net).

    python detect_landmarks.py --input_dir FACES --output_dir LANDMARKS

For every image ``F`` of ``--input_dir`` writes ``LANDMARKS/F.txt`` (e.g. ``0.png.txt``): 68 lines
``x y`` in iBUG 300-W order, in the pixels of that image: upstream DMDNet's naming and format, so the
folder serves as a reference landmark folder of ``restore_faces.py --restorer dmdnet`` (DMDNet resizes
faces smaller than 512 to 512: give it files detected on 512 faces, or let it detect). The work is
``metaf2n_tf.faces.landmarks.detect_folder``. An unreadable image, or one where no plausible landmarks
are found, is reported in one line and the others go on; the exit status is 1 then.
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags

from metaf2n_tf.cli import define_gpu
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError, MetaF2NError
from metaf2n_tf.faces.landmarks import detect_folder

PROGRAM = "detect_landmarks.py"


def define_flags():
    """The script's flags on a fresh FlagValues."""
    fv = flags.FlagValues()
    flags.DEFINE_string("input_dir", None, "folder of aligned face images", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "{image file name}.txt files are written here", flag_values=fv)
    define_gpu(fv)
    return fv


def parse_flags(argv):
    """argv without the program name -> parsed FlagValues; ConfigError on bad or missing flags."""
    fv = parse_flags_into(define_flags(), argv, PROGRAM)
    for name in ("input_dir", "output_dir"):
        if not fv[name].value:
            raise ConfigError(f"--{name} is required")
    return fv


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        fv = parse_flags(argv)
        select_gpus(fv.gpu)
        written, failed = detect_folder(fv.input_dir, fv.output_dir, PROGRAM)
    except MetaF2NError as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROGRAM}: wrote landmarks of {written} face(s) to {fv.output_dir}; {failed} with errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
