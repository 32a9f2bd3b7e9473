"""Restores a folder of aligned faces with a face restorer (GPEN's own face enhancement on aligned input).

    python restore_faces.py --restorer gpen --weights GPEN-BFR-512.pth --input_dir ALIGNED --output_dir OUT

Every image of ``--input_dir`` is an aligned face (e.g. the 512² crops of the five-point template);
each is written to ``OUT/{name}.png`` under its own name. As GPEN's ``--aligned`` mode does, a face
whose size differs from the network's (512 or 256, read from the weights) is first resized to it
with bilinear ``cv2.resize``; the output stays at the network's size. ``--weights`` takes the
upstream ``.pth`` or the converted ``.h5``; ``--save_weights PATH`` also writes the converted file.
Bad files are reported in one line each and the run goes on; the exit status is 1 then.

Adding a restorer: a builder ``_name(fv) -> restorer`` in ``_RESTORERS`` and its own flags in
:func:`define_flags` (e.g. DMDNet's dictionary/list files); a restorer has ``.size`` and
``.restore_aligned(face_rgb_uint8) -> uint8 RGB``.
"""
import os
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
from absl import flags
from tqdm import tqdm

from metaf2n_tf.data.images import read_rgb, write_rgb
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.errors import ConfigError, MetaF2NError

PROGRAM = "restore_faces.py"


def _gpen(fv):
    """GPEN-BFR-512 / -256 on user-supplied weights (RGB in and out)."""
    if not fv.weights:
        raise ConfigError("--restorer gpen: needs --weights PATH (GPEN-BFR .pth or converted .h5; none ship offline)")
    from metaf2n_tf.faces.gpen import GPENRestorer
    from metaf2n_tf.weights.gpen import save_h5

    restorer = GPENRestorer(fv.weights)
    if fv.save_weights:
        save_h5(fv.save_weights, restorer.model, restorer.arch)
    return restorer


_RESTORERS = {"gpen": _gpen}


def define_flags():
    """The script's flags on a fresh FlagValues."""
    fv = flags.FlagValues()
    flags.DEFINE_enum("restorer", "gpen", sorted(_RESTORERS), "face restorer", flag_values=fv)
    flags.DEFINE_string("weights", None, "restorer weights (gpen: GPEN-BFR .pth or converted .h5)", flag_values=fv)
    flags.DEFINE_string("input_dir", None, "folder of aligned face images", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "restored faces are written here as {name}.png", flag_values=fv)
    flags.DEFINE_string("save_weights", None, "also write the loaded weights here in the project's .h5 format",
                        flag_values=fv)
    flags.DEFINE_string("gpu", "0", "GPU ids to use, e.g. '0'; '' or '-1' for CPU", flag_values=fv)
    return fv


def parse_flags(argv):
    """argv without the program name -> parsed FlagValues; ConfigError on bad or missing flags."""
    fv = define_flags()
    try:
        fv([PROGRAM] + list(argv))
    except flags.Error as e:
        raise ConfigError(str(e)) from None
    for name in ("input_dir", "output_dir"):
        if not fv[name].value:
            raise ConfigError(f"--{name} is required")
    if not os.path.isdir(fv.input_dir):
        raise ConfigError(f"{fv.input_dir}: --input_dir not found (expected a folder of aligned faces)")
    return fv


def list_faces(input_dir):
    """Sorted ``(path, name)`` of the files in ``input_dir``; ConfigError on two files with one name."""
    found, seen = [], {}
    for entry in sorted(os.listdir(input_dir)):
        path = os.path.join(input_dir, entry)
        if not os.path.isfile(path):
            continue
        name = os.path.splitext(entry)[0]
        if name in seen:
            raise ConfigError(f"{path}: same name '{name}' as {seen[name]}; both would write {name}.png")
        seen[name] = entry
        found.append((path, name))
    if not found:
        raise ConfigError(f"{input_dir}: no files in --input_dir")
    return found


def restore_file(restorer, path, out_path):
    """Reads one face, resizes it to the restorer's size if needed, restores it, writes it as PNG."""
    face = read_rgb(path)
    size = restorer.size
    if face.shape[:2] != (size, size):
        face = cv2.resize(face, (size, size), interpolation=cv2.INTER_LINEAR)
    write_rgb(out_path, restorer.restore_aligned(face))


def run(fv):
    """Restores every file of ``--input_dir``; returns (written, failed) counts."""
    faces = list_faces(fv.input_dir)
    restorer = _RESTORERS[fv.restorer](fv)
    os.makedirs(fv.output_dir, exist_ok=True)
    written = failed = 0
    for path, name in tqdm(faces, desc=PROGRAM, unit="face", file=sys.stderr):
        try:
            restore_file(restorer, path, os.path.join(fv.output_dir, f"{name}.png"))
            written += 1
        except MetaF2NError as e:
            tqdm.write(f"{PROGRAM}: {e}", file=sys.stderr)
            failed += 1
    return written, failed


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        fv = parse_flags(argv)
        select_gpus(fv.gpu)
        written, failed = run(fv)
    except MetaF2NError as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130
    print(f"{PROGRAM}: wrote {written} face(s) to {fv.output_dir}; {failed} with errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
