"""Atomic file writes: a temporary file in the same directory, fsync, then rename; and outputs the user
names on the command line, which may be `-` (stdout), a device, a FIFO or a symlink."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_text(path: str | Path, text: str) -> None:
    """Replace `path` with `text` so that readers see the old or the new file, never a part."""
    write_bytes(path, text.encode("utf-8"))


def write_bytes(path: str | Path, blob: bytes) -> None:
    """Replace `path` with `blob` atomically (see `write_text`), with the usual permissions (umask)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a plan or cache file is not a secret
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def output(path: str, text: str, *, key: str) -> None:
    """Write a command-line output: `-` is stdout; a character device or FIFO is written directly, never
    replaced; a symlink to a regular file replaces its target atomically; a new path or a regular file is
    written atomically; a directory is refused. Errors are `ConfigError` naming `key` (exit 2)."""
    import stat
    import sys

    from .errors import ConfigError

    if path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    p = Path(path)
    try:
        st = p.stat()  # follows a symlink
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise ConfigError(f"{key}: {path}: {e.strerror}") from None
    try:
        if st is not None and stat.S_ISDIR(st.st_mode):
            raise ConfigError(f"{key}: {path} is a directory; name a file")
        if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            with open(p, "w", encoding="utf-8") as f:  # a device or pipe: written, never replaced
                f.write(text)
            return
        target = p.resolve() if p.is_symlink() else p
        if not target.parent.is_dir():
            raise ConfigError(f"{key}: {path}: the directory {target.parent} does not exist")
        write_text(target, text)
    except ConfigError:
        raise
    except OSError as e:
        import errno

        from .errors import DataError

        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):  # the machine's limits, not the path: exit 3
            raise DataError(f"{key}: cannot write {path}: {e.strerror}") from None
        raise ConfigError(f"{key}: cannot write {path}: {e.strerror or e}") from None
