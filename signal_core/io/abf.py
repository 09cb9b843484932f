"""Axon Binary Files (ABF 1 and ABF 2) through pyABF, into a :class:`Recording`.

Every sweep and every recorded (ADC) channel is read; units are converted at the
edge with :func:`canonical_unit` (nA -> pA, V -> mV).  When the file has no
recorded voltage channel, the command waveform of DAC 0 (``abf.sweepC``) is kept as
an extra channel named ``"command (DAC)"`` in mV, but only when it is a voltage
and actually changes (a constant or missing command says nothing);
``voltage_channel`` stays None then, because a command is not a measurement.
Any failure of pyABF becomes an :class:`AbfFormatError` with a plain message.

Samples are stored as float32, as pyABF scales them (an ABF holds int16 counts, or float32):
half the memory of float64 with nothing of the source lost; analyses read them as float64
(:meth:`Recording.samples_f64`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from signal_core.errors import RecordingFormatError
from signal_core.io.abf_guard import check_abf_header
from signal_core.io.limits import BYTES_PER_VALUE_16BIT, RecordingTooLargeError, check_recording_values
from signal_core.io.quote import quote_start
from signal_core.recording import Recording, RecordingError, canonical_unit, classify_unit, sha256_hex

__all__ = ["COMMAND_CHANNEL", "AbfFormatError", "read_abf"]

COMMAND_CHANNEL = "command (DAC)"
#: points (per channel) scaled at a time while reading the samples: a block of float32 temporaries
_BLOCK_POINTS = 2**18
_MAGIC = (b"ABF ", b"ABF2")


class AbfFormatError(RecordingFormatError):
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
    """The header only: the samples are read by :func:`_samples`, after :func:`_check_size`."""
    import pyabf  # local: only ABF uploads pay its import time

    return pyabf.ABF(path, loadData=False)


def _sweep_lengths(abf) -> list[int]:
    """Samples per sweep and channel, as pyABF's ``setSweep`` cuts them (variable-length sweeps included)."""
    n_sweeps, n_channels = int(abf.sweepCount), int(abf.channelCount)
    synch = getattr(abf, "_synchArraySection", None)
    if n_sweeps > 1 and synch is not None and len(set(synch.lLength)) > 1:
        lengths = [int(n) // n_channels for n in list(synch.lLength)[:n_sweeps]]
        if len(lengths) != n_sweeps:
            raise AbfFormatError(f"the ABF header lists the lengths of {len(lengths)} sweeps but counts "
                                 f"{n_sweeps} sweeps")
        return lengths
    return [int(abf.sweepPointCount)] * n_sweeps


def _check_size(abf) -> list[int]:
    """Refuse, from the header's counts, a recording larger than the memory budget (before loading it).

    Returns the samples of each sweep (per channel), from the header.
    """
    sweeps, channels = int(abf.sweepCount), int(abf.channelCount)
    lengths = _sweep_lengths(abf) if sweeps >= 1 and channels >= 1 else [0]
    points = max(lengths)
    if sweeps < 1 or channels < 1 or min(lengths) < 1:
        raise AbfFormatError(f"the ABF header describes {sweeps} sweep(s) of {channels} channel(s) with "
                             f"{min(lengths)} sample(s) each: there is nothing to read")
    longest = "samples (the longest sweep; shorter ones are padded)" if len(set(lengths)) > 1 else "samples"
    check_recording_values(sweeps * (channels + 1) * points,  # + 1: the command channel that may be added
                           f"{sweeps:,} sweeps x {channels:,} channels x {points:,} {longest}, from the ABF header",
                           BYTES_PER_VALUE_16BIT)  # stored as float32 (_samples)
    if sum(lengths) * channels > int(abf.dataPointCount):
        raise AbfFormatError(f"the ABF header promises {sum(lengths) * channels:,} samples but its data section "
                             f"holds {int(abf.dataPointCount):,}: the file is truncated or damaged")
    return lengths


def _scaled_channel(abf, points: np.ndarray, c: int) -> np.ndarray:
    """Channel ``c`` of the data section scaled exactly as pyABF scales it (its ``abf.data[c]``), float32.

    int16 counts become float32, then times the channel's gain plus its offset, the same
    operations as pyABF's ``_loadAndScaleData``; float32 data is taken as it is.
    """
    x = points[:, c].astype(np.float32)
    if points.dtype.kind == "i":
        np.multiply(x, abf._dataGain[c], out=x)
        np.add(x, abf._dataOffset[c], out=x)
    return x


def _samples(abf, file_bytes: bytes, lengths: list[int], factors: list[float],
             command: np.ndarray | None) -> np.ndarray:
    """Every sweep of every ADC channel as float32, times its unit factor, then the command if any.

    The data section is read from ``file_bytes`` without a copy (points x channels, interleaved,
    as pyABF reads it) and scaled a block of sweeps at a time (about :data:`_BLOCK_POINTS` points)
    into (sweeps, channels [+ command], longest sweep): the parse holds the result and one small
    block beside the file's bytes, not pyABF's whole float32 copy as well.  The values are pyABF's
    (``abf.data``, float32) and stay float32: half the memory of float64, and nothing of a 16-bit
    source is lost.  A unit factor of 1 copies them exactly; another is applied in float64 and
    rounded once.  Sweeps shorter than the longest are padded with NaN.  Linear in the number of
    sweeps.  Returned read-only.
    """
    n_channels = int(abf.channelCount)
    per_channel = int(abf.dataPointCount) // n_channels
    dtype = np.dtype(abf._dtype).newbyteorder("<")  # the format is little-endian
    points = np.frombuffer(file_bytes, dtype=dtype, count=per_channel * n_channels,
                           offset=int(abf.dataByteStart)).reshape(per_channel, n_channels)
    n_sweeps, longest = len(lengths), max(lengths)
    width = n_channels + (command is not None)
    if len(set(lengths)) == 1:  # blocks of whole sweeps
        out = np.empty((n_sweeps, width, longest), dtype=np.float32)
        step = max(1, _BLOCK_POINTS // longest)
        blocks = [(s, min(s + step, n_sweeps), s * longest) for s in range(0, n_sweeps, step)]
    else:  # one sweep at a time, each at its own length
        out = np.full((n_sweeps, width, longest), np.nan, dtype=np.float32)
        starts = np.concatenate([[0], np.cumsum(lengths[:-1])]).astype(int)
        blocks = [(s, s + 1, int(starts[s])) for s in range(n_sweeps)]
    for first, end, start in blocks:
        n = sum(lengths[first:end]) if end - first > 1 else lengths[first]
        block = points[start: start + n]
        for c, factor in enumerate(factors):
            x = _scaled_channel(abf, block, c).reshape(end - first, -1)
            np.multiply(x, factor, out=out[first:end, c, : x.shape[1]], dtype=np.float64)
    if command is not None:
        out[:, n_channels, :] = command
    out.setflags(write=False)  # Recording keeps a read-only float32 array as is (no second copy)
    return out


def _collect(abf, file_bytes: bytes, lengths: list[int]) -> tuple[np.ndarray, list[str], list[str], list[str],
                                                                    int | None, int | None, int | None]:
    n_channels = int(abf.channelCount)
    units, factors, names, file_units = [], [], [], []
    for c in range(n_channels):
        written = _clean(abf.adcUnits[c])
        stored, factor = canonical_unit(written)
        file_units.append(written)
        units.append(stored)
        factors.append(factor)
        name = _clean(abf.adcNames[c]) if c < len(abf.adcNames) else ""
        names.append(name or classify_unit(stored) or f"channel {c}")
    kinds = [classify_unit(u) for u in units]
    current = kinds.index("current") if "current" in kinds else None
    voltage = kinds.index("voltage") if "voltage" in kinds else None
    command = _command(abf, lengths)
    data = _samples(abf, file_bytes, lengths, factors, command)
    command_index = None
    if command is not None:
        command_index = len(names)
        names.append(COMMAND_CHANNEL)
        units.append("mV")
        file_units.append(_clean(abf.dacUnits[0]))
    return data, names, units, file_units, current, voltage, command_index


def _waveform_source(abf) -> tuple[int, int]:
    """(nWaveformEnable, nWaveformSource) of DAC 0: source 1 is the epoch table."""
    if abf.abfVersion["major"] == 1:
        return int(abf._headerV1.nWaveformEnable[0]), int(abf._headerV1.nWaveformSource[0])
    return int(abf._dacSection.nWaveformEnable[0]), int(abf._dacSection.nWaveformSource[0])


def _epoch_key(wave) -> tuple:
    """What decides an epoch-table sweep's waveform (pyABF's ``EpochSweepWaveform``)."""
    return (tuple(wave.p1s), tuple(wave.p2s), tuple(wave.levels), tuple(wave.types),
            tuple(wave.pulseWidths), tuple(wave.pulsePeriods))


def _epoch_waves(abf) -> list[np.ndarray]:
    """DAC 0's command of every sweep from the epoch table (pyABF's ``sweepC``), in the DAC's unit.

    The table is built once and each distinct sweep's waveform once (pyABF rebuilds the table
    on every ``setSweep``, which makes reading quadratic in the number of sweeps).
    """
    import pyabf.waveform

    table = pyabf.waveform.EpochTable(abf, 0)
    cache: dict[tuple, np.ndarray] = {}
    waves = []
    for wave in table.epochWaveformsBySweep[: int(abf.sweepCount)]:
        key = _epoch_key(wave)
        if key not in cache:
            cache[key] = np.asarray(wave.getWaveform(), dtype=np.float64)
        waves.append(cache[key])
    return waves


def _command(abf, lengths: list[int]) -> np.ndarray | None:
    """DAC 0's command waveform per sweep in mV, (sweeps, longest) float32, or None when it says nothing.

    None when DAC 0 is not a voltage (current clamp), has no epoch-table waveform (disabled,
    or a stimulus file that is not part of the ABF), the sweeps have different lengths (pyABF
    gives no command for them), or the command never changes.
    """
    dac_units = [_clean(u) for u in getattr(abf, "dacUnits", [])]
    if not dac_units or classify_unit(dac_units[0]) != "voltage" or len(set(lengths)) != 1:
        return None
    enabled, source = _waveform_source(abf)
    if not enabled or source != 1:
        return None
    factor = canonical_unit(dac_units[0])[1]
    n = lengths[0]
    waves = _epoch_waves(abf)
    if len(waves) != len(lengths) or any(w.size < n for w in waves):
        return None
    command = np.empty((len(waves), n), dtype=np.float32)  # stored beside the float32 samples
    for s, w in enumerate(waves):
        np.multiply(w[:n], factor, out=command[s], dtype=np.float64)
    if not np.isfinite(command).all() or np.ptp(command) == 0:
        return None
    return command


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
        ``data`` (n_sweeps, n_channels, n_samples) float32, currents pA, voltages mV, ``fs_hz``
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
        raise AbfFormatError(f"not an ABF file: the first bytes are {quote_start(data[:8])} (an ABF file starts with "
                             "'ABF ' or 'ABF2')")
    check_abf_header(data)  # counts and offsets against the file's length, before pyABF allocates
    tmp = None
    try:
        if path is None:
            with tempfile.NamedTemporaryFile(suffix=".abf", delete=False) as handle:
                handle.write(data)
                tmp = handle.name
        abf = _open(tmp or str(path))
        lengths = _check_size(abf)
        values, names, units, file_units, current, voltage, command = _collect(abf, data, lengths)
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
            sweep_lengths=tuple(lengths), command_channel=command, file_units=tuple(file_units),
        )
    except RecordingError as exc:
        raise AbfFormatError(f"the ABF file's contents are not a usable recording: {exc}") from exc
