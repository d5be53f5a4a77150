"""Files only the service's own user may read: keys, feedback, article text.

The data dir holds admin key hashes, users' questions and the indexed articles, so it is
created 0700 and its files 0600. SQLite creates a database's ``-wal`` and ``-shm`` files
with the database file's permissions, so creating the database file 0600 *before* SQLite
opens it covers them too (a chmod afterwards would leave them as the umask made them).
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left alone."""
    path = Path(path)
    if not path.exists():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists with mode 0600 before anything else (SQLite) opens it."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    if path.stat().st_mode & 0o777 != FILE_MODE and path.stat().st_uid == os.getuid():
        os.chmod(path, FILE_MODE)
    return path
