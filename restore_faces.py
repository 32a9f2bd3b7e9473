"""Restores faces with a face restorer: GPEN on a folder of aligned faces, DMDNet on upstream's list file.

    python restore_faces.py --restorer gpen --weights GPEN-BFR-512.pth --input_dir ALIGNED --output_dir OUT
    python restore_faces.py --restorer dmdnet --weights DMDNet.pth -s LIST -d OUT [--check]

``gpen``: every image of ``--input_dir`` is an aligned face (e.g. the 512² crops of the five-point
template); each is written to ``OUT/{name}.png`` under its own name. As GPEN's ``--aligned`` mode
does, a face whose size differs from the network's (512 or 256, read from the weights) is first
resized to it with bilinear ``cv2.resize``; the output stays at the network's size.

``dmdnet``: upstream ``main_test.py``'s list format and outputs. A line with one path restores that
face generically; a line with three tab-separated fields (LQ face, reference image folder, reference
landmark folder; >= 2 references) also restores it with the references' specific dictionary. The
landmarks of an LQ face ``P`` are read from ``P.txt`` beside it, those of a reference ``R`` from
``{landmark folder}/{R's file name}.txt`` (68 lines "x y" each, in the pixels of the 512 face).
Outputs: ``OUT/{name}_G.png`` = [LQ | generic], or ``OUT/{name}_GS.png`` = [LQ | generic | specific]
for specific lines, ``name`` = the file name up to its first dot (written into ``-d`` itself; upstream
appended a ``_%m-%d_%H-%M`` time stamp). ``--check`` also writes the face with its landmarks drawn to
``TmpCheckLQLandmarks/`` beside the LQ face, as upstream does.

``--weights`` takes the upstream ``.pth`` or the converted ``.h5``; ``--save_weights PATH`` also
writes the converted file. Bad files or lines are reported in one line each and the run goes on;
the exit status is 1 then.

Adding a restorer: an entry in ``_RESTORERS`` (its inputs from the flags, a builder ``_name(fv) ->
restorer``, a runner ``run_name(fv, restorer, inputs) -> (written, failed)``) and its own flags in
:func:`define_flags`.
"""
import os
import sys

import metaf2n_tf  # noqa: F401  (imports TensorFlow quietly)
import cv2
import numpy as np
from absl import flags
from tqdm import tqdm

from metaf2n_tf.data.images import DEFAULT_MAX_PIXELS, read_rgb, set_max_pixels, write_rgb
from metaf2n_tf.devices import select_gpus
from metaf2n_tf.cli import parse_flags as parse_flags_into
from metaf2n_tf.errors import ConfigError, InputError, MetaF2NError

PROGRAM = "restore_faces.py"
CHECK_DIR = "TmpCheckLQLandmarks"


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


def _dmdnet(fv):
    """DMDNet on user-supplied weights (generic and specific restoration)."""
    if not fv.weights:
        raise ConfigError("--restorer dmdnet: needs --weights PATH (DMDNet .pth or converted .h5; none ship offline)")
    from metaf2n_tf.faces.dmdnet import DMDNetRestorer
    from metaf2n_tf.weights.dmdnet import save_h5

    restorer = DMDNetRestorer(fv.weights)
    if fv.save_weights:
        save_h5(fv.save_weights, restorer.model)
    return restorer


def define_flags():
    """The script's flags on a fresh FlagValues."""
    fv = flags.FlagValues()
    flags.DEFINE_enum("restorer", "gpen", ["dmdnet", "gpen"], "face restorer", flag_values=fv)
    flags.DEFINE_string("weights", None, "restorer weights (upstream .pth or converted .h5)", flag_values=fv)
    flags.DEFINE_string("input_dir", None, "gpen: folder of aligned face images", flag_values=fv)
    flags.DEFINE_string("output_dir", None, "gpen: restored faces are written here as {name}.png", flag_values=fv)
    flags.DEFINE_string("img_list", "./TestExamples/TestGenericRestoration/GenericLists.txt",
                        "dmdnet: list of faces (one path, or LQ<TAB>reference dir<TAB>reference landmark dir)",
                        short_name="s", flag_values=fv)
    flags.DEFINE_string("out_path", "./TestExamples/Results_TestGenericRestoration",
                        "dmdnet: {name}_G.png / {name}_GS.png are written here", short_name="d", flag_values=fv)
    flags.DEFINE_boolean("check", False, "dmdnet: also save each LQ face with its landmarks drawn, in "
                         f"{CHECK_DIR}/ beside it", flag_values=fv)
    flags.DEFINE_string("save_weights", None, "also write the loaded weights here in the project's .h5 format",
                        flag_values=fv)
    flags.DEFINE_string("gpu", "0", "GPU ids to use, e.g. '0'; '' or '-1' for CPU", flag_values=fv)
    flags.DEFINE_integer("max_pixels", DEFAULT_MAX_PIXELS, "refuse photos declaring more pixels than this, "
                         "before decoding them (decompression bombs)", lower_bound=1, flag_values=fv)
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


