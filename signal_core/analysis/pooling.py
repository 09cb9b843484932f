"""Quieter charges: the control response pooled over the sweeps of a recording and replaced by a fitted model.

The control-pulse estimate of a charge carries the noise of the control responses scaled by
r = dV / dVc: with two small controls and a large test step it dominates (DOMAIN.md section 8).
Two remedies, each a recipe option:

- **pooling** (``pool_controls``): the control responses per mV of every sweep of the recording
  whose controls agree with the others within their errors (C_lin of the sweep within
  :data:`POOL_AGREE_SIGMAS` standard errors of the median sweep's) are averaged together;
- **a model** (``control_model``): the averaged response per mV, from the end of the filter's
  spread (or ``fit_start_ms``) on, is replaced by a fitted ``offset + sum_i a_i exp(-t / tau_i)``
  with one (``"exp1"``) or two (``"exp2"``) exponentials; before that it stays the average.

Both leave the charge of a linear cell unbiased and take most of the control noise out of it.
The standard error of the subtracted control response comes with it (:meth:`PooledControls.variance`):
the model's influence function carried to the samples of every pooled response, with each
sweep's own noise.  Units: pA per mV, ms, pC.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from signal_core.analysis.responses import SweepIndex
from signal_core.analysis.uncertainty import (
    NoiseSpectrum,
    estimate_noise,
    fit_influence,
    quiet_segments,
    response_positions,
)
from signal_core.fitting import FitError, fit_exponential
from signal_core.flags import AnalysisError
from signal_core.params import CONTROL_MODELS
from signal_core.protocol.steps import Protocol

__all__ = ["POOL_AGREE_SIGMAS", "PooledControls", "pool_controls"]

#: a sweep's controls join the pool when its C_lin lies within this many standard errors of the median sweep's
POOL_AGREE_SIGMAS = 3.0


@dataclass(frozen=True, eq=False)
class _Side:
    """One side (ON or OFF) of the pool: the averaged response per mV, the subtracted curve, its influence."""

    raw: np.ndarray
    curve: np.ndarray
    start: int
    infl: np.ndarray | None  # (n_par, L - start): d(params) / d(raw[start:]) for the model, None for the average
    jac: np.ndarray | None  # (L - start, n_par): d(model) / d(params)
    taus_ms: tuple[float, ...]
    rows: tuple[tuple[int, int, slice, float], ...]  # (sweep, position, baseline, per-mV factor: 1 / signed step)


@dataclass(frozen=True, eq=False)
class PooledControls:
    """The control response per mV subtracted from every sweep's test response.

    Attributes
    ----------
    g_on_pA_per_mV, g_off_pA_per_mV : ndarray
        What is subtracted (times the test step) from the test ON and OFF responses; from the edge,
        one value per sample.
    raw_on_pA_per_mV, raw_off_pA_per_mV : ndarray
        The plain pooled averages (the magenta curves of the pool).
    model : str
        One of :data:`CONTROL_MODELS`.
    sweeps : tuple of int
        Sweeps (0-based) whose controls were pooled.
    left_out : tuple of (int, str)
        Sweeps whose controls were not, with the reason.
    taus_ms : tuple of float
        Time constants of the ON model (empty for the average).
    """

    g_on_pA_per_mV: np.ndarray
    g_off_pA_per_mV: np.ndarray
    raw_on_pA_per_mV: np.ndarray
    raw_off_pA_per_mV: np.ndarray
    model: str
    sweeps: tuple[int, ...]
    left_out: tuple[tuple[int, str], ...]
    taus_ms: tuple[float, ...]
    _on: _Side
    _off: _Side
    _noise: dict
    _layout: dict

    def describe(self) -> str:
        """One line for flags, the Help and the workbook: what was subtracted."""
        what = {"average": "the average", "exp1": "a fitted exponential plus steady level",
                "exp2": "two fitted exponentials plus steady level"}[self.model]
        taus = ", ".join(f"{t:.3g}" for t in self.taus_ms)
        out = (f"control response pooled over {len(self.sweeps)} sweep(s) "
               f"({', '.join(str(s + 1) for s in self.sweeps)}), "
               f"subtracted as {what}" + (f" (tau {taus} ms)" if taus else ""))
        if self.left_out:
            out += "; left out: " + "; ".join(f"sweep {s + 1} ({why})" for s, why in self.left_out)
        return out

    def sweep_weights(self, u: np.ndarray, side: str) -> dict[int, np.ndarray]:
        """Weights over each pooled sweep's samples of ``sum_t u_t g(t)`` (linearised through the model).

        ``u`` are weights over the purple curve's samples (s; the integral's, with its tail). The
        charge's term is ``-dV`` times this; sweeps are independent, but within a sweep the rows
        share its noise (an interference tone locked to the protocol adds up coherently), so each
        sweep's rows are one vector.
        """
        s = self._on if side == "on" else self._off
        m = min(u.size, s.raw.size)
        grad = np.zeros(s.raw.size)
        grad[:min(m, s.start)] = u[:min(m, s.start)]
        if s.infl is None:
            grad[s.start:m] = u[s.start:m]
        else:
            uu = np.zeros(s.raw.size - s.start)
            uu[:max(0, m - s.start)] = u[s.start:m]
            grad[s.start:] = (uu @ s.jac) @ s.infl
        k = len(s.rows)
        out: dict[int, np.ndarray] = {}
        for sweep, pos, base, factor in s.rows:
            w = out.setdefault(sweep, np.zeros(self._layout[sweep]))
            m = min(grad.size, w.size - pos)
            w[pos:pos + m] += grad[:m] * factor / k
            w[base] -= grad[:m].sum() * factor / k / (base.stop - base.start)
        return out

    def variance(self, u: np.ndarray, side: str, *, skip: int | None = None) -> float:
        """Variance of ``sum_t u_t g(t)`` over the sweeps of the pool (``skip``: one left to the caller), nan
        when a sweep's noise is unknown."""
        total = 0.0
        for sweep, w in self.sweep_weights(u, side).items():
            if sweep == skip:
                continue
            noise: NoiseSpectrum | None = self._noise.get(sweep)
            if noise is None:
                return math.nan
            total += float(noise.variances(w)[0])
        return total


