"""One command from photo to result: detect faces, restore them, adapt the SR model on them, super-resolve.

    python enhance.py -i photo.jpg -o out --restorer gpen --gpen_weights GPEN-BFR-512.pth
    python enhance.py -i LQ -o out --restorer gt --gt_dir GT --compare

Writes ``out/{name}.png`` (x4) and ``out/{name}.json`` (faces, settings, face loss per step, timings per
stage, PSNR/SSIM when a ground truth is known, NIQE with --niqe_params). Exit status: 0 when every photo
was written, 1 when any photo failed, 2 when the run could not start.
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags
from tqdm import tqdm

from metaf2n_tf import enhance
from metaf2n_tf.adapt.run import BACKENDS
from metaf2n_tf.cli import parse_flags
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError, MetaF2NError

PROGRAM = "enhance.py"
SHORT = {"-i": "--input", "-o": "--output"}


def define_flags():
    fv = flags.FlagValues()
    d = enhance.Settings()
    flags.DEFINE_string("input", None, "a photo or a folder of photos (-i)", flag_values=fv)
    flags.DEFINE_string("output", None, "output folder (-o), created if missing", flag_values=fv)
    flags.DEFINE_string("model_dir", "realesrgan-x4plus", "SR weights (any source test.py takes)", flag_values=fv)
    flags.DEFINE_enum("restorer", "gpen", list(enhance.RESTORER_CHOICES),
                      "face restorer: gpen / dmdnet (weights), gt (--gt_dir), none (no adaptation)", flag_values=fv)
    flags.DEFINE_string("gpen_weights", None, "GPEN-BFR-512 .pth for --restorer gpen", flag_values=fv)
    flags.DEFINE_string("dmdnet_weights", None, "DMDNet .pth for --restorer dmdnet", flag_values=fv)
    flags.DEFINE_string("dmdnet_landmarks", None, "68 landmarks of the aligned 512 face for --restorer dmdnet",
                        flag_values=fv)
    flags.DEFINE_string("gt_dir", None, "ground-truth photos (4x, same names): --restorer gt, and PSNR/SSIM",
                        flag_values=fv)
    flags.DEFINE_enum("adapt", d.adapt, list(enhance.ADAPT_CHOICES),
                      "auto | original (SGD 0.01 x1) | adam (Adam 1e-4 x10) | none", flag_values=fv)
    flags.DEFINE_integer("steps", None, "adaptation steps (overrides --adapt's)", flag_values=fv)
    flags.DEFINE_float("lr", None, "adaptation learning rate (overrides --adapt's)", flag_values=fv)
    flags.DEFINE_integer("patch_size", d.patch_size, "HQ face patch (LQ patch = patch_size // 4)", flag_values=fv)
    flags.DEFINE_integer("patch_num", d.patch_num, "random patches per face", flag_values=fv)
    flags.DEFINE_integer("seed", d.seed, "seed of the random patches", flag_values=fv)
    flags.DEFINE_integer("tile", d.tile, "SR tile in LQ pixels: -1 automatic, 0 never", flag_values=fv)
    flags.DEFINE_integer("tile_pad", d.tile_pad, "context pixels around each tile", flag_values=fv)
    flags.DEFINE_enum("backend", d.backend, list(BACKENDS), "whole-image SR and face detection backend", flag_values=fv)
    flags.DEFINE_float("score_threshold", d.score_threshold, "minimum face score, in [0.5, 1]", flag_values=fv)
    flags.DEFINE_boolean("paste_faces", False, "blend the restored faces into the result", flag_values=fv)
    flags.DEFINE_boolean("compare", False, "also {name}_compare.png: bicubic | plain SR | result", flag_values=fv)
    flags.DEFINE_boolean("save_faces", False, "also write Face_LQ/ and Face_HQ/ (generate_test_faces.py layout)",
                         flag_values=fv)
    flags.DEFINE_boolean("skip_existing", False, "skip photos whose {name}.png and {name}.json exist",
                         flag_values=fv)
    flags.DEFINE_integer("num_shards", 1, "split the photos into this many shards ...", flag_values=fv)
    flags.DEFINE_integer("shard_index", 0, "... and process only this one (0-based)", flag_values=fv)
    flags.DEFINE_integer("max_pixels", d.max_pixels, "refuse LQ photos over this many pixels (0: no limit)",
                         flag_values=fv)
    flags.DEFINE_string("niqe_params", None, "BasicSR's niqe_pris_params.npz: adds NIQE to the JSON",
                        flag_values=fv)
    flags.DEFINE_string("gpu", "0", "GPU ids to use, e.g. '0'; '' or '-1' for CPU", flag_values=fv)
    return fv


def parse(argv):
    argv = [SHORT.get(a, a) for a in argv]
    fv = parse_flags(define_flags(), argv, PROGRAM)
    if not fv.input or not fv.output:
        raise ConfigError("-i PHOTO_OR_DIR and -o OUT are required")
    return fv


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = lambda msg: print(f"{PROGRAM}: {msg}", file=sys.stderr)  # noqa: E731
    try:
        fv = parse(argv)
        select_gpus(fv.gpu)
        settings = enhance.check_settings(enhance.Settings(
            adapt=fv.adapt, steps=fv.steps, lr=fv.lr, patch_size=fv.patch_size, patch_num=fv.patch_num,
            seed=fv.seed, tile=fv.tile, tile_pad=fv.tile_pad, backend=fv.backend,
            score_threshold=fv.score_threshold, paste_faces=fv.paste_faces, max_pixels=fv.max_pixels))
        paths = enhance.select_shard(enhance.list_photos(fv.input), fv.num_shards, fv.shard_index)
        restorer, note = enhance.build_restorer(fv.restorer, fv.gt_dir, fv.gpen_weights, fv.dmdnet_weights,
                                                fv.dmdnet_landmarks)
        if note:
            log(note)
        niqe_params = enhance.load_niqe(fv.niqe_params, log)
        enhancer = enhance.Enhancer(fv.model_dir)
        plan = enhancer.plan(settings)
        log(f"adaptation: {plan.name} ({plan.optimizer} lr {plan.lr:g} x{plan.steps}): {plan.why}")
        summary = enhance.enhance_paths(paths, fv.output, enhancer, restorer, settings, gt_dir=fv.gt_dir,
                                        niqe_params=niqe_params, compare=fv.compare, save_faces=fv.save_faces,
                                        skip_existing=fv.skip_existing,
                                        log=lambda msg: tqdm.write(f"{PROGRAM}: {msg}", file=sys.stderr))
    except MetaF2NError as e:
        log(str(e))
        return 2
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    log(f"wrote {len(summary.written)} photo(s) to {fv.output}; {len(summary.skipped)} skipped (done before); "
        f"{len(summary.not_adapted)} not adapted; {len(summary.failed)} with errors")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
