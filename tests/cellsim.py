"""An independent whole-cell voltage-clamp simulator, the truth that accuracy tests and benches measure against.

It shares nothing with the analysis (and nothing with :mod:`signal_core.synthetic`, which builds the
demo from closed-form step responses): it integrates the circuit itself, epoch by epoch, with
:func:`scipy.integrate.solve_ivp`, and reads its truths off the integration.

The circuit: the command ``V_cmd`` drives the membrane through the series resistance ``R_s``; the
membrane is ``C_m`` in parallel with a leak ``R_m`` (reversal ``E``) and a two-state Boltzmann charge
``Q`` that relaxes towards ``Q_inf(V_m)`` with ``tau_q``::

    I      = (V_cmd - V_m) / R_s                        (pipette current)
    C dV_m/dt = I - (V_m - E) / R_m - dQ/dt
    dQ/dt  = (Q_inf(V_m) - Q) / tau_q,   Q_inf(V) = Q_max / (1 + exp(-(V - V_half) / k))

Units inside: ms, mV, MOhm, nF, nA, pC (mV / MOhm = nA, nF x mV / ms = nA, nA x ms = pC).
Outputs: time in s, current in pA, as a :class:`signal_core.recording.Recording` holds them.

The command changes ``edge_phase`` of a sample after a sample instant (default 0.5, half way
between two samples; 0 puts the edge on a sample, which then already shows the new level).
The pipette's charge is integrated as a third state, so the truths are exact integrals of the
continuous current, not sums over samples.

Truths (:class:`SweepTruth`): what the pipette sees of the charge in each test epoch (the
current with the charge minus the same cell without it, integrated over the epoch), the
membrane's own moved charge, and the cell's passive values (:class:`Cell` properties).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp

from signal_core.recording import Recording

__all__ = [
    "Cell",
    "Noise",
    "Pulses",
    "SimSweep",
    "SweepTruth",
    "control_pulse",
    "simulate_sweep",
    "to_recording",
]


@dataclass(frozen=True)
class Cell:
    """A passive cell with an optional Boltzmann charge; values in nF, MOhm, mV, pC, ms."""

    c_m_nF: float
    r_s_MOhm: float
    r_m_MOhm: float
    e_rev_mV: float = 0.0
    q_max_pC: float = 0.0
    v_half_mV: float = -34.0
    k_mV: float = 8.7
    tau_q_ms: float = 2.0

    @property
    def gain(self) -> float:
        """The fraction of a command step that reaches the membrane in the steady state, R_m / (R_s + R_m)."""
        return self.r_m_MOhm / (self.r_s_MOhm + self.r_m_MOhm)

    @property
    def tau_ms(self) -> float:
        """The clamp's time constant, C_m R_s R_m / (R_s + R_m), in ms (MOhm x nF = ms)."""
        return self.c_m_nF * self.r_s_MOhm * self.gain

    @property
    def c_lin_nF(self) -> float:
        """The transient integral of an infinitely long step per mV: C_m (R_m / (R_s + R_m))^2, in nF."""
        return self.c_m_nF * self.gain**2

    def q_inf_pC(self, v_mV: float | np.ndarray) -> float | np.ndarray:
        """The charge at equilibrium at membrane potential ``v_mV`` (pC)."""
        if self.q_max_pC == 0.0:
            return 0.0 * np.asarray(v_mV, dtype=float)
        return self.q_max_pC / (1.0 + np.exp(-(np.asarray(v_mV, dtype=float) - self.v_half_mV) / self.k_mV))

    def v_rest_mV(self, v_cmd_mV: float) -> float:
        """The membrane potential held at a constant command (leak and R_s as a divider), in mV."""
        return (v_cmd_mV * self.r_m_MOhm + self.e_rev_mV * self.r_s_MOhm) / (self.r_s_MOhm + self.r_m_MOhm)

    def without_charge(self) -> Cell:
        return Cell(self.c_m_nF, self.r_s_MOhm, self.r_m_MOhm, self.e_rev_mV, 0.0, self.v_half_mV, self.k_mV,
                    self.tau_q_ms)


@dataclass(frozen=True)
class Pulses:
    """A sweep's command: the holding level and its steps.

    ``steps`` holds ``(start_ms, end_ms, level_mV, role)`` with role ``"control"`` or ``"test"``;
    the command returns to ``v_hold_mV`` at each step's end.
    """

    v_hold_mV: float
    steps: tuple[tuple[float, float, float, str], ...]
    duration_ms: float

    def edges_ms(self) -> list[float]:
        return sorted({t for s in self.steps for t in s[:2]})

    def level_mV(self, t_ms: float) -> float:
        for start, end, level, _ in self.steps:
            if start <= t_ms < end:
                return level
        return self.v_hold_mV

    def test(self) -> tuple[float, float, float, str]:
        return next(s for s in self.steps if s[3] == "test")

    def controls(self) -> list[tuple[float, float, float, str]]:
        return [s for s in self.steps if s[3] == "control"]


