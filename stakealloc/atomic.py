"""Atomic file writes: a temporary file in the same directory, fsync, then rename; and outputs the user
names on the command line, which may be `-` (stdout), a device, a FIFO or a symlink."""

from __future__ import annotations

import errno
import os
import stat
import sys
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


def check_outputs(outputs: dict[str, str], inputs: list[str | Path]) -> None:
    """Before any work: the output paths (flag -> path) must not be an input the run reads (after resolving
    symlinks), one another, a directory (a trailing slash included) or a read-only file. ConfigError naming
    the flag (exit 2)."""
    from .errors import ConfigError

    ins = {}
    for i in inputs:
        try:
            ins[Path(i).resolve()] = str(i)
        except (OSError, RuntimeError):
            continue
    seen: dict[Path | str, str] = {}
    for key, path in outputs.items():
        if path == "-":  # stdout: one output only, else a JSON document and a CSV table run together
            if "-" in seen:
                raise ConfigError(f"{key}: - (stdout) is also the output of {seen['-']}; give one of them a file")
            seen["-"] = key
            continue
        if not path:
            raise ConfigError(f"{key}: an empty path; name a file (or - for stdout)")
        if path.endswith(("/", os.sep)):
            raise ConfigError(f"{key}: {path} names a directory; name a file")
        p = Path(path).resolve()
        if p in ins:
            raise ConfigError(f"{key}: {path} is {ins[p]}, which this run reads; it would be replaced by the output")
        if p in seen:
            raise ConfigError(f"{key}: {path} is also the path of {seen[p]}; give each output its own file")
        seen[p] = key
        # by its mode bits, not os.access: root may write anything, and a 0444 file says "keep me"
        if p.is_file() and not (p.stat().st_mode & 0o222):
            raise ConfigError(f"{key}: {path} is read-only; it is not replaced (make it writable or name another)")


def output(path: str, text: str, *, key: str) -> None:
    """Write a command-line output: `-` is stdout; a character device or FIFO is written directly, never
    replaced; a symlink to a regular file replaces its target atomically; a new path or a regular file is
    written atomically; a directory is refused. Errors are `ConfigError` naming `key` (exit 2)."""
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
        if st is not None and stat.S_ISFIFO(st.st_mode):
            try:  # a FIFO nobody reads would block the run forever: refused at once
                fd = os.open(p, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno == errno.ENXIO:
                    raise ConfigError(f"{key}: {path} is a FIFO with no reader; start its reader first") from None
                raise
            os.set_blocking(fd, True)
            with open(fd, "w", encoding="utf-8") as f:  # a pipe: written, never replaced
                f.write(text)
            return
        if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            with open(p, "w", encoding="utf-8") as f:  # a device: written, never replaced
                f.write(text)
            return
        target = p.resolve() if p.is_symlink() else p
        if not target.parent.is_dir():
            raise ConfigError(f"{key}: {path}: the directory {target.parent} does not exist")
        write_text(target, text)
    except ConfigError:
        raise
    except OSError as e:
        from .errors import DataError

        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):  # the machine's limits, not the path: exit 3
            raise DataError(f"{key}: cannot write {path}: {e.strerror}") from None
        raise ConfigError(f"{key}: cannot write {path}: {e.strerror or e}") from None
