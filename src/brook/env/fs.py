"""Durability, behind one door: the file operations whose effect a power failure can undo.

Storage writes segment data with ``pwrite`` and makes files and directories durable with
``fsync``/``fdatasync`` through this module (called as ``fs.pwrite(...)``, never imported by
name), so that a test can install a recording layer that knows, for each file, what was on
stable storage at its last sync, and then simulate a power failure, a torn write or a failed
fsync. Everything else (reads, opens, renames, truncation) calls ``os`` directly.
"""

from __future__ import annotations

import os


def pwrite(fd: int, data: bytes | bytearray | memoryview, offset: int) -> int:
    return os.pwrite(fd, data, offset)


def fsync(fd: int) -> None:
    os.fsync(fd)


def fdatasync(fd: int) -> None:
    os.fdatasync(fd)
