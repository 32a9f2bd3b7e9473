"""The web page: photo in, faces found, restored, model adapted, photo out (Gradio, local only).

    python app.py [--model_dir realesrgan-x4plus] [--gpen_weights GPEN-BFR-512.pth] [--port 7860]

Open the printed address (http://127.0.0.1:7860) in a browser. Nothing leaves the machine: the page is
bound to 127.0.0.1 (``--host`` to change), has no share link and no analytics, and loads nothing from
the internet. Restorers offered: those whose weights are given here, ``gt`` (with an uploaded ground
truth) and ``none``.
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags

from metaf2n_tf import enhance, webapp
from metaf2n_tf.adapt.run import BACKENDS
from metaf2n_tf.cli import parse_flags
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import MetaF2NError

PROGRAM = "app.py"


def define_flags():
    fv = flags.FlagValues()
    d = enhance.Settings()
    flags.DEFINE_string("host", "127.0.0.1", "address to bind (127.0.0.1: this machine only)", flag_values=fv)
    flags.DEFINE_integer("port", 7860, "port", flag_values=fv)
    flags.DEFINE_string("model_dir", "realesrgan-x4plus", "SR weights (any source test.py takes)", flag_values=fv)
    flags.DEFINE_string("gpen_weights", None, "GPEN-BFR-512 .pth: offers restorer gpen", flag_values=fv)
    flags.DEFINE_string("dmdnet_weights", None, "DMDNet .pth: offers restorer dmdnet", flag_values=fv)
    flags.DEFINE_string("dmdnet_landmarks", None, "68 landmarks of the aligned 512 face for dmdnet", flag_values=fv)
    flags.DEFINE_string("niqe_params", None, "BasicSR's niqe_pris_params.npz: adds NIQE", flag_values=fv)
    flags.DEFINE_integer("max_pixels", d.max_pixels, "refuse photos over this many pixels", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("tile", d.tile, "SR tile in LQ pixels: -1 automatic, 0 never", flag_values=fv)
    flags.DEFINE_integer("tile_pad", d.tile_pad, "context pixels around each tile", flag_values=fv)
    flags.DEFINE_enum("backend", d.backend, list(BACKENDS), "whole-image SR backend", flag_values=fv)
    flags.DEFINE_integer("seed", d.seed, "seed of the random face patches", flag_values=fv)
    flags.DEFINE_string("gpu", "0", "GPU ids to use, e.g. '0'; '' or '-1' for CPU", flag_values=fv)
    return fv


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = lambda msg: print(f"{PROGRAM}: {msg}", file=sys.stderr)  # noqa: E731
    try:
        fv = parse_flags(define_flags(), argv, PROGRAM)
        select_gpus(fv.gpu)
        settings = enhance.check_settings(enhance.Settings(
            max_pixels=fv.max_pixels, tile=fv.tile, tile_pad=fv.tile_pad, backend=fv.backend, seed=fv.seed))
        restorers = {"none": None}
        for name, weights in (("gpen", fv.gpen_weights), ("dmdnet", fv.dmdnet_weights)):
            if weights:
                restorers[name], _ = enhance.build_restorer(name, None, fv.gpen_weights, fv.dmdnet_weights,
                                                            fv.dmdnet_landmarks)
        if len(restorers) == 1:
            log("no face-restorer weights given (--gpen_weights GPEN-BFR-512.pth, --dmdnet_weights DMDNet.pth): "
                "offering restorer gt (with an uploaded ground truth) and none")
        niqe_params = enhance.load_niqe(fv.niqe_params, log)
        page = webapp.Page(enhance.Enhancer(fv.model_dir), restorers, settings, niqe_params)
        webapp.launch(page, fv.host, fv.port)
    except MetaF2NError as e:
        log(str(e))
        return 2
    except KeyboardInterrupt:
        log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
