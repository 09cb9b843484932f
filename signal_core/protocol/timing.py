"""A protocol described by numbers, for recordings without a voltage channel.

:class:`ProtocolTiming` holds the user-given timings (ms) and levels (mV) and round-trips
through JSON (the recipe); :func:`protocol_from_timing` turns them into a
:class:`~signal_core.protocol.steps.Protocol` for a sweep of a given length.
"""

from __future__ import annotations

from dataclasses import dataclass

from signal_core.protocol.steps import Protocol, ProtocolError, Step
from signal_core.values import finite_number

__all__ = [
    "MAX_CONTROLS",
    "ProtocolTiming",
    "protocol_from_timing",
]


#: most control steps a protocol described by timings may have
MAX_CONTROLS = 1000


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
            finite_number(value, f"protocol timing {name}", ProtocolError)
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
