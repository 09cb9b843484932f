"""Sanity of an ABF header, checked with :mod:`struct` before pyABF reads it (issue 16, item 1).

pyABF trusts the counts in the header: it builds Python lists of ``lNumTagEntries`` tags
(ABF 1), of every section's entry count (ABF 2) and of ``lActualEpisodes`` sweeps before
anything compares them with the file.  A 14 KB file whose tag count says 100,000,000 made it
allocate 2.3 GB.  :func:`check_abf_header` reads the few fields pyABF sizes its lists and reads
from, and refuses (with :class:`~signal_core.io.abf.AbfFormatError`) any count, offset or size
that does not fit in the file: every entry pyABF reads must lie inside the file's bytes, so no
list it builds can be longer than the file.  It allocates nothing proportional to the counts.

Layouts (little-endian), as pyABF 2.3 reads them:

- ABF 1: a 6,144-byte header (pyABF reads fields up to byte 5,806); ``lActualAcqLength``
  (int32 at 10, samples of all channels), ``nNumPointsIgnored`` (int16 at 14),
  ``lActualEpisodes`` (int32 at 16), ``lDataSectionPtr`` (int32 at 40, in 512-byte blocks),
  ``lTagSectionPtr`` / ``lNumTagEntries`` (int32 at 44 / 48; 64-byte tags),
  ``nDataFormat`` (int16 at 100: 0 int16, 1 float32), ``nADCNumChannels`` (int16 at 120, 1-16).
- ABF 2: ``lActualEpisodes`` (uint32 at 12), ``nDataFormat`` (uint16 at 30), then a table of
  sections, each ``(block index uint32, entry bytes uint32, entries int64)`` at a fixed offset;
  a section's entries occupy ``entries x entry bytes`` bytes from ``block index x 512``.
"""

from __future__ import annotations

import struct

__all__ = ["ABF1_HEADER_BYTES", "ABF2_SECTIONS", "BLOCK_BYTES", "check_abf_header"]

BLOCK_BYTES = 512
#: pyABF reads ABF 1 header fields up to this byte (``nCreatorBuildVersion``, int16 at 5,804)
ABF1_HEADER_BYTES = 5806
#: at most 16 ADC channels in an ABF 1 header (its per-channel arrays have 16 entries)
ABF1_MAX_CHANNELS = 16
ABF1_TAG_BYTES = 64
#: the sections pyABF reads, by the offset of their entry in the ABF 2 section table
ABF2_SECTIONS = {
    "protocol": 76, "ADC": 92, "DAC": 108, "epoch": 124, "epoch per DAC": 156, "user list": 172,
    "strings": 220, "data": 236, "tag": 252, "synch array": 316,
}
_ABF2_TABLE_END = max(ABF2_SECTIONS.values()) + 16


class _Damaged(Exception):
    """A header field that does not fit the file (internal: becomes an AbfFormatError)."""


def _refuse(detail: str) -> None:
    raise _Damaged(detail)


def _fits(what: str, start: int, count: int, entry_bytes: int, size: int) -> None:
    """Refuse unless ``count`` entries of ``entry_bytes`` from byte ``start`` lie inside ``size`` bytes."""
    if count < 0:
        _refuse(f"the {what} count is negative ({count:,})")
    if count == 0:
        return
    if entry_bytes < 1:
        _refuse(f"{count:,} {what} entries of {entry_bytes} bytes each")
    end = start + count * entry_bytes
    if start < 0 or end > size:
        _refuse(f"{count:,} {what} entries of {entry_bytes:,} bytes from byte {start:,} would end at byte "
                f"{end:,}, but the file has {size:,} bytes")


def _check_abf1(data: bytes) -> None:
    size = len(data)
    if size < ABF1_HEADER_BYTES:
        _refuse(f"an ABF 1 header has {ABF1_HEADER_BYTES:,} bytes but the file has only {size:,}")
    acq_length, ignored, episodes = struct.unpack_from("<ihi", data, 10)
    data_ptr, tag_ptr, n_tags = struct.unpack_from("<iii", data, 40)
    (data_format,) = struct.unpack_from("<h", data, 100)
    (channels,) = struct.unpack_from("<h", data, 120)
    if not 1 <= channels <= ABF1_MAX_CHANNELS:
        _refuse(f"{channels} ADC channels; an ABF 1 file has 1 to {ABF1_MAX_CHANNELS}")
    if data_format not in (0, 1):
        _refuse(f"data format {data_format}; ABF 1 stores 0 (16-bit integers) or 1 (32-bit floats)")
    _fits("tag", tag_ptr * BLOCK_BYTES, n_tags, ABF1_TAG_BYTES, size)
    _fits("sample", data_ptr * BLOCK_BYTES + ignored, acq_length, 2 if data_format == 0 else 4, size)
    _check_sweeps(episodes, acq_length, channels)


def _check_abf2(data: bytes) -> None:
    size = len(data)
    if size < _ABF2_TABLE_END:
        _refuse(f"an ABF 2 header has at least {_ABF2_TABLE_END} bytes but the file has only {size:,}")
    (episodes,) = struct.unpack_from("<I", data, 12)
    counts = {}
    for name, offset in ABF2_SECTIONS.items():
        block, entry_bytes, count = struct.unpack_from("<IIq", data, offset)
        _fits(f"{name} section", block * BLOCK_BYTES, count, entry_bytes, size)
        counts[name] = count
    if counts["ADC"] < 1:
        _refuse("no ADC channel in the ADC section")
    if counts["strings"] < 1:
        _refuse("no strings section (channel names and units)")
    _check_sweeps(episodes, counts["data"], counts["ADC"])


def _check_sweeps(episodes: int, samples: int, channels: int) -> None:
    """Every sweep needs at least one sample per channel: more sweeps than that is a damaged count."""
    most = max(1, samples // max(channels, 1))
    if episodes < 0 or episodes > most:
        _refuse(f"{episodes:,} sweeps, but the data section holds {samples:,} samples of {channels} channel(s), "
                f"enough for at most {most:,}")


def check_abf_header(data: bytes) -> None:
    """Refuse an ABF file whose header counts, offsets or sizes do not fit in its bytes.

    Parameters
    ----------
    data : bytes
        The whole file (starting ``ABF `` or ``ABF2``; other bytes are left to the reader).

    Raises
    ------
    AbfFormatError
        A count is negative, an entry pyABF would read lies beyond the end of the file, more
        sweeps than samples, or a header shorter than its fixed fields.  The check reads a
        few dozen bytes and allocates nothing that grows with the counts.
    """
    magic = bytes(data[:4])
    try:
        if magic == b"ABF ":
            _check_abf1(data)
        elif magic == b"ABF2":
            _check_abf2(data)
    except _Damaged as exc:
        from signal_core.io.abf import AbfFormatError  # local: abf.py imports this module

        raise AbfFormatError(f"not a readable ABF file: it starts like one ({magic!r}) but its header is damaged "
                             f"or truncated ({exc}); it was not read") from None
