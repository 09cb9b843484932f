"""The in-memory recording every reader produces and every analysis consumes.

Units inside a :class:`Recording` are fixed: time in seconds, current in pA,
voltage in mV.  Readers convert at the edge (nA, A -> pA; V -> mV; ms -> s) with
:func:`canonical_unit`, so nothing downstream ever guesses a unit.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from signal_core.errors import SignalCoreError

__all__ = [
    "CURRENT_UNITS",
    "UNIT_OVERRIDE_RECORD",
    "VOLTAGE_UNITS",
    "Recording",
    "RecordingError",
    "canonical_unit",
    "classify_unit",
    "reinterpret_units",
    "sha256_hex",
]

#: the units a user may give the current channel instead of the file's (recipe ``current_unit``)
CURRENT_UNITS = ("pA", "nA", "A")
#: ... and the recorded voltage channel (recipe ``voltage_unit``)
VOLTAGE_UNITS = ("mV", "V")
#: header key of the record :func:`reinterpret_units` adds (provenance of the override)
UNIT_OVERRIDE_RECORD = "unit override"


class RecordingError(SignalCoreError):
    """A recording's arrays or metadata are inconsistent."""


# unit text (as written in file titles) -> (canonical unit, factor to multiply by)
_UNIT_TABLE: dict[str, tuple[str, float]] = {
    "fa": ("pA", 1e-3),
    "pa": ("pA", 1.0),
    "na": ("pA", 1e3),
    "ua": ("pA", 1e6),
    "µa": ("pA", 1e6),
    "μa": ("pA", 1e6),
    "ma": ("pA", 1e9),
    "a": ("pA", 1e12),
    "uv": ("mV", 1e-3),
    "µv": ("mV", 1e-3),
    "μv": ("mV", 1e-3),
    "mv": ("mV", 1.0),
    "v": ("mV", 1e3),
    "s": ("s", 1.0),
    "sec": ("s", 1.0),
    "ms": ("s", 1e-3),
    "us": ("s", 1e-6),
    "µs": ("s", 1e-6),
    "μs": ("s", 1e-6),
}


def canonical_unit(unit: str) -> tuple[str, float]:
    """Map a unit as written in a file to the stored unit and a scale factor.

    Parameters
    ----------
    unit : str
        Unit text such as ``"nA"``, ``"V"``, ``"ms"``; case is significant only
        to tell ``mA``/``MA`` apart, which never occur in practice, so it is ignored.

    Returns
    -------
    (str, float)
        ``(stored_unit, factor)``: values in ``unit`` times ``factor`` are in
        ``stored_unit`` (pA for currents, mV for voltages, s for time).  Unknown
        units come back unchanged with factor 1.
    """
    key = unit.strip().lower()
    if key in _UNIT_TABLE:
        return _UNIT_TABLE[key]
    return unit.strip(), 1.0


def classify_unit(unit: str) -> str | None:
    """Say whether a unit is a ``"current"``, a ``"voltage"`` or neither (None)."""
    stored, _ = canonical_unit(unit)
    return {"pA": "current", "mV": "voltage"}.get(stored)


