"""Training TFRecords (MetaF2N's scripts/generate_tfrecord.py): whole faces and natural-image patches.

    python generate_tfrecord.py [--face_dir datasets/ffhq256] [--natural_dir datasets/DF2K_multiscale]
        [--output_dir tfrecords] [--face_size 256] [--patch_size 400] [--stride 200] [--shard_size 1000]

Writes ``{output_dir}/whole_face-0000i-of-0000N.tfrecord`` (one record per face image; a face that is
not face_size square is resized to it with INTER_AREA) and ``{output_dir}/back400-0000i-of-0000N.tfrecord``
(every patch_size crop on the stride grid that lies inside a natural image). Give only ``--face_dir`` or
only ``--natural_dir`` to write that kind alone; with neither, both default folders are used. Shards of
the same name from an earlier run are replaced. Unreadable files are reported in one line each and
skipped; the exit status is 1 when a kind ends with no record. See tfrecords/README.md.
"""
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
from absl import flags
from tqdm import tqdm

from metaf2n_tf.data import records
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.cli import run_main
from metaf2n_tf.errors import ConfigError, InputError

PROGRAM = "generate_tfrecord.py"
EXPECTED = {
    "face_dir": "face images, e.g. FFHQ's images256x256 (256x256 PNGs, subfolders allowed)",
    "natural_dir": "natural HR images, e.g. DF2K multi-scale PNGs (Real-ESRGAN's generate_multiscale_DF2K.py)",
}


def define_flags():
    """The script's flags on a fresh FlagValues."""
    fv = flags.FlagValues()
    flags.DEFINE_string("face_dir", "datasets/ffhq256", "folder of face images (inner-loop data)", flag_values=fv)
    flags.DEFINE_string("natural_dir", "datasets/DF2K_multiscale", "folder of natural images (outer-loop data)",
                        flag_values=fv)
    flags.DEFINE_string("output_dir", "tfrecords", "shards are written here (created if missing)", flag_values=fv)
    flags.DEFINE_integer("face_size", 256, "face record size; other faces are resized (INTER_AREA)", flag_values=fv)
    flags.DEFINE_integer("patch_size", 400, "natural patch size", flag_values=fv)
    flags.DEFINE_integer("stride", 200, "step of the natural patch grid", flag_values=fv)
    flags.DEFINE_integer("shard_size", 1000, "records per shard", flag_values=fv)
    return fv


def parse_flags(argv):
    """argv without the program name -> parsed FlagValues; ConfigError on bad flags."""
    fv = parse_flags_into(define_flags(), argv, PROGRAM)
    for name in ("face_size", "patch_size", "stride", "shard_size"):
        if fv[name].value < 1:
            raise ConfigError(f"--{name}: got {fv[name].value}, expected a positive integer")
    return fv


def selected_dirs(fv):
    """The folder flags to process: those given on the command line, or both when none is."""
    given = [name for name in EXPECTED if fv[name].present]
    return given or list(EXPECTED)


def list_images(fv, name):
    """Image files of the folder of flag ``name``; InputError naming the folder and what belongs in it."""
    folder = fv[name].value
    try:
        return records.image_files(folder)
    except InputError as e:
        raise InputError(f"{e}; --{name} expects {EXPECTED[name]}") from None


def describe(summary, folder, fv):
    """One closing line for a ``records.Summary``."""
    if summary.kind == records.FACE_PREFIX:
        adjusted = f"{summary.adjusted} resized to {fv.face_size}x{fv.face_size}"
    else:
        adjusted = f"{summary.adjusted} smaller than {fv.patch_size}x{fv.patch_size} (no patch)"
    return (f"{summary.kind}: {summary.images} images read from {folder}, {summary.records} records in "
            f"{len(summary.shards)} shard(s) in {fv.output_dir}; {adjusted}; {len(summary.skipped)} files skipped")


def write_kind(fv, name, paths):
    """Writes the records of one folder with a progress bar; returns the Summary."""
    def warn(message):
        tqdm.write(f"{PROGRAM}: {message}", file=sys.stderr)

    progress = tqdm(paths, desc=name.replace("_dir", "s"), unit="image", file=sys.stderr)
    if name == "face_dir":
        return records.write_faces(progress, fv.output_dir, fv.face_size, fv.shard_size, warn)
    return records.write_patches(progress, fv.output_dir, fv.patch_size, fv.stride, fv.shard_size, warn)


def run(fv):
    """Writes every selected kind; returns the exit status (1 when a kind wrote no record)."""
    names = selected_dirs(fv)
    inputs = {name: list_images(fv, name) for name in names}  # every folder checked before writing
    status = 0
    for name in names:
        summary = write_kind(fv, name, inputs[name])
        print(f"{PROGRAM}: {describe(summary, fv[name].value, fv)}", file=sys.stderr)
        if summary.records == 0:
            print(f"{PROGRAM}: {fv[name].value}: no {summary.kind} record written", file=sys.stderr)
            status = 1
    return status


def main(argv=None) -> int:
    return run_main(PROGRAM, lambda args: run(parse_flags(args)), argv)


if __name__ == "__main__":
    sys.exit(main())
