"""Simulated whole-cell recordings with known truth: the tests' ground truth and the app's demo.

The cell is the textbook equivalent circuit: the pipette's series resistance
R_s in series with the membrane, C_m in parallel with R_m, plus a two-state
Boltzmann charge Q(V) = Q_max / (1 + exp(-(V - V_half)/k)) that relaxes to its
steady state with its own time constant tau_q.

The linear current is exact (sum of step responses of the RC circuit,
evaluated at the sample times).  The charge follows the membrane potential of
the linear circuit, and its current reaches the pipette through the same
circuit: a first-order low-pass with the clamp time constant
tau_c = R_s C_m R_m / (R_s + R_m) and DC gain R_m / (R_s + R_m), so a fraction
R_s / (R_s + R_m) of the moved charge returns through the membrane leak.  The
truth reports both the moved charge and the charge the pipette sees.

Units: mV, pA, MOhm, nF, ms (MOhm x nF = ms; mV / MOhm = nA = 1000 pA).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from signal_core.protocol.steps import Protocol
from signal_core.protocol.timing import ProtocolTiming, protocol_from_timing
from signal_core.recording import Recording

__all__ = [
    "CellModel",
    "SweepTruth",
    "SyntheticRecording",
    "boltzmann_charge_pC",
    "demo_recording",
    "simulate",
]


@dataclass(frozen=True)
class CellModel:
    """Passive parameters and the nonlinear charge of a simulated cell.

    Parameters
    ----------
    c_m_nF : float
        Membrane capacitance (nF).
    r_s_MOhm : float
        Series (access) resistance (MOhm).
    r_m_MOhm : float
        Membrane (leak) resistance (MOhm).
    e_leak_mV : float
        Reversal potential of the leak (mV); sets the holding current.
    q_max_pC : float
        Total mobile charge (pC); 0 for a purely linear cell.
    v_half_mV, k_mV : float
        Boltzmann midpoint and slope factor of the charge (mV).
    tau_q_ms : float
        Relaxation time constant of the charge (ms).
    """

    c_m_nF: float = 1.0
    r_s_MOhm: float = 1.0
    r_m_MOhm: float = 500.0
    e_leak_mV: float = 0.0
    q_max_pC: float = 28.0
    v_half_mV: float = -34.0
    k_mV: float = 8.7
    tau_q_ms: float = 2.0

    @property
    def tau_clamp_ms(self) -> float:
        """Clamp time constant C_m R_s R_m / (R_s + R_m) (ms)."""
        return self.c_m_nF * self.r_s_MOhm * self.r_m_MOhm / (self.r_s_MOhm + self.r_m_MOhm)

    @property
    def c_lin_nF(self) -> float:
        """What the transient integral measures: C_m (R_m / (R_s + R_m))^2 (nF)."""
        return self.c_m_nF * (self.r_m_MOhm / (self.r_s_MOhm + self.r_m_MOhm)) ** 2

    def to_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def boltzmann_charge_pC(v_mV: np.ndarray | float, q_max_pC: float, v_half_mV: float, k_mV: float) -> np.ndarray:
    """Steady-state charge Q(V) = Q_max / (1 + exp(-(V - V_half)/k)) (pC)."""
    x = -(np.asarray(v_mV, dtype=np.float64) - v_half_mV) / k_mV
    return q_max_pC / (1.0 + np.exp(np.clip(x, -700, 700)))


@dataclass(frozen=True)
class SweepTruth:
    """What one simulated sweep was built from and what an ideal analysis must find.

    Attributes are in pC, nF, MOhm, ms, mV.  ``q_on_expected_pC`` is the charge an
    ideal control-subtraction measures at the pipette for the test ON epoch: the
    charge moved by the test step minus the scaled charge moved by the control
    steps, times R_m / (R_s + R_m); ``q_off_expected_pC`` is its return (minus
    the same, as the charge relaxes back fully at V0).
    """

    v_hold_mV: float
    v_control_mV: float
    v_test_mV: float
    q_moved_test_pC: float
    q_moved_control_pC: float
    q_on_expected_pC: float
    q_off_expected_pC: float


@dataclass(frozen=True, eq=False)
class SyntheticRecording:
    """A simulated recording with its truth."""

    recording: Recording
    cell: CellModel
    protocols: tuple[Protocol, ...]
    truths: tuple[SweepTruth, ...]
    fs_hz: float
    noise_pA: float = 0.0
    tone_hz: float | None = None
    tone_pA_rms: float = 0.0
    extra: dict = field(default_factory=dict)

    def to_atf_bytes(self) -> bytes:
        """The recording as a Clampfit-style ATF file (what the demo button "uploads")."""
        from signal_core.io.atf_writer import write_atf

        return write_atf(self.recording)


def _command(protocol: Protocol, t_s: np.ndarray) -> np.ndarray:
    v = np.full(t_s.shape, protocol.v_hold_mV, dtype=np.float64)
    for s in (*protocol.controls, protocol.test):
        v[(t_s >= s.on_start_s - 1e-12) & (t_s < s.on_end_s - 1e-12)] = s.level_mV
    return v


def _first_order(x: np.ndarray, tau_s: float, dt_s: float, gain: float = 1.0) -> np.ndarray:
    """y' = (gain * x - y) / tau, exact for an input held over each sample; starts at steady state."""
    a = np.exp(-dt_s / tau_s)
    y0 = gain * x[0]
    from scipy.signal import lfilter  # here, not at the top: 0.4 s of the CLI's start-up

    y, _ = lfilter([gain * (1 - a)], [1.0, -a], x, zi=[a * y0])
    return y