def sha256_hex(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lowercase hex digits."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, eq=False)
class Recording:
    """Sweeps x channels x samples of a whole-cell recording.

    Parameters
    ----------
    data : ndarray, shape (n_sweeps, n_channels, n_samples)
        Samples.  Currents in pA, voltages in mV (other channels keep their file's unit).
        Stored read-only, as float32 when given float32 (a 16-bit source such as an ABF
        file: float32's relative rounding of 6e-8 is far below the source's quantum of
        1/65536 of its range, and it takes half the memory), else as float64.  Readers
        of samples get float64 whatever is stored: :meth:`channel`, :meth:`current`,
        :meth:`voltage`, :meth:`command` (one sweep) and :meth:`samples_f64` (a block);
        reading ``data`` directly sees the stored dtype.
    fs_hz : float
        Sampling rate (Hz), uniform within a sweep.
    channel_names, channel_units : tuple of str
        One entry per channel (units after conversion: ``"pA"``, ``"mV"``...).
    current_channel, voltage_channel : int or None
        Index of the membrane current and of the recorded command voltage.
    t0_s : float
        Time of the first sample of every sweep (s); usually 0.
    sweep_start_s : tuple of float
        Start time of each sweep within the run (s), as the file gives it.
    header : tuple of (str, str)
        The file's header records as (key, value) pairs, in file order.
    name : str
        File name (display only; treat as untrusted text).
    file_format : str
        What it was read from, e.g. ``"ATF 1.0"``, ``"ABF 2.9"``, ``"synthetic"``.
    sha256 : str
        SHA-256 of the original bytes, "" when it did not come from bytes.
    sweep_lengths : tuple of int
        True number of samples of each sweep; empty (the default) when every sweep fills
        ``n_samples``.  Sweeps of different lengths (pyABF's "variable-length sweeps") are
        stored NaN-padded to the longest one; :meth:`channel`, :meth:`current`,
        :meth:`voltage` and :meth:`sweep_t_s` return each sweep at its own length.
    command_channel : int or None
        Index of the command waveform rebuilt from the file's protocol (ABF epoch table),
        in mV; None when the file has none.  It is not a measurement.
    file_units : tuple of str
        Each channel's unit as the file wrote it (before conversion), "" when unknown;
        :func:`reinterpret_units` uses it to say what was overridden.

    Examples
    --------
    Two sweeps of 1000 samples at 10 kHz (0.1 s each), a current (pA) and a voltage (mV) channel:

    >>> import numpy as np
    >>> import signal_core as sc
    >>> rec = sc.Recording(np.zeros((2, 2, 1000)), fs_hz=10_000.0, channel_names=("Im", "Vm"),
    ...                    channel_units=("pA", "mV"), current_channel=0, voltage_channel=1)
    >>> rec.n_sweeps, rec.n_samples, rec.duration_s
    (2, 1000, 0.1)
    >>> rec.current(1).shape
    (1000,)
    """

    data: np.ndarray
    fs_hz: float
    channel_names: tuple[str, ...]
    channel_units: tuple[str, ...]
    current_channel: int | None = None
    voltage_channel: int | None = None
    t0_s: float = 0.0
    sweep_start_s: tuple[float, ...] = ()
    header: tuple[tuple[str, str], ...] = ()
    name: str = ""
    file_format: str = ""
    sha256: str = ""
    sweep_lengths: tuple[int, ...] = ()
    command_channel: int | None = None
    file_units: tuple[str, ...] = ()
    _t_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        data = np.asarray(data, dtype=np.float32 if data.dtype == np.float32 else np.float64)
        if data.ndim != 3:
            raise RecordingError(
                f"data must be sweeps x channels x samples (3-D), got shape {data.shape}"
            )
        n_sweeps, n_channels, n_samples = data.shape
        if n_sweeps < 1 or n_channels < 1 or n_samples < 2:
            raise RecordingError(
                f"a recording needs at least 1 sweep, 1 channel and 2 samples, got shape {data.shape}"
            )
        if not (np.isfinite(self.fs_hz) and self.fs_hz > 0):
            raise RecordingError(f"sampling rate must be a positive number of Hz, got {self.fs_hz!r}")
        if len(self.channel_names) != n_channels or len(self.channel_units) != n_channels:
            raise RecordingError(
                f"{n_channels} channels in the data but {len(self.channel_names)} names and "
                f"{len(self.channel_units)} units"
            )
        for label, idx in (("current", self.current_channel), ("voltage", self.voltage_channel),
                           ("command", self.command_channel)):
            if idx is not None and not 0 <= idx < n_channels:
                raise RecordingError(f"{label} channel index {idx} is outside 0..{n_channels - 1}")
        lengths = tuple(int(n) for n in self.sweep_lengths) or (n_samples,) * n_sweeps
        if len(lengths) != n_sweeps:
            raise RecordingError(f"{len(lengths)} sweep lengths for {n_sweeps} sweeps")
        if min(lengths) < 2 or max(lengths) != n_samples:
            raise RecordingError(f"every sweep needs 2 to {n_samples} samples and the longest exactly {n_samples} "
                                 f"(the stored width), got lengths from {min(lengths)} to {max(lengths)}")
        units = tuple(str(u) for u in self.file_units)
        if units and len(units) != n_channels:
            raise RecordingError(f"{len(units)} file units for {n_channels} channels")
        starts = tuple(float(s) for s in self.sweep_start_s)
        if starts and len(starts) != n_sweeps:
            raise RecordingError(f"{len(starts)} sweep start times for {n_sweeps} sweeps")
        if not starts:
            edges = np.concatenate([[0], np.cumsum(lengths[:-1])]) if n_sweeps > 1 else np.zeros(1)
            starts = tuple(float(e) / self.fs_hz for e in edges)
        if data is self.data and data.flags.writeable:
            data = data.copy()
        data.setflags(write=False)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "fs_hz", float(self.fs_hz))
        object.__setattr__(self, "sweep_start_s", starts)
        object.__setattr__(self, "sweep_lengths", lengths)
        object.__setattr__(self, "file_units", units)
        object.__setattr__(self, "channel_names", tuple(str(c) for c in self.channel_names))
        object.__setattr__(self, "channel_units", tuple(str(u) for u in self.channel_units))
        object.__setattr__(self, "header", tuple((str(k), str(v)) for k, v in self.header))

    # ------------------------------------------------------------------ shape
    @property
    def n_sweeps(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.data.shape[1])

    @property
    def n_samples(self) -> int:
        return int(self.data.shape[2])

    @property
    def dt_s(self) -> float:
        """Sampling interval (s)."""
        return 1.0 / self.fs_hz

    @property
    def duration_s(self) -> float:
        """Duration of one sweep (s), first to last sample plus one interval."""
        return self.n_samples / self.fs_hz

    @property
    def t_s(self) -> np.ndarray:
        """Time of each sample within a sweep (s), read-only."""
        t = self._t_cache.get("t")
        if t is None:
            t = self.t0_s + np.arange(self.n_samples, dtype=np.float64) / self.fs_hz
            t.setflags(write=False)
            self._t_cache["t"] = t
        return t

    @property
    def is_ragged(self) -> bool:
        """True when the sweeps have different lengths (stored NaN-padded, see ``sweep_lengths``)."""
        return min(self.sweep_lengths) != self.n_samples

    def sweep_length(self, sweep: int = 0) -> int:
        """True number of samples of one sweep (0-based index)."""
        self._check_sweep(sweep)
        return self.sweep_lengths[sweep]

    def sweep_duration_s(self, sweep: int = 0) -> float:
        """Duration of one sweep at its own length (s)."""
        return self.sweep_length(sweep) / self.fs_hz

    def sweep_t_s(self, sweep: int = 0) -> np.ndarray:
        """Time of each sample of one sweep at its own length (s), read-only."""
        return self.t_s[: self.sweep_length(sweep)]

    def length_groups(self) -> dict[int, list[int]]:
        """Sweep indices grouped by their true length (samples), in sweep order within a group."""
        groups: dict[int, list[int]] = {}
        for k, n in enumerate(self.sweep_lengths):
            groups.setdefault(n, []).append(k)
        return groups

    # ---------------------------------------------------------------- access
    def _check_sweep(self, sweep: int) -> None:
        if not 0 <= sweep < self.n_sweeps:
            raise IndexError(f"sweep {sweep + 1} does not exist: the file has {self.n_sweeps} sweep(s)")

    @property
    def bytes_per_sample(self) -> int:
        """Bytes of one stored sample: 4 (float32, a 16-bit source) or 8 (float64)."""
        return int(self.data.itemsize)

    def samples_f64(self, sweeps: int | slice | Sequence[int] = slice(None),
                    channels: int | slice | Sequence[int] = slice(None),
                    n_samples: int | None = None) -> np.ndarray:
        """Stored samples as float64, read-only: ``data[sweeps, channels, :n_samples]``.

        The one accessor through which the analyses read samples, so that they compute in
        float64 whatever the storage is.  Stored float64 and basic indices (ints, slices):
        a view, no copy; stored float32 (or a list of indices): a float64 copy of just the
        block asked for, so ask for one sweep at a time where the whole is not needed.

        Parameters
        ----------
        sweeps, channels : int, slice or sequence of int
            0-based indices as numpy takes them (default all).
        n_samples : int, optional
            The first ``n_samples`` samples of each sweep (default all, NaN padding included).

        Returns
        -------
        ndarray of float64
            Shape as numpy indexing of ``data`` gives it (pA, mV, or the file's unit).
        """
        block = self.data[sweeps, channels, slice(None) if n_samples is None else slice(0, int(n_samples))]
        if block.dtype != np.float64:
            block = block.astype(np.float64)
        block.setflags(write=False)  # a view of ``data`` is read-only already; a copy is made read-only too
        return block

    def channel(self, index: int, sweep: int = 0) -> np.ndarray:
        """Samples of one channel of one sweep (0-based indices) at the sweep's own length, float64, read-only.

        A view when stored as float64, a float64 copy of the sweep when stored as float32.
        """
        self._check_sweep(sweep)
        return self.samples_f64(sweep, index, self.sweep_lengths[sweep])

    def current(self, sweep: int = 0) -> np.ndarray:
        """Membrane current of one sweep (pA)."""
        if self.current_channel is None:
            raise RecordingError("this recording has no current channel (no column in pA, nA or A)")
        return self.channel(self.current_channel, sweep)

    def voltage(self, sweep: int = 0) -> np.ndarray | None:
        """Recorded command voltage of one sweep (mV), or None without a voltage channel."""
        if self.voltage_channel is None:
            return None
        return self.channel(self.voltage_channel, sweep)

    def command(self, sweep: int = 0) -> np.ndarray | None:
        """Command waveform of one sweep from the file's protocol (mV), or None without one."""
        if self.command_channel is None:
            return None
        return self.channel(self.command_channel, sweep)

    @property
    def header_dict(self) -> dict[str, str]:
        """Header records as a dict (a repeated key keeps its last value)."""
        return dict(self.header)

    @property
    def comment(self) -> str:
        """The file's ``Comment`` record, "" when absent."""
        return self.header_dict.get("Comment", "")

    def summary(self) -> dict[str, object]:
        """A JSON-friendly one-level description (for tables and the CLI)."""
        return {
            "name": self.name,
            "format": self.file_format,
            "sweeps": self.n_sweeps,
            "channels": ", ".join(f"{n} ({u})" for n, u in zip(self.channel_names, self.channel_units)),
            "fs_hz": self.fs_hz,
            "samples_per_sweep": self.n_samples,
            "shortest_sweep_samples": min(self.sweep_lengths),
            "duration_ms": self.duration_s * 1e3,
            "current_channel": None if self.current_channel is None else self.channel_names[self.current_channel],
            "voltage_channel": None if self.voltage_channel is None else self.channel_names[self.voltage_channel],
            "command_channel": None if self.command_channel is None else self.channel_names[self.command_channel],
            "sha256": self.sha256,
        }


