"""Uncertainties, statistical flags, quieter charges and the membrane frame against the independent simulator.

Issue 12's measurements, on cells simulated by tests/cellsim.py (solve_ivp of R_s in series with
C_m || R_m and a Boltzmann charge; never signal_core.synthetic):

- **SE vs SD**: one clean sweep per case, then ``--repeats`` noise draws of the lab's noise (40 pA
  white plus 1.2 nA rms of the 15.625 kHz tone; also white only), analysed unfiltered and with
  ``butter:2000``.  For every number, the median reported standard error over the SD observed
  across the draws (1.00 is right; the issue asks 0.8-1.2).
- **false alarms**: good cells (C_m 0.5-1.5 nF, R_s 1-4 MOhm, R_m 100-1000 MOhm: a clamp settled well
  within the 100 ms steps, tau <= 6 ms; V2 -60 to +40 mV) under the lab's noise: the share of
  sweeps with no warning (the issue asks >= 95 %).
- **broken controls**: a sweep whose second control meets a cell whose C_m changed by 15 %:
  ``controls_disagree`` must fire.
- **membrane frame**: the R_s 8 / R_m 20 MOhm set; the Boltzmann of the corrected charges against
  V_m against the cell's q_max, V_half and k (the issue asks 5 %, 2 mV, 5 %), and the pipette frame.
- **pooling**: a 6-sweep recording under the lab's noise; SD of Q_on over draws with the sweep's own
  average control, pooled average, pooled exp1 model; bias from the noise-free twin.
- **speed** (``--speed``): on the lab's recording (../shared/data/202304_0521.atf), unfiltered and
  ``butter:2000``, the median time of the uncertainty step per sweep, and of ``NoiseSpectrum.variances``
  against the sweep-long FFT sum it replaced (every row through one rFFT, lines by a direct
  sum), with the largest relative difference of the SEs the two give.

    python bench/bench_uncertainty.py [--repeats 200] [--fast] [--speed]
    python bench/bench_accuracy.py --se            (the same, from the accuracy bench)
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from cellsim import Cell, Noise, SimSweep, control_pulse, simulate_sweep, to_recording  # noqa: E402

from signal_core.analysis import pipeline, uncertainty  # noqa: E402
from signal_core.analysis.pipeline import analyze_recording, analyze_sweep  # noqa: E402
from signal_core.filters.specs import FilterSpec  # noqa: E402
from signal_core.io.read import read_recording  # noqa: E402
from signal_core.params import AnalysisParams  # noqa: E402
from signal_core.qv import fit_qv  # noqa: E402

#: the lab's noise: white plus the amplifier's 15.625 kHz tone (DOMAIN.md, shared/data/README.md)
LAB_NOISE = Noise(white_pA=40.0, tone_pA_rms=1200.0)
WHITE_NOISE = Noise(white_pA=40.0)
GOOD_CELL = Cell(1.0, 5.0, 200.0, e_rev_mV=-80.0, q_max_pC=20.0, v_half_mV=-34.0, k_mV=8.7, tau_q_ms=2.0)
#: the numbers whose SE is checked: (result attribute, its SE attribute)
SE_KEYS = (("q_on_pC", "q_on_se_pC"), ("q_off_pC", "q_off_se_pC"), ("c_lin_nF", "c_lin_se_nF"),
           ("c_m_nF", "c_m_se_nF"), ("tau_ms", "tau_se_ms"), ("r_s_MOhm", "r_s_se_MOhm"),
           ("r_m_MOhm", "r_m_se_MOhm"), ("q_on_corr_pC", "q_on_corr_se_pC"), ("v_test_m_mV", "v_test_m_se_mV"))
BUTTER = (FilterSpec.parse("butter:2000"),)


def noisy(sim: SimSweep, noise: Noise, seed: int) -> SimSweep:
    """The clean sweep plus one draw of ``noise``."""
    di, _ = dataclasses.replace(noise, seed=seed).draw(sim.t_s)
    return dataclasses.replace(sim, i_pA=sim.i_clean_pA + di)


def se_vs_sd(sim: SimSweep, noise: Noise, params: AnalysisParams, repeats: int, seed0: int = 0) -> dict:
    """{key: (median reported SE / observed SD, observed SD)} over ``repeats`` draws."""
    vals: dict[str, list[float]] = {k: [] for k, _ in SE_KEYS}
    ses: dict[str, list[float]] = {k: [] for k, _ in SE_KEYS}
    for r in range(repeats):
        res = analyze_sweep(to_recording([noisy(sim, noise, seed0 + r)]), 0, params)
        for key, se_key in SE_KEYS:
            v, se = getattr(res, key), getattr(res, se_key)
            if v is not None and se is not None:
                vals[key].append(v)
                ses[key].append(se)
    out = {}
    for key, _ in SE_KEYS:
        if len(vals[key]) > 2:
            sd = float(np.std(vals[key], ddof=1))
            out[key] = (float(np.median(ses[key])) / sd if sd > 0 else float("nan"), sd)
    return out


def good_cells(n: int, seed: int = 1) -> list[tuple[Cell, float]]:
    """``n`` good cells and test levels, drawn over the ranges of the module docstring."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        cell = Cell(float(rng.uniform(0.5, 1.5)), float(rng.uniform(1.0, 4.0)), float(rng.uniform(100.0, 1000.0)),
                    e_rev_mV=-80.0, q_max_pC=float(rng.uniform(5.0, 30.0)), v_half_mV=-34.0, k_mV=8.7, tau_q_ms=2.0)
        out.append((cell, float(rng.choice(np.arange(-60.0, 41.0, 10.0)))))
    return out


