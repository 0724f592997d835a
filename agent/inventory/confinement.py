"""Nothing outside the agent's roots is read, hashed or served, whatever links lie inside them.

The walk never follows a directory link. A file link is followed only when its real path lies
under one of the roots (a Hugging Face cache snapshot links into its own blobs/, which does); a
link to anything else makes its model a one-line problem. Hard links need no check: they are the
file itself, inside the root.

A file that passed the scan may be swapped for a link afterwards, so what is served is checked
again when it is opened (``Confinement.open``). This module is the one place that knows how to
open a file without following a final link on each platform.
"""
from __future__ import annotations

import os
import stat as stat_mod
from collections.abc import Iterable

from llmesh.common.errors import PermissionDenied
from llmesh.common.platform import binary_flags

# Where the platform has them (POSIX): a link in the last component fails the open instead of
# being followed, and a FIFO planted in a root opens at once (to be refused) instead of blocking;
# neither changes how a regular file reads. Windows has neither flag nor need (the checks after
# the open cover it).
_OPEN_FLAGS = binary_flags(os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))


class Confinement:
    """A set of directories, by real path, that bounds what the agent reads."""

    def __init__(self, roots: Iterable[str | os.PathLike]):
        self.roots = tuple(os.path.realpath(os.fspath(r)) for r in roots)
        self._prefixes = tuple(os.path.normcase(r).rstrip("\\/") + os.sep for r in self.roots)
        self._exact = {os.path.normcase(r) for r in self.roots}

    def holds(self, real_path: str) -> bool:
        """Whether a real (link-free, absolute) path lies under one of the roots."""
        target = os.path.normcase(real_path)
        return target in self._exact or target.startswith(self._prefixes)

    def check_file(self, path: str, real_path: str | None = None) -> str:
        """``path``'s real path if it lies under a root, else PermissionDenied naming both."""
        real = real_path or os.path.realpath(path)
        if not self.holds(real):
            raise PermissionDenied(f"{path} is a link to {real}, outside this agent's model roots")
        return real

    def open(self, path: str | os.PathLike) -> int:
        """A read-only descriptor of ``path``, which must be a regular file under a root after
        every link is resolved, at the moment it was opened. OSError if it cannot be opened."""
        path = os.fspath(path)
        real = self.check_file(path)
        fd = os.open(real, _OPEN_FLAGS)
        try:
            opened = os.fstat(fd)
            # A directory on the way may have been swapped for a link between realpath and open:
            # resolve again and insist that the file now there is the file we hold open.
            again = self.check_file(path)
            there = os.stat(again)
            if not stat_mod.S_ISREG(opened.st_mode):
                raise PermissionDenied(f"{path} is not a regular file")
            if (opened.st_dev, opened.st_ino) != (there.st_dev, there.st_ino):
                raise PermissionDenied(f"{path} changed while it was being opened")
        except BaseException:
            os.close(fd)
            raise
        return fd