def control_pulse(
    v_hold_mV: float,
    v_control_mV: float,
    v_test_mV: float,
    *,
    t0_ms: float = 10.0,
    control_ms: float = 100.0,
    control_off_ms: float | None = None,
    n_control: int = 2,
    test_ms: float = 100.0,
    test_off_ms: float | None = None,
    controls_after: bool = False,
) -> Pulses:
    """A control-pulse protocol: ``n_control`` steps to ``v_control_mV`` and one test step to ``v_test_mV``.

    Each control step lasts ``control_ms`` and is followed by ``control_off_ms`` at holding
    (default the same); the test lasts ``test_ms`` and is followed by ``test_off_ms`` at holding
    (default ``control_off_ms``), which ends the sweep. With ``controls_after`` the test comes first
    (P/n after the test).
    """
    off = control_ms if control_off_ms is None else control_off_ms
    test_off = off if test_off_ms is None else test_off_ms
    steps: list[tuple[float, float, float, str]] = []
    t = t0_ms

    def add_controls(t: float) -> float:
        for _ in range(n_control):
            steps.append((t, t + control_ms, v_control_mV, "control"))
            t += control_ms + off
        return t

    if not controls_after:
        t = add_controls(t)
    steps.append((t, t + test_ms, v_test_mV, "test"))
    t += test_ms + test_off
    if controls_after:
        t = add_controls(t)
    return Pulses(v_hold_mV, tuple(steps), t)


@dataclass(frozen=True)
class Noise:
    """What the rig adds to the current: white noise (pA rms), mains hum (pA amplitude of the fundamental,
    with harmonics as (order, relative amplitude)), a linear drift (pA/s), and an interference tone (pA rms)."""

    white_pA: float = 0.0
    hum_pA: float = 0.0
    hum_hz: float = 50.0
    hum_harmonics: tuple[tuple[int, float], ...] = ((1, 1.0), (3, 0.3), (5, 0.1))
    drift_pA_per_s: float = 0.0
    tone_hz: float = 15_625.0
    tone_pA_rms: float = 0.0
    v_noise_mV: float = 0.0
    seed: int = 0

    def draw(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Current noise (pA) and voltage-channel noise (mV) at the sample times ``t_s``."""
        rng = np.random.default_rng(self.seed)
        i = self.white_pA * rng.standard_normal(t_s.size)
        if self.hum_pA:
            phase = rng.uniform(0, 2 * np.pi)
            for order, rel in self.hum_harmonics:
                i += self.hum_pA * rel * np.sin(2 * np.pi * self.hum_hz * order * t_s + order * phase)
        if self.drift_pA_per_s:
            i += self.drift_pA_per_s * t_s
        if self.tone_pA_rms:
            i += self.tone_pA_rms * np.sqrt(2) * np.sin(2 * np.pi * self.tone_hz * t_s + rng.uniform(0, 2 * np.pi))
        v = self.v_noise_mV * rng.standard_normal(t_s.size)
        return i, v


@dataclass(frozen=True)
class SweepTruth:
    """What is true of one simulated sweep.

    ``q_on_pC`` / ``q_off_pC``: the pipette's view of the charge in the test ON epoch (from the test's
    start to its end) and the OFF epoch (from the test's end to the next edge or the sweep's end): the
    integral of the current with the charge minus the same cell's current without it.
    ``q_moved_on_pC``: the charge the membrane itself moved during the ON epoch (Q at its end minus Q
    at its start). ``v_test_m_mV``: the membrane potential at the end of the test step.
    """

    q_on_pC: float
    q_off_pC: float
    q_moved_on_pC: float
    q_moved_off_pC: float
    v_test_m_mV: float


@dataclass(frozen=True)
class SimSweep:
    """One simulated sweep: samples and truths. ``i_clean_pA`` has no noise; ``i_pA`` has it."""

    cell: Cell
    pulses: Pulses
    fs_hz: float
    t_s: np.ndarray
    i_pA: np.ndarray
    i_clean_pA: np.ndarray
    v_cmd_mV: np.ndarray
    v_rec_mV: np.ndarray
    truth: SweepTruth
    noise: Noise = field(default_factory=Noise)


def _rhs(cell: Cell, v_cmd: float):
    c, rs, rm, e = cell.c_m_nF, cell.r_s_MOhm, cell.r_m_MOhm, cell.e_rev_mV

    def f(_t: float, y: np.ndarray) -> np.ndarray:
        vm, q, _ = y
        i = (v_cmd - vm) / rs
        dq = (cell.q_inf_pC(vm) - q) / cell.tau_q_ms if cell.q_max_pC else 0.0
        return np.array([(i - (vm - e) / rm - dq) / c, dq, i])

    return f


def _integrate(cell: Cell, pulses: Pulses, t_ms: np.ndarray, edge_phase: float, dt_ms: float, t_end_ms: float,
               ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Pipette current (nA) at ``t_ms`` and the state [V_m, Q, integral of I] at 0, at every edge and at the end."""
    bounds = [0.0] + [e + edge_phase * dt_ms for e in pulses.edges_ms()] + [t_end_ms]
    vm0 = cell.v_rest_mV(pulses.v_hold_mV)
    y = np.array([vm0, float(cell.q_inf_pC(vm0)), 0.0])
    i_out = np.empty(t_ms.size)
    vm_out = np.empty(t_ms.size)
    states = [y.copy()]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        v_cmd = pulses.level_mV(0.5 * (a + b) - edge_phase * dt_ms)
        inside = (t_ms >= a) & (t_ms < b)
        t_eval = np.append(t_ms[inside], b)
        sol = solve_ivp(_rhs(cell, v_cmd), (a, b), y, method="LSODA", rtol=1e-10, atol=1e-10, t_eval=t_eval)
        if not sol.success:
            raise RuntimeError(f"the simulator failed between {a} and {b} ms: {sol.message}")
        i_out[inside] = (v_cmd - sol.y[0, :-1]) / cell.r_s_MOhm
        vm_out[inside] = sol.y[0, :-1]
        y = sol.y[:, -1]
        states.append(y.copy())
    return i_out, vm_out, states


