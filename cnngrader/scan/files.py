"""Reading what a student handed in, bounded: ``read_regular`` never follows a symbolic link anywhere below
a trusted folder (the course's ``submitted/``: the student folder, the assignment folder or the notebook),
never opens a fifo, device or socket, and reads at most a given number of bytes; ``load_submission``
parses a notebook read that way, and a notebook that is refused, is not UTF-8 JSON, holds a lone
surrogate or is nested too deeply comes back as (None, the reason), to be graded as handed in blank.
"""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 * 2 ** 20


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a regular file"


def read_regular(path: Path, limit: int, trusted: Path | None = None) -> tuple[bytes | None, str]:
    """The bytes of the regular file ``path``, or (None, why not). Every component below ``trusted`` (default:
    the file's own folder) is opened relative to its parent with O_NOFOLLOW: a symbolic link anywhere
    there is refused, not followed; a fifo, device or socket is refused from its lstat, never opened
    (O_NONBLOCK in case it is swapped in between); a file over ``limit`` bytes is refused unread."""
    trusted = path.parent if trusted is None else trusted
    parts = path.relative_to(trusted).parts
    fds: list[int] = []
    try:
        fds.append(os.open(trusted, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC))
        for i, part in enumerate(parts):
            shown, last = "/".join((trusted.name, *parts[:i + 1])), i == len(parts) - 1
            st = os.stat(part, dir_fd=fds[-1], follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                return None, f"{shown} is a symbolic link (not followed: hand in the {'file' if last else 'folder'} itself)"
            if not last and not stat.S_ISDIR(st.st_mode):
                return None, f"{shown} is not a folder but {_kind(st.st_mode)}"
            if last and not stat.S_ISREG(st.st_mode):
                return None, f"{shown} is {_kind(st.st_mode)}, not a regular file"
            if last and st.st_size > limit:
                return None, f"{shown} is larger than {limit:,} bytes"
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | (os.O_NONBLOCK if last else os.O_DIRECTORY)
            fds.append(os.open(part, flags, dir_fd=fds[-1]))
        if not stat.S_ISREG(os.fstat(fds[-1]).st_mode):
            return None, f"{path.name} is not a regular file"
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fds[-1], min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return None, f"{path.name} is larger than {limit:,} bytes"
        return b"".join(chunks), ""
    except OSError as err:
        return None, f"{path.name} cannot be opened ({err.strerror or type(err).__name__})"
    finally:
        for fd in fds:
            os.close(fd)


def load_submission(path: Path, trusted: Path | None = None) -> tuple[dict | None, str]:
    """The submitted notebook as JSON, or (None, why not); read with ``read_regular`` (links below
    ``trusted`` refused, size capped)."""
    data, why = read_regular(path, MAX_NOTEBOOK_BYTES, trusted)
    if data is None:
        return None, f"the notebook cannot be read: {why}"
    try:
        nb = json.loads(data.decode("utf-8"))
        json.dumps(nb, ensure_ascii=False).encode("utf-8")  # a lone surrogate (JSON "\\ud800") cannot be written as UTF-8
    except (UnicodeError, ValueError, RecursionError, MemoryError) as err:
        return None, f"the notebook cannot be read ({type(err).__name__}: {str(err)[:100]})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, "the file is not a Jupyter notebook"
    return nb, ""
