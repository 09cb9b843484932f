"""The pulse protocol of a sweep: holding level, control steps and test pulse.

Edges come from the recorded voltage channel when there is one
(:func:`detect_protocol`), from user-given timings otherwise
(:func:`protocol_from_timing`), and every edge and level can be set by hand
(:meth:`Protocol.from_dict` of an edited table, :meth:`Protocol.with_levels`).
Times are stored in seconds and shown in ms; levels are in mV.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from pathlib import PurePath

import numpy as np

__all__ = [
    "Epoch",
    "Protocol",
    "ProtocolError",
    "ProtocolTiming",
    "Step",
    "detect_protocol",
    "parse_filename",
    "protocol_from_timing",
    "v2_from_filename",
]


#: most control steps a protocol described by timings may have
MAX_CONTROLS = 1000
#: command levels beyond +/- this (mV) are not a voltage clamp: refused, so no product can overflow
MAX_LEVEL_MV = 10_000.0
#: a recorded voltage beyond +/- this (mV) is refused before edges are searched in it
MAX_ABS_VOLTAGE_MV = 1e6
#: a step smaller than this (mV), far below any amplifier's command resolution, has zero amplitude
MIN_STEP_MV = 0.01


class ProtocolError(ValueError):
    """The protocol cannot be found or makes no sense (message says why and what to set)."""


@dataclass(frozen=True)
class Step:
    """One voltage step and its return.

    Parameters
    ----------
    on_start_s, on_end_s : float
        The step's ON epoch: from its edge to the edge back (s).
    off_end_s : float
        End of the OFF epoch that follows the return edge: the next edge or the end of the sweep (s).
    level_mV : float
        Command level during the step (mV).
    base_mV : float
        Level before the step and after its return, normally the holding level (mV).
    """

    on_start_s: float
    on_end_s: float
    off_end_s: float
    level_mV: float
    base_mV: float

    def __post_init__(self) -> None:
        values = (self.on_start_s, self.on_end_s, self.off_end_s, self.level_mV, self.base_mV)
        if not all(isinstance(v, int | float | np.integer | np.floating) and math.isfinite(v) for v in values):
            raise ProtocolError(
                "a step's times and levels must be finite numbers: "
                f"start {self.on_start_s!r} s, end {self.on_end_s!r} s, return epoch ends {self.off_end_s!r} s, "
                f"level {self.level_mV!r} mV, base {self.base_mV!r} mV"
            )
        if max(abs(self.level_mV), abs(self.base_mV)) > MAX_LEVEL_MV:
            raise ProtocolError(
                f"a step's level ({self.level_mV:g} mV) and base ({self.base_mV:g} mV) must lie within "
                f"+/-{MAX_LEVEL_MV:g} mV"
            )
        if not (self.on_start_s < self.on_end_s <= self.off_end_s):
            raise ProtocolError(
                f"a step must start before it ends and its return epoch cannot end before the step: "
                f"start {self.on_start_s * 1e3:.3f} ms, end {self.on_end_s * 1e3:.3f} ms, "
                f"return epoch ends {self.off_end_s * 1e3:.3f} ms"
            )

    @property
    def step_mV(self) -> float:
        """Signed step size, level minus base (mV)."""
        return self.level_mV - self.base_mV

    @property
    def on_duration_s(self) -> float:
        return self.on_end_s - self.on_start_s

    @property
    def off_duration_s(self) -> float:
        return self.off_end_s - self.on_end_s

    def to_dict(self) -> dict[str, float]:
        """Times in ms, levels in mV (the form users edit)."""
        return {
            "on_start_ms": self.on_start_s * 1e3,
            "on_end_ms": self.on_end_s * 1e3,
            "off_end_ms": self.off_end_s * 1e3,
            "level_mV": self.level_mV,
            "base_mV": self.base_mV,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Step:
        try:
            return cls(
                on_start_s=float(d["on_start_ms"]) / 1e3,
                on_end_s=float(d["on_end_ms"]) / 1e3,
                off_end_s=float(d["off_end_ms"]) / 1e3,
                level_mV=float(d["level_mV"]),
                base_mV=float(d["base_mV"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"a step needs on_start_ms, on_end_ms, off_end_ms, level_mV, base_mV: {exc}") from exc


def _within_min_step(step: Step) -> str:
    return "" if step.step_mV == 0 else f" to within {MIN_STEP_MV:g} mV"


@dataclass(frozen=True)
class Epoch:
    """A stretch of constant command level, for display and tables (s, mV)."""

    start_s: float
    end_s: float
    level_mV: float
    role: str  # "hold", "control ON k", "control OFF k", "test ON", "test OFF", "other"


@dataclass(frozen=True)
class Protocol:
    """Holding level, control steps and the test pulse of one sweep.

    Parameters
    ----------
    v_hold_mV : float
        Holding level V0 (mV).
    controls : tuple of Step
        The control steps in time order (at least one).
    test : Step
        The test pulse (to V2) and its return.
    duration_s : float
        Sweep length (s), for the epoch table.
    source : str
        ``"voltage channel"``, ``"timing parameters"`` or ``"manual"``.
    notes : tuple of str
        Plain-language remarks made while finding the protocol.
    """

    v_hold_mV: float
    controls: tuple[Step, ...]
    test: Step
    duration_s: float
    source: str = "manual"
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.controls:
            raise ProtocolError("the protocol has no control step: at least one is needed to scale and subtract")
        if not (math.isfinite(self.v_hold_mV) and math.isfinite(self.duration_s)):
            raise ProtocolError(
                f"the holding level and the sweep length must be finite numbers, got {self.v_hold_mV!r} mV "
                f"and {self.duration_s!r} s"
            )
        for i, c in enumerate(self.controls, 1):
            if abs(c.step_mV) < MIN_STEP_MV:
                raise ProtocolError(
                    f"control step {i} has zero amplitude (level {c.level_mV:g} mV equals its base"
                    f"{_within_min_step(c)}): "
                    "the control response per mV cannot be computed"
                )
        signs = {c.step_mV > 0 for c in self.controls}
        if len(signs) > 1:
            steps = ", ".join(f"{c.step_mV:+g}" for c in self.controls)
            raise ProtocolError(
                f"the control steps go in opposite directions from their base ({steps} mV): their average is not "
                "a step, so neither the per-mV response nor the linear capacitance can be computed; use control "
                "steps that all go the same way"
            )
        if abs(self.test.step_mV) < MIN_STEP_MV:
            raise ProtocolError(
                f"the test pulse has zero amplitude (level {self.test.level_mV:g} mV equals its base"
                f"{_within_min_step(self.test)}): "
                "there is no test step whose charge could be measured"
            )

    # ------------------------------------------------------------ properties
    @property
    def n_control(self) -> int:
        return len(self.controls)

    @property
    def v_control_mV(self) -> float:
        """Mean control level Vc (mV)."""
        return float(np.mean([c.level_mV for c in self.controls]))

    @property
    def v_test_mV(self) -> float:
        """Test level V2 (mV)."""
        return self.test.level_mV

    @property
    def test_step_mV(self) -> float:
        """Signed test step dV = V2 - V0 (mV)."""
        return self.test.step_mV

    @property
    def epochs(self) -> tuple[Epoch, ...]:
        """Every epoch of the sweep in time order, with its role."""
        marks: list[Epoch] = []
        for k, c in enumerate(self.controls, 1):
            marks.append(Epoch(c.on_start_s, c.on_end_s, c.level_mV, f"control ON {k}"))
            marks.append(Epoch(c.on_end_s, c.off_end_s, c.base_mV, f"control OFF {k}"))
        marks.append(Epoch(self.test.on_start_s, self.test.on_end_s, self.test.level_mV, "test ON"))
        marks.append(Epoch(self.test.on_end_s, self.test.off_end_s, self.test.base_mV, "test OFF"))
        marks.sort(key=lambda e: e.start_s)
        out: list[Epoch] = []
        t = 0.0
        for e in marks:
            if e.start_s > t + 1e-12:
                out.append(Epoch(t, e.start_s, self.v_hold_mV, "hold"))
            out.append(e)
            t = max(t, e.end_s)
        if self.duration_s > t + 1e-12:
            out.append(Epoch(t, self.duration_s, self.v_hold_mV, "hold"))
        return tuple(out)

    # ------------------------------------------------------------ changes
    def with_levels(
        self,
        v_hold_mV: float | None = None,
        v_control_mV: float | None = None,
        v_test_mV: float | None = None,
    ) -> Protocol:
        """The same edges with some levels replaced by hand (mV); None keeps a level."""
        if v_hold_mV is None and v_control_mV is None and v_test_mV is None:
            return self
        hold = self.v_hold_mV if v_hold_mV is None else float(v_hold_mV)

        def restep(s: Step, level: float | None) -> Step:
            return replace(s, base_mV=hold, level_mV=s.level_mV if level is None else float(level))

        return replace(
            self,
            v_hold_mV=hold,
            controls=tuple(restep(c, v_control_mV) for c in self.controls),
            test=restep(self.test, v_test_mV),
            notes=(*self.notes, "levels set by hand"),
        )

    def to_dict(self) -> dict:
        """JSON-friendly form in ms and mV (the recipe's manual protocol)."""
        return {
            "v_hold_mV": self.v_hold_mV,
            "controls": [c.to_dict() for c in self.controls],
            "test": self.test.to_dict(),
            "duration_ms": self.duration_s * 1e3,
            "source": self.source,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Protocol:
        """Inverse of :meth:`to_dict`; raises ProtocolError for a malformed table."""
        try:
            controls = tuple(Step.from_dict(c) for c in d["controls"])
            test = Step.from_dict(d["test"])
            return cls(
                v_hold_mV=float(d["v_hold_mV"]),
                controls=controls,
                test=test,
                duration_s=float(d["duration_ms"]) / 1e3,
                source=str(d.get("source", "manual")),
                notes=tuple(str(n) for n in d.get("notes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ProtocolError):
                raise
            raise ProtocolError(f"malformed protocol description: {exc}") from exc


@dataclass(frozen=True)
class ProtocolTiming:
    """A protocol described by numbers, for recordings without a voltage channel.

    All times in ms from the start of the sweep, levels in mV.  The control
    steps are ``n_control`` repeats of ``control_ms`` at ``v_control_mV``, each
    followed by ``control_off_ms`` at the holding level; the test pulse starts at
    ``test_start_ms`` (default: right after the last control's return epoch).
    """

    t0_ms: float = 17.2
    control_ms: float = 100.0
    control_off_ms: float = 100.0
    n_control: int = 2
    test_start_ms: float | None = None
    test_ms: float = 100.0
    v_hold_mV: float = -80.0
    v_control_mV: float = -100.0
    v_test_mV: float = -20.0

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if name == "test_start_ms" and value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating) \
                    or not math.isfinite(value):
                raise ProtocolError(f"protocol timing {name} must be a finite number, got {value!r}")
        if self.n_control != int(self.n_control):
            raise ProtocolError(f"the number of control steps must be a whole number, got {self.n_control!r}")
        object.__setattr__(self, "n_control", int(self.n_control))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, d: dict) -> ProtocolTiming:
        if not isinstance(d, dict):
            raise ProtocolError(f"protocol timings must be a JSON object, got {d!r}")
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ProtocolError(f"unknown protocol timing field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def protocol_from_timing(timing: ProtocolTiming, duration_s: float) -> Protocol:
    """Build a :class:`Protocol` from :class:`ProtocolTiming` for a sweep of ``duration_s`` (s)."""
    if not 1 <= timing.n_control <= MAX_CONTROLS:
        raise ProtocolError(f"the number of control steps must be 1 to {MAX_CONTROLS}, got {timing.n_control}")
    if timing.control_ms <= 0 or timing.test_ms <= 0 or timing.control_off_ms <= 0:
        raise ProtocolError("control, return and test durations must be positive (ms)")
    if timing.t0_ms < 0:
        raise ProtocolError("the first control step cannot start before the sweep (t0 < 0 ms)")
    end_ms = duration_s * 1e3
    controls_end = timing.t0_ms + timing.n_control * (timing.control_ms + timing.control_off_ms)
    if controls_end > end_ms:  # checked before building them: n_control may be absurdly large
        raise ProtocolError(
            f"the {timing.n_control} control steps would end at {controls_end:.1f} ms, after the end of the sweep "
            f"({end_ms:.1f} ms): shorten the timings"
        )
    ms = 1e-3
    controls = []
    t = timing.t0_ms
    for _ in range(timing.n_control):
        controls.append(
            Step(t * ms, (t + timing.control_ms) * ms, (t + timing.control_ms + timing.control_off_ms) * ms,
                 timing.v_control_mV, timing.v_hold_mV)
        )
        t += timing.control_ms + timing.control_off_ms
    test_start = t if timing.test_start_ms is None else timing.test_start_ms
    test_end = test_start + timing.test_ms
    if test_end >= end_ms:
        raise ProtocolError(
            f"the test pulse would end at {test_end:.1f} ms, at or after the end of the sweep ({end_ms:.1f} ms): "
            "shorten the timings"
        )
    if test_start < controls[-1].off_end_s / ms - 1e-9:
        # test before or inside the controls (P/n after the test is described by hand instead)
        raise ProtocolError(
            f"the test pulse starts at {test_start:.1f} ms, before the last control's return epoch ends "
            f"({controls[-1].off_end_s / ms:.1f} ms)"
        )
    test = Step(test_start * ms, test_end * ms, duration_s, timing.v_test_mV, timing.v_hold_mV)
    return Protocol(timing.v_hold_mV, tuple(controls), test, duration_s, source="timing parameters")


def _segments(v: np.ndarray, fs_hz: float, threshold_mV: float) -> list[tuple[int, int, float]]:
    """Split a command-voltage trace into constant-level segments ``(start, end, level)`` (samples, mV)."""
    n = v.size
    # smooth over ~0.1 ms so recording noise does not make edges; the edge position is refined below
    w = max(1, int(round(1e-4 * fs_hz)))
    if w > 1:
        kernel = np.ones(w) / w
        vs = np.convolve(v, kernel, mode="same")
        vs[: w // 2] = v[: w // 2]
        vs[n - w // 2 :] = v[n - w // 2 :]
    else:
        vs = v
    lag = max(1, w)
    jump = np.zeros(n, dtype=bool)
    d = np.abs(vs[lag:] - vs[:-lag])
    jump[lag:] |= d > threshold_mV / 2
    jump[:-lag] |= d > threshold_mV / 2
    # regions where the level is changing; the gaps between them are the flat segments
    change = np.diff(jump.astype(np.int8))
    starts = list(np.flatnonzero(change == -1) + 1)
    ends = list(np.flatnonzero(change == 1) + 1)
    if not jump[0]:
        starts.insert(0, 0)
    if not jump[-1]:
        ends.append(n)
    flats = [(s, e) for s, e in zip(starts, ends) if e - s >= 2]
    if not flats:
        return [(0, n, float(np.median(v)))]
    levels = [float(np.median(v[s:e])) for s, e in flats]
    # merge neighbours whose levels do not differ by a step
    merged: list[list] = [[flats[0][0], flats[0][1], [levels[0]]]]
    for (s, e), lv in zip(flats[1:], levels[1:]):
        if abs(lv - np.median(merged[-1][2])) < threshold_mV:
            merged[-1][1] = e
            merged[-1][2].append(lv)
        else:
            merged.append([s, e, [lv]])
    segs = [(s, e, float(np.median(v[s:e]))) for s, e, _ in merged]
    # edges: the first sample past the midpoint between neighbouring levels
    out: list[tuple[int, int, float]] = []
    cut = 0
    for k, (_s, e, lv) in enumerate(segs):
        if k + 1 < len(segs):
            s_next, _, lv_next = segs[k + 1]
            mid = 0.5 * (lv + lv_next)
            region = v[e - 1 : s_next + 1]
            crossed = (region - mid) * np.sign(lv_next - lv) > 0
            edge = e - 1 + int(np.argmax(crossed)) if crossed.any() else s_next
            out.append((cut, edge, lv))
            cut = edge
        else:
            out.append((cut, n, lv))
    return out


def detect_protocol(
    t_s: np.ndarray,
    v_mV: np.ndarray,
    *,
    threshold_mV: float = 5.0,
    min_epoch_ms: float = 1.0,
) -> Protocol:
    """Find holding level, control steps and test pulse from the recorded command voltage.

    Parameters
    ----------
    t_s : ndarray
        Sample times of the sweep (s), uniform.
    v_mV : ndarray
        Recorded command voltage (mV).
    threshold_mV : float
        A change of the level by more than this is an edge (mV).
    min_epoch_ms : float
        Shorter excursions are treated as glitches, not steps (ms).

    Returns
    -------
    Protocol
        Holding level = the level held longest; steps = excursions from it.
        The steps at the most common level are the controls (ties: the earlier
        ones), the last other step is the test pulse; when every step has the
        same level, the last one is the test pulse.

    Raises
    ------
    ProtocolError
        No step, only one step, a step that never returns, or a non-finite trace.
    """
    v = np.asarray(v_mV, dtype=np.float64)
    t = np.asarray(t_s, dtype=np.float64)
    if v.ndim != 1 or v.size != t.size or v.size < 4:
        raise ProtocolError("the voltage trace and its time axis must be 1-D, of equal length, at least 4 samples")
    if not np.all(np.isfinite(v)):
        raise ProtocolError("the voltage channel contains NaN or infinite values")
    peak = float(np.max(np.abs(v)))
    if peak > MAX_ABS_VOLTAGE_MV:
        raise ProtocolError(f"the voltage channel reaches {peak:.3g} mV, beyond +/-{MAX_ABS_VOLTAGE_MV:g} mV: "
                            "not a command voltage (a wrong unit in the file, or damaged data)")
    fs = 1.0 / float(np.median(np.diff(t))) if t.size > 1 else 1.0
    duration = float(t[-1] - t[0]) + 1.0 / fs
    segs = _segments(v, fs, threshold_mV)
    min_len = max(2, int(round(min_epoch_ms * 1e-3 * fs)))
    # fold glitches into the preceding segment
    clean: list[list] = []
    for s, e, lv in segs:
        if clean and (e - s < min_len or abs(lv - clean[-1][2]) < threshold_mV):
            clean[-1][1] = e
        else:
            clean.append([s, e, lv])
    notes: list[str] = []
    # holding level: the level held longest in total
    levels = np.array([c[2] for c in clean])
    lengths = np.array([c[1] - c[0] for c in clean])
    groups: list[list[int]] = []
    for i, lv in enumerate(levels):
        for g in groups:
            if abs(levels[g[0]] - lv) < threshold_mV:
                g.append(i)
                break
        else:
            groups.append([i])
    hold_group = max(groups, key=lambda g: lengths[g].sum())
    v_hold = float(np.average(levels[hold_group], weights=lengths[hold_group]))
    is_hold = np.zeros(len(clean), dtype=bool)
    is_hold[hold_group] = True
    steps: list[Step] = []
    step_idx: list[int] = []
    for i, (s, e, lv) in enumerate(clean):
        if is_hold[i]:
            continue
        if i + 1 >= len(clean):
            raise ProtocolError(
                f"the step to {lv:.1f} mV at {t[s] * 1e3:.2f} ms never returns before the end of the sweep"
            )
        if not is_hold[i + 1]:
            raise ProtocolError(
                f"the step to {lv:.1f} mV at {t[s] * 1e3:.2f} ms is followed directly by another level "
                f"({clean[i + 1][2]:.1f} mV) instead of a return to the holding level ({v_hold:.1f} mV); "
                "set the epochs by hand"
            )
        off_end = clean[i + 2][0] if i + 2 < len(clean) else v.size
        t_start = t[0] + s / fs
        steps.append(Step(t_start, t[0] + e / fs, t[0] + off_end / fs if off_end < v.size else t[0] + duration,
                          lv, v_hold))
        step_idx.append(i)
    if not steps:
        raise ProtocolError(
            f"no voltage step larger than {threshold_mV:g} mV was found in the voltage channel "
            f"(it stays near {v_hold:.1f} mV): this sweep has no pulse protocol"
        )
    if len(steps) == 1:
        raise ProtocolError(
            f"only one voltage step was found (to {steps[0].level_mV:.1f} mV at "
            f"{steps[0].on_start_s * 1e3:.2f} ms): a control step and a test pulse are both needed"
        )
    lgroups: list[list[int]] = []
    for i, st in enumerate(steps):
        for g in lgroups:
            if abs(steps[g[0]].level_mV - st.level_mV) < threshold_mV:
                g.append(i)
                break
        else:
            lgroups.append([i])
    if len(lgroups) == 1:
        ctrl_ids, test_id = lgroups[0][:-1], lgroups[0][-1]
        notes.append("all steps have the same level: the last one is taken as the test pulse")
    else:
        ctrl_group = max(lgroups, key=lambda g: (len(g), -g[0]))
        others = [i for i in range(len(steps)) if i not in ctrl_group]
        test_id = others[-1]
        ctrl_ids = ctrl_group
        if len(others) > 1:
            skipped = ", ".join(f"{steps[i].level_mV:.1f} mV at {steps[i].on_start_s * 1e3:.1f} ms" for i in others[:-1])
            notes.append(f"steps not used as control or test: {skipped}")
    return Protocol(
        v_hold_mV=v_hold,
        controls=tuple(steps[i] for i in ctrl_ids),
        test=steps[test_id],
        duration_s=duration,
        source="voltage channel",
        notes=tuple(notes),
    )


_V_TOKEN = re.compile(r"^(?P<v>[+-]?\d+(?:\.\d+)?)(?P<mv>mv)?(?P<kind>depol|hyperpol|hyp)?$", re.IGNORECASE)


@dataclass(frozen=True)
class FileNameInfo:
    """What a lab's file name says: file number, set and test level V2 (mV), each None when absent."""

    file_number: int | None
    set_id: str | None
    v2_mV: float | None


def parse_filename(name: str) -> FileNameInfo:
    """Read file number, set and V2 from names like ``20130507_0006_10mVdepol`` or ``0057_0_-100``.

    Patterns (DOMAIN.md section 6): ``DATE_NNNN_<V2>mVdepol``, ``DATE_NNNN_<V2>depol``,
    ``DATE_NNNN_S_<V2>mV`` and ``NNNN_S_<V2>``.  A bare number counts as V2
    only as the last of at least three parts after a 4-digit file number,
    so ``202304_0521`` gives no V2.
    """
    stem = PurePath(str(name).replace("\\", "/")).name
    stem = re.sub(r"\.(atf|abf|txt|csv)$", "", stem, flags=re.IGNORECASE)
    parts = [p for p in re.split(r"[_\s]+", stem) if p]
    num_idx = next((i for i, p in enumerate(parts) if re.fullmatch(r"\d{4}", p)), None)
    file_number = int(parts[num_idx]) if num_idx is not None else None
    v2: float | None = None
    v_idx: int | None = None
    for i, p in enumerate(parts):
        m = _V_TOKEN.match(p)
        if m and (m.group("mv") or m.group("kind")):
            v2, v_idx = float(m.group("v")), i
    if v2 is None and num_idx is not None and len(parts) - num_idx >= 3:
        m = _V_TOKEN.match(parts[-1])
        if m:
            v2, v_idx = float(m.group("v")), len(parts) - 1
    set_id = None
    if num_idx is not None and v_idx is not None and v_idx - num_idx == 2:
        set_id = parts[num_idx + 1]
    return FileNameInfo(file_number, set_id, v2)


def v2_from_filename(name: str) -> float | None:
    """The test level V2 (mV) a file name suggests, or None."""
    return parse_filename(name).v2_mV