def false_alarms(n: int, filters: tuple = (), seed: int = 1) -> tuple[float, dict[str, int]]:
    """Share of good sweeps under the lab's noise with no warning, and how often each warning fired."""
    quiet = 0
    codes: dict[str, int] = {}
    for k, (cell, v2) in enumerate(good_cells(n, seed)):
        sim = simulate_sweep(cell, control_pulse(-80.0, -100.0, v2), 100e3)
        res = analyze_sweep(to_recording([noisy(sim, LAB_NOISE, 10_000 + k)]), 0, AnalysisParams(filters=filters))
        warned = [f.code for f in res.flags if f.severity == "warning"]
        quiet += not warned
        for c in warned:
            codes[c] = codes.get(c, 0) + 1
    return quiet / n, codes


def changed_controls(change: float = 0.15, noise: Noise = LAB_NOISE, seed: int = 5) -> list[str]:
    """Flag codes of a sweep whose second control step meets a cell with C_m changed by ``change``.

    The sweep is spliced from two simulations of the same protocol: the first cell up to the end of
    the first control's return, the changed cell from there on (the cell changed between the steps).
    """
    pulses = control_pulse(-80.0, -100.0, -20.0)
    a = simulate_sweep(GOOD_CELL, pulses, 100e3)
    b = simulate_sweep(dataclasses.replace(GOOD_CELL, c_m_nF=GOOD_CELL.c_m_nF * (1 + change)), pulses, 100e3)
    cut = int(round((pulses.controls()[1][0] - 5.0) * 1e-3 * 100e3))  # 5 ms before the second control
    clean = np.concatenate([a.i_clean_pA[:cut], b.i_clean_pA[cut:]])
    spliced = dataclasses.replace(a, i_clean_pA=clean, i_pA=clean)
    res = analyze_sweep(to_recording([noisy(spliced, noise, seed)]), 0, AnalysisParams())
    return [f.code for f in res.flags]


def membrane_set(e_rev_mV: float = -80.0) -> tuple[Cell, list[SimSweep]]:
    """The R_s 8 / R_m 20 MOhm set: V2 -70 to +30 mV, one sweep each, noise-free."""
    cell = Cell(1.0, 8.0, 20.0, e_rev_mV=e_rev_mV, q_max_pC=20.0, v_half_mV=-34.0, k_mV=8.7, tau_q_ms=2.0)
    return cell, [simulate_sweep(cell, control_pulse(-80.0, -100.0, v), 100e3) for v in np.arange(-70.0, 31.0, 10.0)]


