"""Accuracy of charges and passive parameters against an independent cell simulator (tests/cellsim.py).

Every case is a cell (C_m 0.3-2 nF, R_s 2-20 MOhm, R_m 20-1000 MOhm, a Boltzmann charge), a
control-pulse protocol, a sampling rate (10-200 kHz), what the rig adds (white noise, 50/60 Hz
hum, drift, the lab's 15.6 kHz interference) and a filter chain.  The simulator integrates the
circuit with scipy's solve_ivp and gives the truths: C_m, R_s, R_m, tau, C_lin (the transient
integral of an infinitely long step) and the charge the pipette sees in the test epochs.

For each output (c_lin, c_m, tau, r_s, r_m, q_on, q_off, q_off_over_on) the bench prints the
median and the worst error against truth, then every case outside the bounds of issue 11, and
whether the flag that excuses it fired (a case outside its bounds is fine only when its flag
says so).  Cases without noise measure the bias; noisy cases the error of one draw.

    python bench/bench_accuracy.py [--fast] [--se]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.analysis.pipeline import ChargeResult, analyze_sweep  # noqa: E402
from signal_core.filters.specs import parse_chain  # noqa: E402
from signal_core.fitting import fit_boltzmann  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402
from tests.cellsim import Cell, Noise, Pulses, control_pulse, simulate_sweep, to_recording  # noqa: E402

OUTPUTS = ("c_lin", "c_m", "tau", "r_s", "r_m", "q_on", "q_off", "q_off_over_on")
#: the bounds of issue 11 (fraction of the truth)
BOUNDS = {"c_lin": 0.03, "c_m": 0.03, "tau": 0.03, "r_s": 0.03, "r_m": 0.05, "q_on": 0.05, "q_off": 0.05,
          "q_off_over_on": 0.05}
#: the flags that make an error beyond its bound acceptable (the result says it cannot be trusted)
EXCUSES = {
    "c_lin": {"fast_transient", "slow_clamp", "mains_hum"},
    "c_m": {"fast_transient", "mains_hum"},
    "tau": {"fast_transient", "mains_hum"},
    "r_s": {"fast_transient", "mains_hum"},
    "r_m": {"passive_model", "slow_clamp", "tail_slope_on", "tail_slope_off", "mains_hum"},
    "q_on": {"slow_clamp", "tail_slope_on", "charge_unsettled_on", "test_longer_than_control", "mains_hum"},
    "q_off": {"slow_clamp", "tail_slope_off", "charge_unsettled_off", "off_invalid", "mains_hum"},
    "q_off_over_on": {"slow_clamp", "tail_slope_on", "tail_slope_off", "charge_unsettled_on", "charge_unsettled_off",
                      "off_invalid", "test_longer_than_control", "mains_hum"},
}


def charge(v_half_mV: float = -30.0, q_max_pC: float = 20.0, k_mV: float = 8.0, tau_q_ms: float = 2.0) -> dict:
    """A Boltzmann charge well away from the holding and control levels (their charge < 0.1 % of q_max)."""
    return {"q_max_pC": q_max_pC, "v_half_mV": v_half_mV, "k_mV": k_mV, "tau_q_ms": tau_q_ms}


def lab_pulses(v_test_mV: float = -20.0, **kw) -> Pulses:
    """Hold -90 mV, 2 x 100 ms controls to -110 mV, a 100 ms test (the lab's protocol, charge-free controls)."""
    kw.setdefault("t0_ms", 20.0)
    return control_pulse(-90.0, kw.pop("v_control_mV", -110.0), v_test_mV, **kw)


@dataclass(frozen=True)
class Case:
    """One simulated sweep and what it is held to."""

    name: str
    cell: Cell
    pulses: Pulses
    fs_hz: float = 100e3
    noise: Noise | None = None
    filters: str = ""
    edge_phase: float = 0.5
    bounds: dict = field(default_factory=dict)  # overrides of BOUNDS
    fast: bool = False  # in the tests' subset
    asserted: tuple[str, ...] = OUTPUTS  # the outputs the tests hold to the bounds (issue 11's table)

    def bound(self, output: str) -> float:
        return self.bounds.get(output, BOUNDS[output])


def _cell(c_m: float, r_s: float, r_m: float, **q) -> Cell:
    return Cell(c_m, r_s, r_m, e_rev_mV=-90.0, **(q or charge()))


def cases() -> list[Case]:
    """The grid: passive ranges, sampling rates, noise, slow and fast clamps, short and long tests, polarities."""
    out: list[Case] = []
    for c_m in (0.3, 1.0, 2.0):
        for r_s in (2.0, 8.0, 20.0):
            for r_m in (20.0, 200.0, 1000.0):
                cell = _cell(c_m, r_s, r_m)
                if cell.tau_ms > 12.5:  # 8 tau beyond a 100 ms epoch: the slow-clamp cases below
                    continue
                v2 = min(-90.0 + 70.0 / cell.gain, 60.0)  # the membrane reaches -20 mV (V_half + 10 mV)
                out.append(Case(f"C{c_m:g} Rs{r_s:g} Rm{r_m:g}", cell, lab_pulses(v2),
                                fast=(c_m, r_s, r_m) in ((1.0, 2.0, 200.0), (2.0, 8.0, 20.0))))
    good = _cell(1.0, 2.0, 200.0)
    for fs in (10e3, 20e3, 50e3, 200e3):
        out.append(Case(f"good cell at {fs / 1e3:g} kHz", good, lab_pulses(), fs_hz=fs))
    fast = _cell(0.3, 2.0, 200.0)  # tau 0.6 ms
    out.append(Case("tau 0.6 ms at 10 kHz (tau/dt 6)", fast, lab_pulses(), fs_hz=10e3, fast=True))
    out.append(Case("tau 0.6 ms at 10 kHz, edge on a sample", fast, lab_pulses(), fs_hz=10e3, edge_phase=0.0))
    out.append(Case("tau 0.6 ms, butter:2000", _cell(0.3, 2.0, 1000.0), lab_pulses(), filters="butter:2000",
                    bounds={"c_lin": 0.02}, fast=True))
    # slow clamps: tau 10-16 ms with 100 ms pulses, at and around V_half
    for r_m, v2 in ((200.0, -20.0), (1000.0, -20.0), (1000.0, -30.0), (1000.0, 0.0)):
        cell = _cell(2.0, 8.0, r_m)
        out.append(Case(f"slow clamp tau {cell.tau_ms:.1f} ms, V2 {v2:g}", cell, lab_pulses(v2),
                        fast=(r_m, v2) == (1000.0, -30.0)))
    slow39 = _cell(2.0, 20.0, 1000.0)
    out.append(Case("tau 39 ms", slow39, lab_pulses(), fs_hz=50e3, bounds={"r_m": 0.10}))
    out.append(Case("4 x 25 ms controls, 30 ms test, tau 5.9 ms", _cell(1.0, 6.0, 200.0),
                    lab_pulses(control_ms=25.0, control_off_ms=30.0, n_control=4, test_ms=30.0, test_off_ms=30.0)))
    out.append(Case("20 ms test after 100 ms controls, tau 15.9 ms", _cell(2.0, 8.0, 1000.0), lab_pulses(test_ms=20.0),
                    fs_hz=50e3, fast=True))
    out.append(Case("100 ms test after 50 ms controls", good,
                    lab_pulses(control_ms=50.0, control_off_ms=100.0)))
    # leaky: R_m = R_s
    for seed in range(3):
        out.append(Case(f"R_m = R_s = 20 MOhm, 20 pA white noise, draw {seed}", _cell(1.0, 20.0, 20.0),
                        lab_pulses(40.0), noise=Noise(white_pA=20.0, seed=seed), fast=seed == 0))
    # depolarising controls (hold -120, controls to -100) and a hyperpolarising test
    out.append(Case("depolarising controls", Cell(1.0, 2.0, 200.0, e_rev_mV=-120.0, **charge()),
                    control_pulse(-120.0, -100.0, -20.0, t0_ms=20.0)))
    out.append(Case("hyperpolarising test", Cell(1.0, 2.0, 200.0, e_rev_mV=-80.0, **charge(v_half_mV=-130.0)),
                    control_pulse(-80.0, -60.0, -140.0, t0_ms=20.0)))
    # what the rig adds
    small = _cell(0.5, 5.0, 1000.0)
    for hz in (50.0, 60.0):
        for seed in range(2):
            out.append(Case(f"{hz:g} Hz hum 30 pA, draw {seed}", small, lab_pulses(), fs_hz=50e3,
                            noise=Noise(hum_pA=30.0, hum_hz=hz, seed=seed)))
            out.append(Case(f"{hz:g} Hz hum 30 pA, mains:{hz:g}, draw {seed}", small, lab_pulses(), fs_hz=50e3,
                            noise=Noise(hum_pA=30.0, hum_hz=hz, seed=seed), filters=f"mains:{hz:g}",
                            fast=seed == 0))
    for drift in (50.0, 130.0):
        out.append(Case(f"drift {drift:g} pA/s", good, lab_pulses(), fs_hz=50e3,
                        noise=Noise(drift_pA_per_s=drift, white_pA=5.0, seed=3), fast=drift == 130.0))
    out.append(Case("lab noise: 40 pA white + 1.2 nA at 15.6 kHz, butter:2000", good, lab_pulses(),
                    noise=Noise(white_pA=40.0, tone_pA_rms=1200.0, seed=4), filters="butter:2000"))
    return out


@dataclass(frozen=True)
class Outcome:
    """One case's errors (fraction of the truth; None where the analysis gives no value) and flag codes."""

    case: Case
    errors: dict
    codes: tuple[str, ...]
    failure: str | None = None

    def outside(self) -> list[tuple[str, float, bool]]:
        """(output, error, excused by a flag) for every error beyond its bound."""
        out = []
        for k, e in self.errors.items():
            if e is None:
                excused = bool(EXCUSES[k] & set(self.codes))
                if k in ("q_off", "q_off_over_on") and not excused:
                    out.append((k, float("nan"), False))
                continue
            if abs(e) > self.case.bound(k):
                out.append((k, e, bool(EXCUSES[k] & set(self.codes))))
        return out


def _rel(value: float | None, truth: float) -> float | None:
    if value is None:
        return None
    return (value - truth) / abs(truth)


def evaluate(case: Case) -> Outcome:
    """Simulate, analyse and compare one case."""
    sim = simulate_sweep(case.cell, case.pulses, case.fs_hz, case.noise, edge_phase=case.edge_phase)
    params = AnalysisParams(filters=parse_chain(case.filters) if case.filters else ())
    res = analyze_sweep(to_recording([sim]), 0, params)
    if not isinstance(res, ChargeResult):
        return Outcome(case, {}, (), failure=str(res))
    cell, truth = case.cell, sim.truth
    errors = {
        "c_lin": _rel(res.c_lin_nF, cell.c_lin_nF),
        "c_m": _rel(res.c_m_nF, cell.c_m_nF),
        "tau": _rel(res.tau_ms, cell.tau_ms),
        "r_s": _rel(res.r_s_MOhm, cell.r_s_MOhm),
        "r_m": _rel(res.r_m_MOhm, cell.r_m_MOhm),
        "q_on": _rel(res.q_on_pC, truth.q_on_pC),
        "q_off": _rel(res.q_off_pC, truth.q_off_pC),
        "q_off_over_on": _rel(res.q_off_over_on if res.q_off_pC is not None else None,
                              truth.q_off_pC / truth.q_on_pC),
    }
    return Outcome(case, errors, tuple(f.code for f in res.flags))


#: Q(V) sets: (name, cell, noise); each sweeps V2 from -80 to +40 mV in 10 mV steps (the lab's pulses)
QV_SETS = (
    ("slow clamp tau 15.9 ms (C 2 nF, R_s 8, R_m 1000 MOhm)", (2.0, 8.0, 1000.0), None),
    ("slow clamp tau 15.4 ms (C 2 nF, R_s 8, R_m 200 MOhm)", (2.0, 8.0, 200.0), None),
    ("good cell (C 1 nF, R_s 2, R_m 200 MOhm), 20 pA white noise", (1.0, 2.0, 200.0), Noise(white_pA=20.0, seed=5)),
    ("leaky R_m = R_s = 20 MOhm, tau 10 ms", (1.0, 20.0, 20.0), None),
)
QV_V2_MV = tuple(float(v) for v in range(-80, 41, 10))
#: the Q flags: a point carrying one of these is one whose charge the analysis says not to trust
Q_FLAGS = EXCUSES["q_on"]


@dataclass(frozen=True)
class QvOutcome:
    """One Q(V) set: the Boltzmann of the measured Q_on and of the pipette's true charge, and the flagged points."""

    name: str
    measured: dict
    truth: dict
    flagged: int
    n: int


def evaluate_qv(name: str, cell_args: tuple[float, float, float], noise: Noise | None) -> QvOutcome:
    """Simulate one sweep per V2, analyse each, fit a Boltzmann (with offset) to measured and true Q_on."""
    cell = _cell(*cell_args)
    q, q_true, flagged = [], [], 0
    for v2 in QV_V2_MV:
        sim = simulate_sweep(cell, lab_pulses(v2), 100e3, noise)
        res = analyze_sweep(to_recording([sim]), 0, AnalysisParams())
        q.append(res.q_on_pC)
        q_true.append(sim.truth.q_on_pC)
        flagged += bool(Q_FLAGS & {f.code for f in res.flags})
    fits = [fit_boltzmann(QV_V2_MV, y, with_offset=True).params for y in (q, q_true)]
    return QvOutcome(name, fits[0], fits[1], flagged, len(QV_V2_MV))


def print_qv(outcomes: list[QvOutcome]) -> None:
    print("\nQ(V) in the pipette frame (Boltzmann with offset over V2 -80..+40 mV), measured vs the pipette's truth:")
    print(f"  {'set':62s} {'dV_half':>8s} {'dk':>7s} {'dq_max':>7s}  points with a Q flag")
    for o in outcomes:
        dv = o.measured["v_half"] - o.truth["v_half"]
        dk = (o.measured["k"] - o.truth["k"]) / o.truth["k"]
        dq = (o.measured["q_max"] - o.truth["q_max"]) / o.truth["q_max"]
        print(f"  {o.name:62s} {dv:+7.2f}mV {dk * 100:+6.1f}% {dq * 100:+6.1f}%  {o.flagged}/{o.n}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fast", action="store_true", help="only the tests' subset")
    ap.add_argument("--se", action="store_true",
                    help="then the uncertainty bench (bench/bench_uncertainty.py: SE vs SD, false alarms, pooling, "
                    "membrane frame; its --fast version with --fast)")
    args = ap.parse_args()
    grid = [c for c in cases() if c.fast or not args.fast]
    t0 = time.perf_counter()
    outcomes = [evaluate(c) for c in grid]
    print(f"{len(grid)} cases in {time.perf_counter() - t0:.0f} s")
    print(f"{'output':15s} {'median |err|':>12s} {'worst':>9s}  worst case")
    for k in OUTPUTS:
        errs = [(abs(o.errors[k]), o) for o in outcomes if o.errors.get(k) is not None]
        if not errs:
            continue
        med = statistics.median(e for e, _ in errs)
        worst, wo = max(errs, key=lambda x: x[0])
        print(f"{k:15s} {med * 100:11.2f}% {worst * 100:8.2f}%  {wo.case.name}")
    print("\nOutside the bounds (flag that excuses it: yes/NO):")
    n_bad = 0
    for o in outcomes:
        for k, e, excused in o.outside():
            n_bad += not excused
            print(f"  {'yes' if excused else 'NO ':3s} {o.case.name:50s} {k:14s} {e * 100:+8.2f}%  "
                  f"flags {','.join(o.codes) or '-'}")
    print(f"\n{n_bad} unexcused case(s) outside the bounds")
    if not args.fast:
        print_qv([evaluate_qv(*qv) for qv in QV_SETS])
    if args.se:
        from bench_uncertainty import main as uncertainty_main

        print()
        uncertainty_main(["--fast"] if args.fast else [])


if __name__ == "__main__":
    main()
