"""Writing a file that other processes may read at the same moment; reading one a user
named, bounded."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

MAX_POLICY_BYTES = 1 << 20  # a policy file (casework, quality) is a few hundred bytes


def not_replaceable(path: Path) -> str | None:
    """Why a file LeadGuard writes may not take the place of what is at ``path`` (None: nothing
    is there, or a regular file): a device (``/dev/null``), a FIFO, a socket or a folder is
    never replaced by a renamed file."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror})"
    if stat.S_ISREG(st.st_mode):
        return None
    kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a device or a FIFO)"
    return f"is {kind}; LeadGuard writes only regular files"


def replace_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new one, never a
    part: a temporary file of its own in the same folder (two writers never share one),
    flushed to disk, then renamed into place. What is at ``path`` must be a regular file or
    nothing (``not_replaceable``; else ``FileExistsError``)."""
    if why := not_replaceable(path):  # an OSError, as a failed write is, for a cache's writer
        raise FileExistsError(errno.EEXIST, why, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_bounded(path: Path, max_bytes: int, fail: Callable[[str], Exception]) -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` (``/dev/zero``, a folder or an
    oversized file refused before it is read, and a file that grows meanwhile still
    bounded); ``fail(reason)`` makes the error to raise."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise fail("not a regular file")
        if st.st_size > max_bytes:
            raise fail(f"{st.st_size} bytes, over the limit of {max_bytes}")
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise fail(f"cannot open ({exc.strerror})") from None
    if len(data) > max_bytes:
        raise fail(f"grew over the limit of {max_bytes} bytes")
    return data