def membrane_errors(cell: Cell, sims: list[SimSweep]) -> dict[str, tuple[float, float, float]]:
    """Relative q_max error, V_half error (mV) and relative k error of each frame's Boltzmann fit."""
    res = analyze_recording(to_recording(sims), AnalysisParams())
    mem = fit_qv([r.v_test_m_mV for r in res], [r.q_on_corr_pC for r in res])
    pip = fit_qv([r.v_test_mV for r in res], [r.q_on_pC for r in res])
    return {name: (f.q_max_pC / cell.q_max_pC - 1, f.v_half_mV - cell.v_half_mV, f.k_mV / cell.k_mV - 1)
            for name, f in (("membrane", mem), ("pipette", pip))}


def pooling(repeats: int, filters: tuple = (), v2s=(-60.0, -40.0, -20.0, 0.0, 20.0, 40.0)) -> dict:
    """{method: (SD of Q_on per sweep, bias against the own-average method on the noise-free twin)}."""
    sims = [simulate_sweep(GOOD_CELL, control_pulse(-80.0, -100.0, v), 100e3) for v in v2s]
    methods = {"own average": AnalysisParams(filters=filters),
               "pooled average": AnalysisParams(filters=filters, pool_controls=True),
               "pooled exp1": AnalysisParams(filters=filters, pool_controls=True, control_model="exp1")}
    out = {}
    ref = None
    for name, params in methods.items():
        clean = np.array([r.q_on_pC for r in analyze_recording(to_recording(sims), params)])
        ref = clean if ref is None else ref
        q = [[r.q_on_pC for r in analyze_recording(to_recording([noisy(s, LAB_NOISE, 1000 * k + j)
                                                                 for j, s in enumerate(sims)]), params)]
             for k in range(repeats)]
        out[name] = (np.std(np.array(q), axis=0, ddof=1), clean - ref)
    return out


SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"


def fft_variances(noise: uncertainty.NoiseSpectrum, rows: list[np.ndarray]) -> np.ndarray:
    """The reference: each row cropped, zero-padded to a power of two past twice its length, one rFFT,
    ``sum S(f) |W(f)|^2`` on that grid (the spectrum interpolated), plus each line's direct sum."""
    out = np.zeros(len(rows))
    for k, row in enumerate(rows):
        nz = np.flatnonzero(row)
        w = row[nz[0]:nz[-1] + 1]
        nfft = 1 << (2 * w.size).bit_length()
        power = np.abs(np.fft.rfft(w, nfft)) ** 2
        s = np.interp(np.arange(power.size) / nfft, noise.nu, noise.psd) / 2.0
        c = np.full(power.size, 2.0)
        c[0] = c[-1] = 1.0
        out[k] = float(np.sum(c * s * power) / nfft)
        n = np.arange(w.size)
        for nu0, amp in noise.lines:
            out[k] += amp * amp / 2.0 * abs(np.sum(w * np.exp(-2j * np.pi * nu0 * n))) ** 2
    return out


def speed(repeats: int = 30) -> None:
    """Print the uncertainty step's time per sweep on the lab's recording, and variances against the FFT sum."""
    rec = read_recording(SAMPLE)
    for name, params in (("unfiltered", AnalysisParams()), ("butter:2000", AnalysisParams(filters=BUTTER))):
        times, noise, rows = _timed_uncertainty(rec, params, repeats)
        ref = fft_variances(noise, rows)
        new = noise.variances(rows)
        t_new, t_ref = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            noise.variances(rows)
            t1 = time.perf_counter()
            fft_variances(noise, rows)
            t_new.append(t1 - t0)
            t_ref.append(time.perf_counter() - t1)
        print(f"speed, lab recording, {name}: uncertainty step {statistics.median(times) * 1e3:.2f} ms per sweep; "
              f"variances of {len(rows)} rows {statistics.median(t_new) * 1e3:.2f} ms (FFT sum "
              f"{statistics.median(t_ref) * 1e3:.2f} ms), SEs differ by at most "
              f"{np.max(np.abs(np.sqrt(new / ref) - 1)):.1e} (medians of {repeats})")


