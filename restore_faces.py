"""Restores faces with a face restorer: GPEN on a folder of aligned faces, DMDNet on upstream's list file.

    python restore_faces.py --restorer gpen --weights GPEN-BFR-512.pth --input_dir ALIGNED --output_dir OUT
    python restore_faces.py --restorer dmdnet --weights DMDNet.pth -s LIST -d OUT [--check] [--landmarks auto]

``gpen``: every image of ``--input_dir`` is an aligned face, written to ``OUT/{name}.png`` (resized to
the network's size first when it differs). ``dmdnet``: upstream ``main_test.py``'s list format (one
path: generic restoration; LQ<TAB>reference image dir<TAB>reference landmark dir: also specific) and
outputs ``{name}_G.png`` / ``{name}_GS.png``. The 68 landmarks of each face come from ``P.txt`` beside
it (a reference's from ``{landmark dir}/{file name}.txt``) when that file exists, and are detected
offline otherwise (``--landmarks auto``; ``detect`` ignores the files, ``file`` requires them).
``--check`` also writes each LQ face with the landmarks used drawn on it to ``TmpCheckLQLandmarks/``
beside it. The work is ``metaf2n_tf.faces.restore_files.restore_faces``.

``--weights`` takes the upstream ``.pth`` or the converted ``.h5``; ``--save_weights PATH`` also
writes the converted file. Bad files or lines are reported in one line each and the run goes on;
the exit status is 1 then.
"""
import os
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags

from metaf2n_tf.data.images import DEFAULT_MAX_PIXELS, set_max_pixels
from metaf2n_tf.cli import define_gpu, define_max_pixels
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.cli import run_main
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError
from metaf2n_tf.faces.dmdnet import LANDMARK_MODES
from metaf2n_tf.faces.restore import NETWORKS
from metaf2n_tf.faces.restore_files import CHECK_DIR, restore_faces

PROGRAM = "restore_faces.py"


def define_flags():
    """The script's flags on a fresh FlagValues."""
    fv = flags.FlagValues()
    flags.DEFINE_enum("restorer", "gpen", sorted(NETWORKS), "face restorer", flag_values=fv)
    flags.DEFINE_string("weights", None, "restorer weights (upstream .pth or converted .h5)", flag_values=fv)
    flags.DEFINE_string("input_dir", None, "gpen: folder of aligned face images", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "gpen: restored faces are written here as {name}.png", flag_values=fv)
    flags.DEFINE_string("img_list", "./TestExamples/TestGenericRestoration/GenericLists.txt",
                        "dmdnet: list of faces (one path, or LQ<TAB>reference dir<TAB>reference landmark dir)",
                        short_name="s", flag_values=fv)
    flags.DEFINE_string("out_path", "./TestExamples/Results_TestGenericRestoration",
                        "dmdnet: {name}_G.png / {name}_GS.png are written here", short_name="d", flag_values=fv)
    flags.DEFINE_enum("landmarks", "auto", list(LANDMARK_MODES),
                      "dmdnet: 68 landmarks from the files when present, else detected (auto); always detected "
                      "(detect); only from the files (file)", flag_values=fv)
    flags.DEFINE_boolean("check", False, "dmdnet: also save each LQ face with the landmarks used drawn, in "
                         f"{CHECK_DIR}/ beside it", flag_values=fv)
    flags.DEFINE_string("save_weights", None, "also write the loaded weights here in the project's .h5 format",
                        flag_values=fv)
    define_gpu(fv)
    define_max_pixels(fv, DEFAULT_MAX_PIXELS)
    return fv


def parse_flags(argv):
    """argv without the program name -> parsed FlagValues; ConfigError on bad or missing flags."""
    fv = parse_flags_into(define_flags(), argv, PROGRAM)
    if fv.restorer == "dmdnet":
        if not os.path.isfile(fv.img_list):
            raise ConfigError(f"{fv.img_list}: -s/--img_list not found (expected a list of faces)")
        return fv
    for name in ("input_dir", "output_dir"):
        if not fv[name].value:
            raise ConfigError(f"--{name} is required")
    if not os.path.isdir(fv.input_dir):
        raise ConfigError(f"{fv.input_dir}: --input_dir not found (expected a folder of aligned faces)")
    return fv


def main(argv=None) -> int:
    return run_main(PROGRAM, _run, argv)


def _run(argv):
    fv = parse_flags(argv)
    select_gpus(fv.gpu)
    set_max_pixels(fv.max_pixels)
    written, failed = restore_faces(
        fv.restorer, fv.weights, input_dir=fv.input_dir, output_dir=fv.output_dir, img_list=fv.img_list,
        out_path=fv.out_path, check=fv.check, landmarks=fv.landmarks, save_weights=fv.save_weights,
        program=PROGRAM)
    out = fv.out_path if fv.restorer == "dmdnet" else fv.output_dir
    print(f"{PROGRAM}: wrote {written} face(s) to {out}; {failed} with errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
