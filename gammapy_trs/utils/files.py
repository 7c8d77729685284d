"""Files written atomically: never half a file, never the loss of the old one, never a stray
temporary file.

A file is written to a temporary file in the same folder, then moved into
place (`os.replace`), with the permissions of a new file under the process's
umask (a temporary file is private to its writer). A write interrupted by an
exception, Ctrl-C or SIGTERM removes its temporary file; one killed outright
(SIGKILL) leaves it, and the next write to the same file removes it (the
temporary name holds the writer's process number, so that the temporary files
of writers still alive are left alone).
"""

import contextlib
import os
import re
import tempfile
from pathlib import Path
from .signals import sigterm_as_interrupt

__all__ = ["atomic_write", "new_file_mode"]


def new_file_mode():
    """The permissions of a new file under the process's umask (``0o666 & ~umask``)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale(path):
    """The temporary files of earlier writes to ``path`` whose writer is gone."""
    suffix = re.escape("".join(path.suffixes[-2:]))
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.\w+\.tmp{suffix}$")
    with contextlib.suppress(OSError):
        for candidate in path.parent.iterdir():
            match = pattern.match(candidate.name)
            if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
                with contextlib.suppress(OSError):
                    candidate.unlink()


def atomic_write(path, write):
    """Write a file through a temporary file in the same folder, then move it into place.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        File.
    write : callable
        Called with the temporary file's path; writes the content there. The
        temporary name ends as the file does (e.g. ``.fits.gz``), for writers
        that look at it.
    """
    path = Path(path)
    _remove_stale(path)
    suffix = "".join(path.suffixes[-2:])
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=f".tmp{suffix}", dir=path.parent)
    os.close(handle)
    tmp = Path(tmp)
    try:
        with sigterm_as_interrupt(unless_handled=True):
            write(tmp)
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
