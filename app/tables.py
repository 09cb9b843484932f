"""Tables shown and edited on the pages: the file summary and the protocol's epochs (ms, mV)."""

from __future__ import annotations

import pandas as pd

from signal_core.protocol.detect import COMMAND_NOTE, COMMAND_SOURCE
from signal_core.protocol.steps import Protocol, ProtocolError
from signal_core.recording import UNIT_OVERRIDE_RECORD, Recording

__all__ = ["EPOCH_COLUMNS", "apply_edits", "epoch_frame", "file_summary", "header_frame", "load_note",
           "protocol_from_frame"]

EPOCH_COLUMNS = ["epoch", "start (ms)", "end (ms)", "level (mV)"]


def file_summary(rec: Recording, size_bytes: int, protocol: Protocol | None, protocol_error: str | None) -> dict:
    """One row of the Load page's table (plain values; the page renders them as text)."""
    head = rec.header_dict
    if protocol is not None:
        prot = (f"V0 {protocol.v_hold_mV:.1f} mV, Vc {protocol.v_control_mV:.1f} mV, "
                f"V2 {protocol.v_test_mV:.1f} mV, {protocol.n_control} control step(s)")
    else:
        prot = f"not found: {protocol_error}" if protocol_error else "not found"
    return {
        "file": rec.name,
        "format": rec.file_format,
        "sweeps": rec.n_sweeps,
        "note": load_note(rec, protocol),
        "channels": ", ".join(f"{n} ({u})" for n, u in zip(rec.channel_names, rec.channel_units)),
        "sampling rate (kHz)": rec.fs_hz / 1e3,
        "duration (ms)": rec.duration_s * 1e3,
        "protocol (sweep 1)": prot,
        "comment": head.get("Comment", ""),
        "acquisition mode": head.get("AcquisitionMode", ""),
        "size (kB)": size_bytes / 1024,
        "SHA-256": rec.sha256,
    }


def load_note(rec: Recording, protocol: Protocol | None) -> str:
    """What the Load summary says about a file besides its numbers ("" when nothing).

    The voltage comes from the protocol (command) rather than a measurement; the sweeps have
    different lengths; a channel's unit was set by hand.
    """
    notes = []
    if protocol is not None and protocol.source == COMMAND_SOURCE:
        notes.append(COMMAND_NOTE)
    elif protocol is None and rec.voltage_channel is None and rec.command_channel is not None:
        notes.append("the file has a command waveform but no recorded voltage")
    if rec.is_ragged:
        notes.append(f"sweeps of different lengths ({min(rec.sweep_lengths):,} to {rec.n_samples:,} samples), "
                     "each analysed at its own length")
    notes.extend(f"unit set by hand: {v}" for k, v in rec.header if k == UNIT_OVERRIDE_RECORD)
    return "; ".join(notes)


def header_frame(rec: Recording) -> pd.DataFrame:
    """The file's header records, in file order."""
    return pd.DataFrame(list(rec.header), columns=["record", "value"])


def epoch_frame(protocol: Protocol) -> pd.DataFrame:
    """The protocol's epochs with their role, start and end (ms) and level (mV)."""
    rows = [
        {"epoch": e.role, "start (ms)": round(e.start_s * 1e3, 4), "end (ms)": round(e.end_s * 1e3, 4),
         "level (mV)": round(float(e.level_mV), 3)}
        for e in protocol.epochs
    ]
    return pd.DataFrame(rows, columns=EPOCH_COLUMNS)


def protocol_from_frame(df: pd.DataFrame, duration_ms: float) -> dict:
    """A protocol (``Protocol.to_dict`` form, source "manual") from an edited epoch table.

    Control step k comes from the rows "control ON k" (start, end, level) and "control OFF k"
    (end of its return epoch, and the level it returns to); the test pulse likewise; V0 is the
    level of the first "hold" row (else of the first return epoch).  Raises ProtocolError with
    the row that does not fit.
    """
    records = df.to_dict("records")
    rows = {str(r["epoch"]): r for r in records}

    def num(row: dict, col: str) -> float:
        v = row.get(col)
        try:
            out = float(v)
        except (TypeError, ValueError):
            raise ProtocolError(f"row '{row.get('epoch')}': {col} must be a number, got {v!r}") from None
        if out != out:  # NaN: an emptied cell
            raise ProtocolError(f"row '{row.get('epoch')}': {col} is empty")
        return out

    def step(on_role: str, off_role: str) -> dict:
        if on_role not in rows or off_role not in rows:
            raise ProtocolError(f"the table needs the rows '{on_role}' and '{off_role}'")
        on, off = rows[on_role], rows[off_role]
        return {"on_start_ms": num(on, "start (ms)"), "on_end_ms": num(on, "end (ms)"),
                "off_end_ms": num(off, "end (ms)"), "level_mV": num(on, "level (mV)"),
                "base_mV": num(off, "level (mV)")}

    k = 1
    controls = []
    while f"control ON {k}" in rows:
        controls.append(step(f"control ON {k}", f"control OFF {k}"))
        k += 1
    test = step("test ON", "test OFF")
    holds = [r for r in records if str(r["epoch"]) == "hold"]
    v_hold = num(holds[0], "level (mV)") if holds else (controls[0]["base_mV"] if controls else test["base_mV"])
    d = {"v_hold_mV": v_hold, "controls": controls, "test": test, "duration_ms": float(duration_ms),
         "source": "manual", "notes": ["epochs set by hand"]}
    Protocol.from_dict(d)  # validates, raises ProtocolError
    return d


def apply_edits(df: pd.DataFrame, edited_rows: dict) -> pd.DataFrame:
    """A copy of ``df`` with a data editor's ``edited_rows`` ({row: {column: value}}) applied."""
    out = df.copy()
    for row, changes in edited_rows.items():
        for col, value in changes.items():
            if col in out.columns and col != "epoch":
                out.loc[int(row), col] = value
    return out
