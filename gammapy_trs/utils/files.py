"""Files written atomically: never half a file, never the loss of the old one."""

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path, write):
    """Write a file through a temporary file in the same folder, then move it into place.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        File.
    write : callable
        Called with the temporary file's path; writes the content there.
    """
    path = Path(path)
    # the temporary name ends as the file does (e.g. .fits.gz), for writers that look at it
    suffix = ".tmp" + "".join(path.suffixes[-2:])
    handle, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(handle)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