def simulate_sweep(
    cell: Cell,
    pulses: Pulses,
    fs_hz: float,
    noise: Noise | None = None,
    *,
    edge_phase: float = 0.5,
) -> SimSweep:
    """Simulate one sweep of ``pulses`` on ``cell``, sampled at ``fs_hz``.

    Returns the noisy and clean current (pA), the command and the recorded voltage (mV), and the
    truths of :class:`SweepTruth`, from two integrations: the cell as given and the same cell
    without its charge.
    """
    noise = noise or Noise()
    dt_ms = 1e3 / fs_hz
    n = int(round(pulses.duration_ms / dt_ms))
    t_ms = np.arange(n) * dt_ms
    t_end_ms = n * dt_ms
    i_nA, vm, states = _integrate(cell, pulses, t_ms, edge_phase, dt_ms, t_end_ms)
    start, end, _, _ = pulses.test()
    edges = pulses.edges_ms()
    k_on = 1 + edges.index(start)          # states[k] is the state at bound k: 0, the edges, the end
    k_end = 1 + edges.index(end)
    k_off_end = k_end + 1
    if cell.q_max_pC:
        _, _, st0 = _integrate(cell.without_charge(), pulses, t_ms[:0], edge_phase, dt_ms, t_end_ms)
        q_on = (states[k_end][2] - states[k_on][2]) - (st0[k_end][2] - st0[k_on][2])
        q_off = (states[k_off_end][2] - states[k_end][2]) - (st0[k_off_end][2] - st0[k_end][2])
        moved_on = states[k_end][1] - states[k_on][1]
        moved_off = states[k_off_end][1] - states[k_end][1]
    else:
        q_on = q_off = moved_on = moved_off = 0.0
    truth = SweepTruth(float(q_on), float(q_off), float(moved_on), float(moved_off), float(states[k_end][0]))
    v_cmd = _command(pulses, t_ms, edge_phase * dt_ms)
    i_clean = i_nA * 1e3
    di, dv = noise.draw(t_ms * 1e-3)
    return SimSweep(cell, pulses, fs_hz, t_ms * 1e-3, i_clean + di, i_clean, v_cmd, v_cmd + dv, truth, noise)


def _command(pulses: Pulses, t_ms: np.ndarray, shift_ms: float) -> np.ndarray:
    v = np.full(t_ms.size, pulses.v_hold_mV)
    for start, end, level, _ in pulses.steps:
        v[(t_ms - shift_ms >= start) & (t_ms - shift_ms < end)] = level
    return v


def to_recording(sweeps: list[SimSweep], name: str = "sim.atf", *, with_voltage: bool = True) -> Recording:
    """The sweeps as a :class:`~signal_core.recording.Recording` (current pA, recorded voltage mV)."""
    fs = sweeps[0].fs_hz
    n = min(s.i_pA.size for s in sweeps)
    chans = [np.stack([s.i_pA[:n], s.v_rec_mV[:n]]) if with_voltage else s.i_pA[None, :n] for s in sweeps]
    data = np.stack(chans)
    names, units = (("Im", "Vm"), ("pA", "mV")) if with_voltage else (("Im",), ("pA",))
    return Recording(data, fs, names, units, 0, 1 if with_voltage else None,
                     sweep_start_s=tuple(float(k * n / fs) for k in range(len(sweeps))), name=name,
                     file_format="simulated")
