"""Write a :class:`~signal_core.recording.Recording` as Clampfit writes ATF 1.0.

Used for the demo recording, for tests that generate every ATF variant, and for
anyone who wants a text copy of a simulated cell.  :func:`signal_core.io.atf.read_atf`
reads the output back to the same recording (to 7 significant digits).
"""

from __future__ import annotations

import io

import numpy as np

from signal_core.recording import Recording

__all__ = ["write_atf"]


def write_atf(recording: Recording, *, time_unit: str = "s", sep: str = "\t") -> bytes:
    """Write a recording as Clampfit writes ATF 1.0 (UTF-8, LF line ends).

    One time column (restarting at ``t0_s`` each sweep), then per sweep one column per
    channel, channel fastest (``"Trace #1 (pA)"``, ``"Trace #1 (mV)"``, ``"Trace #2 (pA)"``...).
    Samples keep 7 significant digits, time 12.

    Parameters
    ----------
    recording : Recording
        What to write (currents pA, voltages mV as stored).
    time_unit : {"s", "ms"}
        Unit of the time column.
    sep : {"\\t", ","}
        Field separator.

    Returns
    -------
    bytes
        The file; :func:`read_atf` reads it back to the same recording (to 7 digits).

    Raises
    ------
    ValueError
        A bad ``time_unit`` or ``sep``, or sweeps of different lengths (one time column cannot serve them).
    """
    if time_unit not in ("s", "ms"):
        raise ValueError(f"time_unit must be 's' or 'ms', got {time_unit!r}")
    if sep not in ("\t", ","):
        raise ValueError(f"sep must be a tab or a comma, got {sep!r}")
    if recording.is_ragged:
        raise ValueError(f"the sweeps have different lengths ({min(recording.sweep_lengths)} to "
                         f"{recording.n_samples} samples): an ATF file has one time column for every sweep, "
                         "so it cannot hold them; export them as CSV (one column per sweep) instead")

    def clean(text: str) -> str:
        return " ".join(str(text).replace('"', "'").split())

    names = [clean(n) for n in recording.channel_names]
    data = recording.data
    n_sweeps, n_channels, _ = data.shape
    top = ",".join(f"{v:.6g}" for v in data.max(axis=(0, 2)))
    bottom = ",".join(f"{v:.6g}" for v in data.min(axis=(0, 2)))
    header = recording.header_dict
    records = [
        f'"AcquisitionMode={clean(header.get("AcquisitionMode", "Episodic Stimulation"))}"',
        f'"Comment={clean(recording.comment)}"',
        f'"YTop={top}"',
        f'"YBottom={bottom}"',
        f'"SweepStartTimesMS={",".join(f"{s * 1e3:.3f}" for s in recording.sweep_start_s)}"',
        f'"SignalsExported={",".join(names)}"',
        sep.join(['"Signals="', *(f'"{n}"' for n in names)]),
    ]
    titles = [f'"Time ({time_unit})"'] + [
        f'"Trace #{s + 1} ({clean(recording.channel_units[c])})"'
        for s in range(n_sweeps) for c in range(n_channels)
    ]
    m = len(titles)
    lines = [f"ATF{sep}1.0", f"{len(records)}{sep}{m}", *records, sep.join(titles)]
    table = np.empty((recording.n_samples, m), dtype=np.float64)
    table[:, 0] = recording.t_s * (1e3 if time_unit == "ms" else 1.0)
    table[:, 1:] = data.transpose(2, 0, 1).reshape(recording.n_samples, m - 1)
    buf = io.BytesIO()
    buf.write(("\n".join(lines) + "\n").encode("utf-8"))
    np.savetxt(buf, table, fmt=["%.12g"] + ["%.7g"] * (m - 1), delimiter=sep, newline="\n")
    return buf.getvalue()