def reinterpret_units(rec: Recording, *, current_unit: str | None = None,
                      voltage_unit: str | None = None) -> Recording:
    """The recording with its current and/or voltage channel read in another unit than the file says.

    Some files label pA-sized values as A; the user says what the channel really holds.  The
    values are rescaled from the file's unit (:attr:`Recording.file_units`, else the stored
    unit) to the given one and stored again in pA / mV; a header record
    :data:`UNIT_OVERRIDE_RECORD` says what was changed (the provenance).  Asking for the unit
    the file already has (or was already reinterpreted to) changes nothing.

    Parameters
    ----------
    rec : Recording
    current_unit : {"pA", "nA", "A"}, optional
        What the current channel really holds; None keeps the file's unit.
    voltage_unit : {"mV", "V"}, optional
        What the recorded voltage channel really holds; None keeps the file's unit.

    Returns
    -------
    Recording
        ``rec`` itself when nothing changes.

    Raises
    ------
    RecordingError
        An unknown unit, or no channel of that kind.
    """
    written = list(rec.file_units) or list(rec.channel_units)
    data: np.ndarray | None = None
    notes: list[str] = []
    for kind, index, unit, allowed in (("current", rec.current_channel, current_unit, CURRENT_UNITS),
                                       ("voltage", rec.voltage_channel, voltage_unit, VOLTAGE_UNITS)):
        if unit is None:
            continue
        if unit not in allowed:
            raise RecordingError(f"the {kind} unit must be one of {', '.join(allowed)}, got {unit!r}")
        if index is None:
            raise RecordingError(f"this recording has no {kind} channel whose unit could be set to {unit}")
        old = written[index] or rec.channel_units[index]
        if old.strip().lower() == unit.lower():
            continue
        ratio = canonical_unit(unit)[1] / canonical_unit(old)[1]
        if data is None:
            data = np.array(rec.data)  # the stored dtype: float32 stays float32 (a 16-bit source)
        data[:, index, :] = rec.samples_f64(slice(None), index) * ratio  # one rounding, from float64
        written[index] = unit
        notes.append(f"{kind} channel {rec.channel_names[index]!r}: the file says {old or '(no unit)'}, "
                     f"read as {unit} (values x {ratio:g})")
    if data is None:
        return rec
    data.setflags(write=False)  # kept as is, not copied again
    return dataclasses.replace(rec, data=data, file_units=tuple(written), _t_cache={},
                               header=(*rec.header, *((UNIT_OVERRIDE_RECORD, n) for n in notes)))