def _timed_uncertainty(rec, params: AnalysisParams, repeats: int) -> tuple[list[float], object, list[np.ndarray]]:
    """Times (s) of the pipeline's uncertainty step over ``repeats`` analyses, and its noise and weight rows."""
    caught: list[tuple] = []
    times: list[float] = []
    real_step, real_summarise = pipeline.from_steps, uncertainty._summarise

    def timed(*a, **k):
        t0 = time.perf_counter()
        out = real_step(*a, **k)
        times.append(time.perf_counter() - t0)
        return out

    def catch(noise, rows, *rest):
        caught.append((noise, [r.w for r in rows.values()]))
        return real_summarise(noise, rows, *rest)

    pipeline.from_steps, uncertainty._summarise = timed, catch
    try:
        for _ in range(repeats):
            analyze_recording(rec, params)
    finally:
        pipeline.from_steps, uncertainty._summarise = real_step, real_summarise
    return times, caught[0][0], caught[0][1]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=200, help="noise draws per case (default 200)")
    ap.add_argument("--fast", action="store_true", help="40 draws, fewer cells")
    ap.add_argument("--speed", action="store_true", help="only the speed of the uncertainty step (lab recording)")
    args = ap.parse_args(argv)
    if args.speed:
        speed()
        return
    reps = 40 if args.fast else args.repeats
    t0 = time.time()
    print(f"SE / SD over {reps} draws (1.00 is right; median SE over observed SD)")
    header = "  ".join(f"{k.split('_')[0] + '_' + k.split('_')[1]:>9s}" for k, _ in SE_KEYS)
    print(f"{'case':42s}{header}")
    for v2 in (-20.0, 10.0):
        sim = simulate_sweep(GOOD_CELL, control_pulse(-80.0, -100.0, v2), 100e3)
        for noise_name, noise in (("white 40 pA", WHITE_NOISE), ("lab: white + 15.6 kHz", LAB_NOISE)):
            for filt_name, filt in (("unfiltered", ()), ("butter:2000", BUTTER)):
                got = se_vs_sd(sim, noise, AnalysisParams(filters=filt), reps)
                cells = "  ".join(f"{got[k][0]:9.2f}" if k in got else f"{'-':>9s}" for k, _ in SE_KEYS)
                print(f"V2 {v2:+.0f} mV, {noise_name:22s} {filt_name:11s}{cells}")
    n_good = 20 if args.fast else 100
    for filt_name, filt in (("unfiltered", ()), ("butter:2000", BUTTER)):
        share, codes = false_alarms(n_good, filt)
        print(f"false alarms, {n_good} good cells under the lab's noise, {filt_name}: {share * 100:.0f} % of sweeps "
              f"without a warning; warnings {codes or 'none'}")
    print(f"controls changed by 15 % (lab noise): flags {changed_controls()}")
    print(f"controls changed by 0 % (lab noise): flags {changed_controls(0.0)}")
    for e_rev in (-80.0, 0.0):
        cell, sims = membrane_set(e_rev)
        for name, (dq, dv, dk) in membrane_errors(cell, sims).items():
            note = "" if e_rev < -70 else " (holding at V_m -57 mV: the controls move charge, invalid)"
            print(f"R_s 8 / R_m 20, E {e_rev:+.0f} mV, {name:8s} frame: q_max {dq * 100:+.1f} %, "
                  f"V_half {dv:+.2f} mV, k {dk * 100:+.1f} %{note}")
    pool_reps = max(10, reps // 4)
    for filt_name, filt in (("unfiltered", ()), ("butter:2000", BUTTER)):
        got = pooling(pool_reps, filt)
        base_sd = got["own average"][0]
        for name, (sd, bias) in got.items():
            print(f"6-sweep pooling, {filt_name}, {name:15s}: SD {np.round(sd, 3)}  own/this SD "
                  f"{np.round(base_sd / sd, 2)}  bias {np.round(bias, 3)} pC  ({pool_reps} draws)")
    print(f"({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
