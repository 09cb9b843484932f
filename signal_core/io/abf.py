"""Axon Binary Files (ABF 1 and ABF 2) through pyABF, into a :class:`Recording`.

Every sweep and every recorded (ADC) channel is read; units are converted at the
edge with :func:`canonical_unit` (nA -> pA, V -> mV).  When the file has no
recorded voltage channel, the command waveform of DAC 0 (``abf.sweepC``) is kept as
an extra channel named ``"command (DAC)"`` in mV, but only when it is a voltage
and actually changes (a constant or missing command says nothing);
``voltage_channel`` stays None then, because a command is not a measurement.
Any failure of pyABF becomes an :class:`AbfFormatError` with a plain message.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from signal_core.io.limits import RecordingTooLargeError, check_recording_values
from signal_core.recording import Recording, RecordingError, canonical_unit, classify_unit, sha256_hex

__all__ = ["COMMAND_CHANNEL", "AbfFormatError", "read_abf"]

COMMAND_CHANNEL = "command (DAC)"
_MAGIC = (b"ABF ", b"ABF2")


class AbfFormatError(ValueError):
    """A file that pyABF cannot read as an Axon Binary File."""


def _clean(text: object) -> str:
    """Header text without NUL padding; "" when it holds unprintable bytes (pyABF reads junk there)."""
    text = str(text).replace("\x00", " ").strip()
    return text if text.isprintable() else ""


def _sampling_rate(abf) -> float:
    """Sampling rate (Hz) from the header's float interval (``abf.dataRate`` is truncated to an int)."""
    fs = float(abf.dataRate)
    with contextlib.suppress(AttributeError, TypeError, ZeroDivisionError):
        if abf.abfVersion["major"] == 1:
            h = abf._headerV1
            fs = 1e6 / (float(h.fADCSampleInterval) * int(abf.channelCount))
        else:
            fs = 1e6 / float(abf._protocolSection.fADCSequenceInterval)
    return float(f"{fs:.6g}")  # the interval is stored as float32


def _open(path: str):
    """The header only: pyABF loads the samples on the first ``setSweep``, after :func:`_check_size`."""
    import pyabf  # local: only ABF uploads pay its import time

    return pyabf.ABF(path, loadData=False)


def _check_size(abf) -> None:
    """Refuse, from the header's counts, a recording larger than the memory budget (before loading it)."""
    sweeps, channels, points = int(abf.sweepCount), int(abf.channelCount), int(abf.sweepPointCount)
    if sweeps < 1 or channels < 1 or points < 1:
        raise AbfFormatError(f"the ABF header describes {sweeps} sweep(s) of {channels} channel(s) with "
                             f"{points} sample(s) each: there is nothing to read")
    check_recording_values(sweeps * (channels + 1) * points,  # + 1: the command channel that may be added
                           f"{sweeps:,} sweeps x {channels:,} channels x {points:,} samples, from the ABF header")


def _collect(abf) -> tuple[np.ndarray, list[str], list[str], int | None, int | None]:
    n_sweeps, n_channels = int(abf.sweepCount), int(abf.channelCount)
    units, factors, names = [], [], []
    for c in range(n_channels):
        stored, factor = canonical_unit(_clean(abf.adcUnits[c]))
        units.append(stored)
        factors.append(factor)
        name = _clean(abf.adcNames[c]) if c < len(abf.adcNames) else ""
        names.append(name or classify_unit(stored) or f"channel {c}")
    sweeps = []
    for s in range(n_sweeps):
        rows = []
        for c in range(n_channels):
            abf.setSweep(s, channel=c)
            rows.append(np.asarray(abf.sweepY, dtype=np.float64) * factors[c])
        sweeps.append(rows)
    lengths = {len(r) for rows in sweeps for r in rows}
    if len(lengths) != 1:
        raise AbfFormatError(f"the sweeps have different lengths ({sorted(lengths)} samples): not supported")
    data = np.array(sweeps, dtype=np.float64)
    kinds = [classify_unit(u) for u in units]
    current = kinds.index("current") if "current" in kinds else None
    voltage = kinds.index("voltage") if "voltage" in kinds else None
    if voltage is None:
        command = _command(abf, n_sweeps, data.shape[2])
        if command is not None:
            data = np.concatenate([data, command[:, None, :]], axis=1)
            names.append(COMMAND_CHANNEL)
            units.append("mV")
    return data, names, units, current, voltage