def _fit_model(t_ms: np.ndarray, y: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Model curve on ``t_ms``, its influence (n_par, n) and Jacobian (n, n_par), and the taus (ms)."""
    try:
        one = fit_exponential(t_ms, y)
    except FitError as exc:
        raise AnalysisError(f"the pooled control response could not be fitted: {exc}") from exc
    amp, tau, off = one.params["amplitude"], one.params["tau"], one.params["offset"]
    if model == "exp1":
        e = np.exp(-t_ms / tau)
        jac = np.column_stack([e, amp * t_ms / tau**2 * e, np.ones_like(t_ms)])
        return off + amp * e, fit_influence(t_ms, amp, tau, off), jac, (tau,)

    def f(t, a1, t1, a2, t2, c):
        return c + a1 * np.exp(-t / t1) + a2 * np.exp(-t / t2)

    def jac_f(t, a1, t1, a2, t2, c):
        e1, e2 = np.exp(-t / t1), np.exp(-t / t2)
        return np.column_stack([e1, a1 * t / t1**2 * e1, e2, a2 * t / t2**2 * e2, np.ones_like(t)])

    p0 = [0.8 * amp, tau, 0.2 * amp, 5.0 * tau, off]
    dt = float(t_ms[1] - t_ms[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            p, _ = curve_fit(f, t_ms, y, p0=p0, jac=jac_f, method="trf", x_scale="jac", max_nfev=400,
                             bounds=([-np.inf, dt / 10, -np.inf, dt / 10, -np.inf],
                                     [np.inf, t_ms[-1] * 10, np.inf, t_ms[-1] * 10, np.inf]))
    except (RuntimeError, ValueError) as exc:
        raise AnalysisError(f"two exponentials could not be fitted to the pooled control response: {exc}") from exc
    jac = jac_f(t_ms, *p)
    infl = np.linalg.pinv(jac.T @ jac) @ jac.T
    return f(t_ms, *p), infl, jac, (float(p[1]), float(p[3]))


def _side(rows: list[tuple[int, int, slice, float, np.ndarray]], length: int, start: int, fs: float,
          model: str) -> _Side:
    raw = np.mean([r[:length] * f for *_, f, r in rows], axis=0)
    curve = raw.copy()
    infl = jac = None
    taus: tuple = ()
    if model != "average":
        t_ms = np.arange(start, length) / fs * 1e3
        fitted, infl, jac, taus = _fit_model(t_ms, raw[start:], model)
        curve[start:] = fitted
    return _Side(raw, curve, start, infl, jac, taus, tuple((k, a, b, f) for k, a, b, f, _ in rows))


def pool_controls(
    currents: dict[int, np.ndarray], protocols: dict[int, Protocol], fs: float, t0_s: float, guard_s: float,
    baseline_s: float, fit_start_samples: int, *, on_source: str = "on", off_source: str = "off",
    model: str = "exp1", pool: bool = True,
) -> PooledControls:
    """Pool the control responses per mV of the sweeps given and fit the model.

    Parameters
    ----------
    currents : dict of int to ndarray
        Each sweep's current as analysed (filtered), pA.
    protocols : dict of int to Protocol
        Each sweep's protocol.
    fs, t0_s, guard_s, baseline_s : float
        Sampling rate (Hz), time of the first sample, guard and pre-edge baseline (s), as the pipeline uses them.
    fit_start_samples : int
        The model starts this many samples after the edge (the filter's spread); before it, the average.
    on_source, off_source : {"on", "off", "both"}
        Which control responses make the curve subtracted from the test ON and OFF responses.
    model : str
        One of :data:`CONTROL_MODELS`.
    pool : bool
        Pool the sweeps whose controls agree; False keeps each sweep to its own (one sweep given).

    Returns
    -------
    PooledControls
    """
    if model not in CONTROL_MODELS:
        raise AnalysisError(f"control model must be one of {', '.join(CONTROL_MODELS)}, got {model!r}")
    per: dict[int, dict] = {}
    noise: dict[int, NoiseSpectrum | None] = {}
    for k, i in currents.items():
        prot = protocols[k]
        sw = SweepIndex(i, fs, t0_s, guard_s, baseline_s)
        pos = response_positions(sw, prot)
        ends_on = [sw.idx(c.on_end_s) - sw.guard for c in prot.controls]
        ends_off = [sw.idx(c.off_end_s) - sw.guard for c in prot.controls]
        on = [(a, b, 1.0 / c.step_mV, i[a:e] - i[b].mean())
              for (a, b), e, c in zip(pos["ctrl_on"], ends_on, prot.controls, strict=True)]
        off = [(a, b, -1.0 / c.step_mV, i[a:e] - i[b].mean())
               for (a, b), e, c in zip(pos["ctrl_off"], ends_off, prot.controls, strict=True)]
        edges = sorted({sw.idx(t) for s in (*prot.controls, prot.test) for t in (s.on_start_s, s.on_end_s)})
        quiet = quiet_segments(edges, [sw.idx(prot.test.on_start_s), sw.idx(prot.test.on_end_s)], i.size,
                               sw.guard, i.size)
        noise[k] = estimate_noise(i, quiet, fs)
        per[k] = {"on": on, "off": off, "guard": sw.guard, "n_base": sw.nbase}
    length = min(r.size for d in per.values() for *_, r in (*d["on"], *d["off"]))
    if length - fit_start_samples < 16:
        raise AnalysisError("the control steps are too short for a model of their response")

    # C_lin per sweep (transient above its last fifth, per mV) and its SE: which sweeps agree
    trap = np.full(length, 1.0 / fs)  # the midpoint rule, as responses.integral_pC
    n_end = max(2, length // 5)
    g = trap.copy()
    g[length - n_end:] -= trap.sum() / n_end
    c_lin, c_se = {}, {}
    for k, d in per.items():
        rows = d["on"]
        c_lin[k] = float(np.mean([f * (r[:length] @ g) for *_, f, r in rows]))
        nz = noise[k]
        w = np.zeros(currents[k].size)
        for a, b, f, _ in rows:
            w[a:a + length] += g * f / len(rows)
            w[b] -= g.sum() * f / len(rows) / (b.stop - b.start)
        c_se[k] = math.sqrt(float(nz.variances(w)[0])) if nz is not None else math.nan
    left_out: list[tuple[int, str]] = []
    used = sorted(per)
    if pool and len(per) > 2:
        ref = float(np.median(list(c_lin.values())))
        for k in list(used):
            se = c_se[k]
            if math.isfinite(se) and abs(c_lin[k] - ref) > POOL_AGREE_SIGMAS * se * math.sqrt(1 + 1 / len(per)):
                used.remove(k)
                left_out.append((k, f"C_lin {c_lin[k]:.4g} nF against {ref:.4g} nF for the others, "
                                    f"{abs(c_lin[k] - ref) / se:.1f} SE apart"))

    def rows_of(source: str) -> list[tuple[int, int, slice, float, np.ndarray]]:
        out = []
        for k in used:
            if source in ("on", "both"):
                out += [(k, *row) for row in per[k]["on"]]
            if source in ("off", "both"):
                out += [(k, *row) for row in per[k]["off"]]
        return out

    start = max(fit_start_samples, 1)
    on = _side(rows_of(on_source), length, start, fs, model)
    off = _side(rows_of(off_source), length, start, fs, model)
    return PooledControls(
        g_on_pA_per_mV=on.curve, g_off_pA_per_mV=off.curve, raw_on_pA_per_mV=on.raw, raw_off_pA_per_mV=off.raw,
        model=model, sweeps=tuple(used), left_out=tuple(left_out), taus_ms=on.taus_ms, _on=on, _off=off,
        _noise=noise, _layout={k: currents[k].size for k in per},
    )
