"""Reader of Qt binary resource files (``.rcc``, as ``rcc -binary`` writes them), for the offline data set.

The format, all integers big-endian:

- header: the 4 bytes ``qres``, then u32 version (1, 2 or 3), u32 offset of the tree, u32 offset of the
  data, u32 offset of the names; version 3 adds a u32 of global flags;
- tree: fixed-size nodes, node 0 the root directory. A node is u32 name offset, u16 flags, then for a
  directory (flag 0x02) u32 child count and u32 index of its first child (children are consecutive
  nodes), else u16 territory, u16 language and u32 data offset; from version 2 on every node ends with a
  u64 last-modified time (so a node is 14 bytes in version 1, 22 after);
- names: at names offset + name offset, u16 length in UTF-16 units, u32 hash, then the UTF-16BE name;
- data: at data offset + the node's data offset, u32 length then that many bytes. Flag 0x01 marks a
  zlib entry in ``qCompress`` form (u32 uncompressed length, then a zlib stream); flag 0x04 a zstd frame.

zstd entries are read when the ``zstandard`` package is importable, else they raise RccError naming the
entry (GCompris's photos are WebP, stored uncompressed, so none of them needs it).
"""
import struct
import zlib

from metaf2n_tf.errors import InputError

MAGIC = b"qres"
COMPRESSED_ZLIB = 0x01
DIRECTORY = 0x02
COMPRESSED_ZSTD = 0x04


class RccError(InputError):
    """A malformed or unsupported .rcc file or entry."""


class RccFile:
    """A parsed ``.rcc`` file: ``paths()`` lists its files as ``:/a/b.ext``; ``read(path)`` returns bytes.

    Args:
        data: the whole file's bytes.
        source: the file's name, for error messages.
    """

    def __init__(self, data, source="resource file"):
        self.data, self.source = bytes(data), source
        if len(self.data) < 20 or self.data[:4] != MAGIC:
            raise RccError(f"{source}: not a Qt resource file (got {self.data[:4]!r}, expected {MAGIC!r})")
        self.version, self.tree, self.payload, self.names = struct.unpack(">4I", self.data[4:20])
        if self.version not in (1, 2, 3):
            raise RccError(f"{source}: resource format version {self.version}, expected 1, 2 or 3")
        self.node_size = 14 if self.version == 1 else 22
        self._files = {}
        self._walk(0, "")

    def _unpack(self, fmt, offset):
        try:
            return struct.unpack_from(fmt, self.data, offset)
        except struct.error:
            raise RccError(f"{self.source}: truncated at byte {offset}") from None

    def _name(self, offset):
        (length,) = self._unpack(">H", self.names + offset)
        start = self.names + offset + 6
        raw = self.data[start:start + 2 * length]
        if len(raw) != 2 * length:
            raise RccError(f"{self.source}: truncated name at byte {start}")
        return raw.decode("utf-16-be")

    def _walk(self, index, prefix, depth=0):
        if depth > 64:
            raise RccError(f"{self.source}: directory tree deeper than 64 levels (a cycle?)")
        node = self.tree + index * self.node_size
        name_offset, flags = self._unpack(">IH", node)
        name = "" if index == 0 else self._name(name_offset)
        path = f"{prefix}/{name}" if index else ""
        if flags & DIRECTORY:
            count, first = self._unpack(">II", node + 6)
            for child in range(first, first + count):
                self._walk(child, path, depth + 1)
        else:
            (offset,) = self._unpack(">I", node + 10)
            self._files[":" + path] = (flags, offset)

    def paths(self):
        """Every file entry as ``:/dir/name``, sorted."""
        return sorted(self._files)

    def read(self, path):
        """The uncompressed bytes of entry ``path`` (``:/...``); RccError when absent or unreadable."""
        if path not in self._files:
            raise RccError(f"{self.source}: no entry {path}")
        flags, offset = self._files[path]
        start = self.payload + offset
        (length,) = self._unpack(">I", start)
        raw = self.data[start + 4:start + 4 + length]
        if len(raw) != length:
            raise RccError(f"{self.source}: entry {path} truncated")
        if flags & COMPRESSED_ZLIB:
            (expected,) = self._unpack(">I", start + 4)
            try:
                out = zlib.decompress(raw[4:])
            except zlib.error as e:
                raise RccError(f"{self.source}: entry {path}: bad zlib data ({e})") from None
            if len(out) != expected:
                raise RccError(f"{self.source}: entry {path}: got {len(out)} bytes, expected {expected}")
            return out
        if flags & COMPRESSED_ZSTD:
            try:
                import zstandard
            except ImportError:
                raise RccError(f"{self.source}: entry {path} is zstd-compressed; pip install zstandard "
                               "to read it") from None
            return zstandard.ZstdDecompressor().decompress(raw, max_output_size=1 << 30)
        return raw


def read_rcc(path):
    """Parses the ``.rcc`` file at ``path``."""
    with open(path, "rb") as f:
        return RccFile(f.read(), str(path))
