"""tools/offline_dataset.py: the committed list, archive members, the size / pixel check."""
import io
import os
import tarfile
import zipfile

import cv2
import numpy as np
import pytest

from metaf2n_tf.errors import InputError

from tests.scripts import load_script

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def tool():
    return load_script("tools/offline_dataset.py")


def test_committed_list_parses_with_unique_names(tool):
    entries = tool.read_list(os.path.join(ROOT, "tools", "offline-training-images.tsv"))
    assert len(entries) == 177
    assert sum(e.kind == "face" for e in entries) == 20
    assert len({e.name for e in entries}) == 177
    rcc = [e for e in entries if e.rcc]
    assert rcc and all(e.archive == "deb" and e.path.startswith(":/") for e in rcc)
    first = entries[0]
    assert (first.package, first.version, first.archive, first.width, first.height, first.kib) == (
        "matplotlib", "", "wheel", 512, 600, 59)
    held = [e for e in entries if e.path in tool.HELDOUT]
    assert len(held) == len(tool.HELDOUT) and all(e.kind == "face" for e in held)


def test_archive_member_from_wheel_and_sdist(tool, tmp_path):
    wheel = tmp_path / "p-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("pkg/data/a.jpg", b"wheel-bytes")
    sdist = tmp_path / "p-1.tar.gz"
    with tarfile.open(sdist, "w:gz") as t:
        info = tarfile.TarInfo("p-1/tests/b.jpg")
        info.size = 10
        t.addfile(info, io.BytesIO(b"sdistbytes"))
    assert tool.archive_member(str(wheel), "pkg/data/a.jpg") == b"wheel-bytes"
    assert tool.archive_member(str(sdist), "tests/b.jpg") == b"sdistbytes"
    with pytest.raises(InputError, match="p-1.tar.gz: no file tests/c.jpg"):
        tool.archive_member(str(sdist), "tests/c.jpg")


def test_check_entry_compares_pixels_and_kib(tool):
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)
    data = cv2.imencode(".png", image)[1].tobytes()
    kib = round(len(data) / 1024)
    entry = tool.Entry("natural", 80, 60, kib, "p", "1", "wheel", "", "x.png")
    tool.check_entry(entry, data)
    with pytest.raises(InputError, match="80x60, expected 60x80"):
        tool.check_entry(tool.Entry("natural", 60, 80, kib, "p", "1", "wheel", "", "x.png"), data)
    with pytest.raises(InputError, match=f"expected {kib + 5} KiB"):
        tool.check_entry(tool.Entry("natural", 80, 60, kib + 5, "p", "1", "wheel", "", "x.png"), data)
