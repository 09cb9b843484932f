"""The pulse protocol of a sweep as data: holding level, control steps and test pulse.

:class:`Step` is one voltage step and its return, :class:`Protocol` the holding level,
the control steps and the test pulse of one sweep (checked on construction), and
:class:`Epoch` one stretch of constant level for display and tables
(:attr:`Protocol.epochs`).  Every edge and level can be set by hand
(:meth:`Protocol.from_dict` of an edited table, :meth:`Protocol.with_levels`).
:class:`ProtocolError` carries every message a user can cause.  Where a protocol comes
from: :mod:`signal_core.protocol.detect` (the voltage channel) and
:mod:`signal_core.protocol.timing` (user-given timings); :mod:`signal_core.protocol`
re-exports all of them.  Times are stored in seconds and shown in ms; levels are in mV.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from signal_core.errors import SignalCoreError

__all__ = [
    "MAX_LEVEL_MV",
    "MIN_STEP_MV",
    "Epoch",
    "Protocol",
    "ProtocolError",
    "Step",
]


#: command levels beyond +/- this (mV) are not a voltage clamp: refused, so no product can overflow
MAX_LEVEL_MV = 10_000.0
#: a step smaller than this (mV), far below any amplifier's command resolution, has zero amplitude
MIN_STEP_MV = 0.01


class ProtocolError(SignalCoreError):
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

