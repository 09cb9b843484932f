"""One entry point for every recording file: ATF text or ABF binary.

Callers catch :class:`~signal_core.errors.RecordingFormatError` (the base class of
``AtfFormatError``, ``AbfFormatError`` and ``RecordingTooLargeError``) to show the
reader's message, which names the problem (and for ATF the line).  Size limits
(:mod:`signal_core.io.limits`) are part of it: bytes over the 50 MB upload limit and
recordings over the memory budget raise :class:`RecordingTooLargeError`.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from signal_core.errors import RecordingFormatError
from signal_core.io.abf import read_abf
from signal_core.io.atf import read_atf
from signal_core.io.limits import MAX_UPLOAD_BYTES, check_upload_size
from signal_core.recording import Recording

__all__ = ["NotARegularFileError", "detect_format", "read_recording"]


class NotARegularFileError(RecordingFormatError):
    """A path that is not a regular file (a directory, a named pipe, a device): refused before it is read."""


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _file_kind(mode: int) -> str:
    return next((words for test, words in _KINDS if test(mode)), "a special file")

_ABF_SUFFIXES = {".abf"}


def detect_format(head: bytes, name: str = "") -> str:
    """Say ``"atf"`` or ``"abf"`` from the first bytes, else from the file name's extension.

    The bytes win when they are conclusive (``ABF `` / ``ABF2`` or ``ATF``); otherwise the
    extension decides; with neither, ``"atf"`` (whose reader explains what is wrong).
    """
    if head[:4] in (b"ABF ", b"ABF2"):
        return "abf"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n\"")
    if text[:3].upper() == b"ATF" or head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "atf"
    suffix = Path(name).suffix.lower()
    if suffix in _ABF_SUFFIXES:
        return "abf"
    return "atf"


def read_recording(source: bytes | str | os.PathLike, *, name: str | None = None,
                   fs_hz: float | None = None) -> Recording:
    """Read an ATF or ABF recording from bytes or a path.

    Parameters
    ----------
    source : bytes or str or os.PathLike
        File bytes (an upload) or a path.
    name : str, optional
        Display name; for bytes also the source of the extension (``.atf``, ``.txt``, ``.abf``).
    fs_hz : float, optional
        Sampling rate (Hz) for ATF files without a time column; ignored otherwise.

    Returns
    -------
    Recording

    Raises
    ------
    AtfFormatError, AbfFormatError, RecordingTooLargeError
        Catch them all with ``except RecordingFormatError``.  Bytes (an upload) larger than
        :data:`MAX_UPLOAD_BYTES` are refused before anything else; a recording whose parsed
        size would exceed the memory budget is refused before it is parsed.

    Examples
    --------
    Currents come out in pA and voltages in mV whatever the file's units; time in s:

    >>> import signal_core as sc
    >>> data = sc.demo_recording().to_atf_bytes()   # an ATF file's bytes, as an upload gives them
    >>> rec = sc.read_recording(data, name="demo.atf")
    >>> rec.n_sweeps, rec.fs_hz, rec.channel_units
    (1, 100000.0, ('pA', 'mV'))
    >>> round(rec.duration_s, 3)
    1.1
    """
    if isinstance(source, bytes | bytearray | memoryview):
        check_upload_size(len(source) if not isinstance(source, memoryview) else source.nbytes, name or "")
        data = bytes(source)
        kind = detect_format(data[:64], name or "")
        if kind == "abf":
            return read_abf(data, name=name)
        return read_atf(data, name=name, fs_hz=fs_hz)
    path = Path(os.fspath(source))
    # O_NONBLOCK: a named pipe opens at once (and is then refused) instead of waiting for a writer for ever
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotARegularFileError(f"{_file_kind(info.st_mode)}, not a regular file: it was not read "
                                   "(give the path of a recording file)")
    with os.fdopen(fd, "rb") as handle:
        head = handle.read(64)
        if info.st_size == 0 and head:
            # a file whose size says 0 but holds bytes (/proc, some network file systems): its size cannot be
            # trusted by the memory pre-checks, so it is read as an upload, no further than the upload limit
            data = head + handle.read(MAX_UPLOAD_BYTES + 1 - len(head))
            return read_recording(data, name=path.name if name is None else name, fs_hz=fs_hz)
    if detect_format(head, path.name) == "abf":
        return read_abf(path, name=name)
    return read_atf(path, name=name, fs_hz=fs_hz)
