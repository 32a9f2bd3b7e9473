"""The Qt .rcc reader against resource files written here by hand from the format's description.

The writer below is independent of the reader: it lays out header, tree, names and data the way
``rcc -binary`` does (big-endian; nodes of 14 bytes in version 1, 22 from version 2; children of a
directory consecutive; names as u16 length, u32 hash, UTF-16BE; data as u32 length + bytes, zlib
entries in qCompress form).
"""
import struct
import zlib

import pytest

from metaf2n_tf.data.rcc import RccError, RccFile


def write_rcc(tree, version=3):
    """``tree``: {name: bytes | (bytes, 'zlib') | dict} -> .rcc bytes."""
    nodes, names, data = [], bytearray(), bytearray()
    name_offsets = {}

    def name_offset(name):
        if name not in name_offsets:
            name_offsets[name] = len(names)
            encoded = name.encode("utf-16-be")
            names.extend(struct.pack(">HI", len(name), 0) + encoded)
        return name_offsets[name]

    # breadth-first layout: each directory's children are consecutive nodes
    nodes.append(None)
    queue = [(0, tree)]
    while queue:
        index, directory = queue.pop(0)
        first = len(nodes)
        items = sorted(directory.items())
        nodes.extend([None] * len(items))
        entry = (name_offset("") if index == 0 else None, len(items), first)
        if index == 0:
            nodes[0] = ("dir", 0, len(items), first)
        else:
            nodes[index] = ("dir",) + nodes[index][1:2] + entry[1:]
        for k, (name, value) in enumerate(items):
            slot = first + k
            if isinstance(value, dict):
                nodes[slot] = ("dir", name_offset(name))
                queue.append((slot, value))
            else:
                payload, flags = (value, 0) if isinstance(value, bytes) else (value[0], 1)
                stored = struct.pack(">I", len(payload)) + zlib.compress(payload) if flags else payload
                nodes[slot] = ("file", name_offset(name), flags, len(data))
                data.extend(struct.pack(">I", len(stored)) + stored)
    tail = b"" if version == 1 else struct.pack(">Q", 0)
    blob = bytearray()
    for node in nodes:
        if node[0] == "dir":
            blob.extend(struct.pack(">IHII", node[1], 0x02, node[2], node[3]) + tail)
        else:
            blob.extend(struct.pack(">IHHHI", node[1], node[2], 0, 0, node[3]) + tail)
    header_size = 20 if version < 3 else 24
    tree_offset = header_size
    data_offset = tree_offset + len(blob)
    names_offset = data_offset + len(data)
    header = b"qres" + struct.pack(">IIII", version, tree_offset, data_offset, names_offset)
    if version >= 3:
        header += struct.pack(">I", 0)
    return header + bytes(blob) + bytes(data) + bytes(names)


TREE = {"gcompris": {"src": {"alpaca.webp": b"RIFF\x00webp-bytes", "notes.txt": (b"hello " * 50, "zlib")}},
        "top.bin": b"\x00\x01\x02"}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_reads_every_entry_plain_and_zlib(version):
    rcc = RccFile(write_rcc(TREE, version), "t.rcc")
    assert rcc.paths() == [":/gcompris/src/alpaca.webp", ":/gcompris/src/notes.txt", ":/top.bin"]
    assert rcc.read(":/gcompris/src/alpaca.webp") == b"RIFF\x00webp-bytes"
    assert rcc.read(":/gcompris/src/notes.txt") == b"hello " * 50
    assert rcc.read(":/top.bin") == b"\x00\x01\x02"


def test_bad_magic_missing_entry_and_truncation_are_one_line_errors():
    with pytest.raises(RccError, match="t.rcc: not a Qt resource file"):
        RccFile(b"PK\x03\x04" + bytes(40), "t.rcc")
    rcc = RccFile(write_rcc(TREE), "t.rcc")
    with pytest.raises(RccError, match="no entry :/nope"):
        rcc.read(":/nope")
    data = write_rcc(TREE)
    with pytest.raises(RccError, match="truncated"):
        RccFile(data[:40], "t.rcc")