def _restore_each(items, restore_one, unit):
    """Calls ``restore_one(item)`` for every item with a progress bar; one line per failure."""
    written = failed = 0
    for item in tqdm(items, desc=PROGRAM, unit=unit, file=sys.stderr):
        try:
            restore_one(item)
            written += 1
        except MetaF2NError as e:
            tqdm.write(f"{PROGRAM}: {e}", file=sys.stderr)
            failed += 1
    return written, failed


def run_gpen(fv, restorer, faces):
    """Restores the files of ``--input_dir`` (``faces`` from :func:`list_faces`); returns (written, failed)."""
    os.makedirs(fv.output_dir, exist_ok=True)
    return _restore_each(
        faces, lambda face: restore_file(restorer, face[0], os.path.join(fv.output_dir, f"{face[1]}.png")), "face")


# ---------------------------------------------------------------- dmdnet: upstream's list format

def read_face_list(path):
    """Upstream's list: ``[(line number, [fields])]`` of its non-empty lines, fields split at tabs."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the face list ({e})") from None
    entries = [(n, line.strip().split("\t")) for n, line in enumerate(lines, 1) if line.strip()]
    if not entries:
        raise ConfigError(f"{path}: the face list is empty")
    return entries


def _references(restorer, image_dir, landmark_dir):
    """The specific dictionary of the faces in ``image_dir`` (landmarks ``{landmark_dir}/{file}.txt``)."""
    from metaf2n_tf.faces.dmdnet import MIN_REFERENCES, face_boxes, read_face

    for folder in (image_dir, landmark_dir):
        if not os.path.isdir(folder):
            raise InputError(f"{folder}: reference folder not found")
    names = sorted(e for e in os.listdir(image_dir) if os.path.isfile(os.path.join(image_dir, e)))
    if len(names) < MIN_REFERENCES:
        raise InputError(f"{image_dir}: got {len(names)} reference(s), expected at least {MIN_REFERENCES}")
    refs = []
    for name in names:
        face = read_face(os.path.join(image_dir, name))
        refs.append((face, face_boxes(os.path.join(landmark_dir, name + ".txt"), *face.shape[:2])))
    return restorer.specific_dictionary(refs)


def restore_list_entry(restorer, fields, out_path, check=False, source="list"):
    """Restores one list line (1 field: generic; 3 fields: generic and specific); returns the file written."""
    from metaf2n_tf.faces.dmdnet import check_boxes, component_boxes, draw_landmarks, read_face, read_landmarks

    if len(fields) not in (1, 3):
        raise InputError(f"{source}: got {len(fields)} tab-separated fields, expected 1 (LQ face) or 3 "
                         "(LQ face, reference image dir, reference landmark dir)")
    lq_path = fields[0]
    face = read_face(lq_path)
    landmarks = read_landmarks(lq_path + ".txt")
    if check:
        folder = os.path.join(os.path.dirname(lq_path), CHECK_DIR)
        os.makedirs(folder, exist_ok=True)
        write_rgb(os.path.join(folder, os.path.basename(lq_path)), draw_landmarks(face, landmarks))
    boxes = component_boxes(landmarks)
    check_boxes(boxes, *face.shape[:2], lq_path + ".txt")
    specific = _references(restorer, fields[1], fields[2]) if len(fields) == 3 else None
    generic, special = restorer.restore(face, boxes, specific)
    name = os.path.basename(lq_path).split(".")[0]
    images = [face, generic] + ([special] if special is not None else [])
    out_file = os.path.join(out_path, f"{name}_{'GS' if special is not None else 'G'}.png")
    write_rgb(out_file, np.hstack(images))
    return out_file


def run_dmdnet(fv, restorer, entries):
    """Restores the lines of ``-s/--img_list`` (from :func:`read_face_list`) into ``-d/--out_path``;
    returns (written, failed) counts."""
    os.makedirs(fv.out_path, exist_ok=True)
    return _restore_each(entries, lambda entry: restore_list_entry(
        restorer, entry[1], fv.out_path, fv.check, f"{fv.img_list} line {entry[0]}"), "face")


# restorer -> (its inputs from the flags, its builder, its runner)
_RESTORERS = {
    "gpen": (lambda fv: list_faces(fv.input_dir), _gpen, run_gpen),
    "dmdnet": (lambda fv: read_face_list(fv.img_list), _dmdnet, run_dmdnet),
}


def run(fv):
    """Lists the inputs, builds the restorer, restores everything; returns (written, failed) counts."""
    set_max_pixels(fv.max_pixels)
    inputs, build, run_restorer = _RESTORERS[fv.restorer]
    items = inputs(fv)  # bad inputs fail before the weights are loaded
    return run_restorer(fv, build(fv), items)


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
    out = fv.out_path if fv.restorer == "dmdnet" else fv.output_dir
    print(f"{PROGRAM}: wrote {written} face(s) to {out}; {failed} with errors", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
