"""Atomic file writes: a result is either absent or complete, never truncated.

Every image, JSON file and checkpoint state file the project writes goes through here: the bytes are written
to a temporary name in the destination's own folder (``.{name}.tmp-{random}``, hidden, so that folder
listings skip it), flushed and ``fsync``-ed, then renamed onto the destination with ``os.replace``. A rename
within one filesystem is atomic on POSIX and Windows, so a process killed at any moment leaves either the
previous file (or none) or the new one whole; at worst a hidden temporary file stays behind, which the next
write of the same destination does not trip over. A write that fails (no space left, file size limit,
no permission) removes its temporary file and raises :class:`OutputError` naming the destination.
"""
import contextlib
import os
import secrets

from metaf2n_tf.errors import OutputError

TEMP_MARK = ".tmp-"


def _reason(error):
    return error.strerror or str(error) or type(error).__name__


@contextlib.contextmanager
def replacing(path, what="file"):
    """Yields a temporary path in ``path``'s folder; on normal exit it is fsync-ed and renamed to ``path``.

    For writers that want a file name (TensorFlow, h5py, cv2). On an exception the temporary file is removed
    and an ``OSError`` becomes :class:`OutputError` naming ``path``.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        temp = _new_temp(folder, os.path.basename(path))
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what} ({_reason(e)})") from None
    try:
        yield temp
        _fsync(temp)
        os.replace(temp, path)
        _fsync_folder(folder)
    except OSError as e:
        raise OutputError(f"{path}: cannot write the {what} ({_reason(e)})") from None
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def write_bytes(path, data, what="file"):
    """Writes ``data`` (bytes) to ``path`` atomically."""
    with replacing(path, what) as temp:
        with open(temp, "wb") as f:
            f.write(data)


def write_text(path, text, what="file"):
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes(path, text.encode("utf-8"), what)


def _new_temp(folder, name):
    """Creates an empty ``.{name}.tmp-XXXXXXXX`` in ``folder`` with the umask's permissions (not mkstemp's 0600)."""
    for _ in range(100):
        temp = os.path.join(folder, f".{name}{TEMP_MARK}{secrets.token_hex(4)}")
        try:
            os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_folder(folder):
    """Makes the rename itself durable (POSIX); a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