def _command(abf, n_sweeps: int, n_samples: int) -> np.ndarray | None:
    """DAC 0's command waveform per sweep in mV, or None when absent, not a voltage or constant."""
    dac_units = [_clean(u) for u in getattr(abf, "dacUnits", [])]
    if not dac_units or classify_unit(dac_units[0]) != "voltage":
        return None
    factor = canonical_unit(dac_units[0])[1]
    waves = []
    for s in range(n_sweeps):
        abf.setSweep(s, channel=0)
        wave = np.asarray(abf.sweepC, dtype=np.float64)
        if wave.shape != (n_samples,) or not np.isfinite(wave).all():
            return None
        waves.append(wave * factor)
    command = np.array(waves)
    return command if np.ptp(command) > 0 else None


def _version(abf) -> str:
    """``"1.3"``, ``"2.9"``...: ABF 1 stores a float32 (1.3 reads back as 1.2999...), so round it."""
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        if abf.abfVersion["major"] == 1:
            return f"{float(abf._headerV1.fFileVersionNumber):.2f}".rstrip("0").rstrip(".")
    return ".".join(_clean(abf.abfVersionString).split(".")[:2])


def _header(abf) -> list[tuple[str, str]]:
    records = [("abfVersion", _clean(abf.abfVersionString)), ("protocol", _clean(getattr(abf, "protocol", "")))]
    with contextlib.suppress(AttributeError, TypeError, ValueError):
        records.append(("abfDateTime", abf.abfDateTime.isoformat()))
    comment = _clean(getattr(abf, "abfFileComment", ""))
    if comment:
        records.append(("Comment", comment))
    tags = [_clean(t) for t in getattr(abf, "tagComments", [])]
    times = list(getattr(abf, "tagTimesSec", []))
    if tags:
        records.append(("tags", "; ".join(f"{t} @ {float(s):.3f} s" for t, s in zip(tags, times, strict=False))))
    return [(k, v) for k, v in records if v and v != "None"]


def read_abf(source: bytes | str | os.PathLike, *, name: str | None = None) -> Recording:
    """Read an Axon Binary File (all sweeps, all channels) into a :class:`Recording`.

    Parameters
    ----------
    source : bytes or str or os.PathLike
        The file's bytes (e.g. an upload; written to a temporary file for pyABF, then
        deleted) or its path.
    name : str, optional
        Display name; default the file name of ``source`` ("" for bytes).

    Returns
    -------
    Recording
        ``data`` (n_sweeps, n_channels, n_samples), currents pA, voltages mV, ``fs_hz``
        in Hz; ``file_format`` like ``"ABF 2.9"``; header records abfVersion, protocol,
        abfDateTime, Comment, tags (those that are present).

    Raises
    ------
    AbfFormatError
        Empty file, wrong first bytes, or anything pyABF cannot read.
    RecordingTooLargeError
        The header's sweeps x channels x samples exceed the memory budget (:mod:`signal_core.io.limits`).
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data, path = bytes(source), None
        name = name or ""
    else:
        path = Path(os.fspath(source))
        data = path.read_bytes()
        name = path.name if name is None else name
    if not data:
        raise AbfFormatError("not an ABF file: the file is empty (0 bytes)")
    if data[:4] not in _MAGIC:
        raise AbfFormatError(f"not an ABF file: the first bytes are {data[:8]!r} (an ABF file starts with "
                             "'ABF ' or 'ABF2')")
    tmp = None
    try:
        if path is None:
            with tempfile.NamedTemporaryFile(suffix=".abf", delete=False) as handle:
                handle.write(data)
                tmp = handle.name
        abf = _open(tmp or str(path))
        _check_size(abf)
        values, names, units, current, voltage = _collect(abf)
        fs = _sampling_rate(abf)
        starts = [float(s) for s in getattr(abf, "sweepTimesSec", [])]
        version = _version(abf)
        header = _header(abf)
    except (AbfFormatError, RecordingTooLargeError):
        raise
    except Exception as exc:  # pyABF raises bare Exception, struct.error, IndexError...
        raise AbfFormatError(f"not a readable ABF file: it starts like one ({data[:4]!r}) but its header or "
                             f"data is damaged or truncated (pyABF: {type(exc).__name__}: {exc})") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    if len(starts) != values.shape[0]:
        starts = []
    try:
        return Recording(
            data=values, fs_hz=fs, channel_names=tuple(names), channel_units=tuple(units),
            current_channel=current, voltage_channel=voltage, sweep_start_s=tuple(starts),
            header=tuple(header), name=name, file_format=f"ABF {version}", sha256=sha256_hex(data),
        )
    except RecordingError as exc:
        raise AbfFormatError(f"the ABF file's contents are not a usable recording: {exc}") from exc