def _simulate_sweep(cell: CellModel, protocol: Protocol, t_s: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free membrane current (pA) and command (mV) for one sweep."""
    vcmd = _command(protocol, t_s)
    rs, rm = cell.r_s_MOhm, cell.r_m_MOhm
    tau_c_s = cell.tau_clamp_ms * 1e-3
    # linear current: holding plus a step response per edge; edges sit on samples
    i_lin = np.full(t_s.shape, (vcmd[0] - cell.e_leak_mV) / (rs + rm) * 1e3)
    edges = np.flatnonzero(np.diff(vcmd)) + 1
    vm = np.full(t_s.shape, cell.e_leak_mV + (vcmd[0] - cell.e_leak_mV) * rm / (rs + rm))
    for e in edges:
        dv = vcmd[e] - vcmd[e - 1]
        tt = t_s[e:] - t_s[e]
        decay = np.exp(-tt / tau_c_s)
        i_lin[e:] += dv * (1.0 / (rs + rm) + (1.0 / rs - 1.0 / (rs + rm)) * decay) * 1e3
        vm[e:] += dv * rm / (rs + rm) * (1.0 - decay)
    if cell.q_max_pC == 0:
        return i_lin, vcmd
    # charge relaxes towards Q_inf(Vm); its current flows through the clamp circuit
    q_inf = boltzmann_charge_pC(vm, cell.q_max_pC, cell.v_half_mV, cell.k_mV)
    q = _first_order(q_inf, cell.tau_q_ms * 1e-3, dt_s)
    i_gate = np.diff(q, prepend=q[0]) / dt_s  # pC / s = pA
    i_rec = _first_order(i_gate, tau_c_s, dt_s, gain=rm / (rs + rm))
    return i_lin + i_rec, vcmd


def simulate(
    cell: CellModel | None = None,
    timing: ProtocolTiming | None = None,
    *,
    v_tests_mV: tuple[float, ...] | None = None,
    fs_hz: float = 100_000.0,
    duration_ms: float = 1100.0,
    noise_pA: float = 0.0,
    tone_hz: float | None = None,
    tone_pA_rms: float = 0.0,
    v_noise_mV: float = 0.0,
    with_voltage: bool = True,
    seed: int = 0,
    name: str = "synthetic.atf",
) -> SyntheticRecording:
    """Simulate a control-pulse recording of ``cell``, one sweep per test level.

    Parameters
    ----------
    cell : CellModel, optional
        The cell (default: a good clamp, R_s 1 MOhm, C_m 1 nF).
    timing : ProtocolTiming, optional
        Timings (ms) and levels (mV) of holding, control steps and test pulse.
    v_tests_mV : tuple of float, optional
        One test level per sweep (mV); default: the timing's ``v_test_mV``.
    fs_hz : float
        Sampling rate (Hz).
    duration_ms : float
        Sweep length (ms).
    noise_pA : float
        RMS of white current noise (pA).
    tone_hz, tone_pA_rms : float
        An interference sine (Hz, pA rms), as amplifiers pick up.
    v_noise_mV : float
        RMS noise on the recorded voltage (mV).
    with_voltage : bool
        Record the command voltage as a second channel.
    seed : int
        Seed of the noise generator.
    name : str
        File name given to the recording.

    Returns
    -------
    SyntheticRecording
        The :class:`Recording` (pA, mV, s) and the truth per sweep.
    """
    cell = cell or CellModel()
    timing = timing or ProtocolTiming()
    v_tests = tuple(v_tests_mV) if v_tests_mV is not None else (timing.v_test_mV,)
    dt = 1.0 / fs_hz
    n = int(round(duration_ms * 1e-3 * fs_hz))
    t = np.arange(n) * dt
    duration_s = n * dt
    rng = np.random.default_rng(seed)
    n_ch = 2 if with_voltage else 1
    data = np.empty((len(v_tests), n_ch, n))
    protocols: list[Protocol] = []
    truths: list[SweepTruth] = []
    g = cell.r_m_MOhm / (cell.r_s_MOhm + cell.r_m_MOhm)

    def q_ss(v: float) -> float:
        # the membrane settles to e_leak + (V - e_leak) * g, not to the command
        vm = cell.e_leak_mV + (v - cell.e_leak_mV) * g
        return float(boltzmann_charge_pC(vm, cell.q_max_pC, cell.v_half_mV, cell.k_mV))

    for k, v2 in enumerate(v_tests):
        tm = ProtocolTiming(**{**timing.to_dict(), "v_test_mV": float(v2)})
        # snap edges to samples so the simulated and the detected edges coincide
        prot = protocol_from_timing(tm, duration_s)
        i, vcmd = _simulate_sweep(cell, prot, t, dt)
        if noise_pA > 0:
            i = i + rng.normal(0.0, noise_pA, n)
        if tone_hz and tone_pA_rms > 0:
            i = i + np.sqrt(2.0) * tone_pA_rms * np.sin(2 * np.pi * tone_hz * t + rng.uniform(0, 2 * np.pi))
        data[k, 0] = i
        if with_voltage:
            data[k, 1] = vcmd + (rng.normal(0.0, v_noise_mV, n) if v_noise_mV > 0 else 0.0)
        protocols.append(prot)
        q0 = q_ss(tm.v_hold_mV)
        moved_test = q_ss(v2) - q0
        moved_ctrl = q_ss(tm.v_control_mV) - q0
        scale = (v2 - tm.v_hold_mV) / (tm.v_control_mV - tm.v_hold_mV)
        q_on = (moved_test - scale * moved_ctrl) * g
        truths.append(
            SweepTruth(
                v_hold_mV=tm.v_hold_mV,
                v_control_mV=tm.v_control_mV,
                v_test_mV=float(v2),
                q_moved_test_pC=moved_test,
                q_moved_control_pC=moved_ctrl,
                q_on_expected_pC=q_on,
                q_off_expected_pC=-q_on,
            )
        )
    rec = Recording(
        data=data,
        fs_hz=fs_hz,
        channel_names=("Im", "Vm") if with_voltage else ("Im",),
        channel_units=("pA", "mV") if with_voltage else ("pA",),
        current_channel=0,
        voltage_channel=1 if with_voltage else None,
        header=(
            ("AcquisitionMode", "Episodic Stimulation"),
            ("Comment", f"simulated cell: C_m {cell.c_m_nF:g} nF, R_s {cell.r_s_MOhm:g} MOhm, "
                        f"R_m {cell.r_m_MOhm:g} MOhm, Q_max {cell.q_max_pC:g} pC"),
        ),
        name=name,
        file_format="synthetic",
    )
    return SyntheticRecording(rec, cell, tuple(protocols), tuple(truths), fs_hz, noise_pA, tone_hz, tone_pA_rms)


def demo_recording(seed: int = 521, *, v_tests_mV: tuple[float, ...] | None = None) -> SyntheticRecording:
    """The app's demo: a cell and protocol like the lab's sample recording (202304_0521).

    Holding -80 mV, two 100 ms control steps to -100 mV, a 100 ms test pulse to
    -20 mV, 100 kHz, 1.1 s; R_s 14 MOhm, C_m 0.7 nF (tau ~ 9.8 ms); 20 pA of
    white noise and a 15.6 kHz, 1200 pA rms interference tone, as on the rig.
    The cell's charge follows a Boltzmann with Q_max 20 pC, V_half -34 mV, k 8.7 mV.

    Parameters
    ----------
    seed : int
        Seed of the noise.
    v_tests_mV : tuple of float, optional
        One sweep per test level (mV), for a Q-V set in one recording; default one sweep at -20 mV.

    Returns
    -------
    SyntheticRecording
        ``.recording`` (a :class:`~signal_core.recording.Recording`), ``.cell`` (the truth:
        ``c_m_nF``, ``r_s_MOhm`` ...) and ``.truths`` (per sweep: the expected Q_on, Q_off in pC).

    Examples
    --------
    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> demo.recording.n_sweeps, demo.recording.fs_hz, demo.cell.c_m_nF, demo.cell.r_s_MOhm
    (1, 100000.0, 0.7, 14.0)
    >>> sc.demo_recording(v_tests_mV=(-60.0, -40.0, -20.0)).recording.n_sweeps
    3
    """
    cell = CellModel(c_m_nF=0.7, r_s_MOhm=14.0, r_m_MOhm=300.0, e_leak_mV=-20.0,
                     q_max_pC=20.0, v_half_mV=-34.0, k_mV=8.7, tau_q_ms=8.0)
    timing = ProtocolTiming(t0_ms=17.2, control_ms=100.0, control_off_ms=100.0, n_control=2,
                            test_ms=100.0, v_hold_mV=-80.0, v_control_mV=-100.0, v_test_mV=-20.0)
    return simulate(cell, timing, v_tests_mV=v_tests_mV, fs_hz=100_000.0, duration_ms=1100.0, noise_pA=20.0,
                    tone_hz=15_625.0, tone_pA_rms=1200.0, v_noise_mV=0.15, seed=seed,
                    name="demo_0001_-20mV.atf" if v_tests_mV is None else "demo_0001.atf")
