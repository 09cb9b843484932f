"""Least-squares fits with uncertainties: straight line, single exponential, Boltzmann.

Each fit returns a :class:`FitResult` holding the best values, their standard errors
(square roots of the covariance diagonal, scaled by the residual variance: the usual
``curve_fit(absolute_sigma=False)`` convention) and R^2.  Non-linear fits start from a
coarse grid over the non-linear parameters with the linear ones solved exactly (variable
projection), so they do not depend on lucky start values, and are then polished with
:func:`scipy.optimize.curve_fit` using analytic Jacobians.  Units pass through: ``tau``
comes out in the unit of ``t``, ``v_half`` and ``k`` in mV, ``q_max`` in the unit of ``q``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit, minimize_scalar
from scipy.special import expit

from signal_core.errors import SignalCoreError
from signal_core.values import finite_or_none

__all__ = [
    "FARADAY_C_PER_MOL",
    "GAS_CONSTANT_J_PER_MOL_K",
    "MODELS",
    "FitError",
    "FitResult",
    "exp_profile",
    "fit_boltzmann",
    "fit_exponential",
    "fit_line",
    "rt_over_f_mV",
    "valence_from_k",
    "valence_se",
]

GAS_CONSTANT_J_PER_MOL_K = 8.314462618
FARADAY_C_PER_MOL = 96485.33212
_ZERO_CELSIUS_K = 273.15
_GRID_POINTS = 1000  # at most this many samples for the bracketing grid of an exponential
_GRID_TAUS = 40  # decay times on that grid, log-spaced


class FitError(SignalCoreError):
    """A fit cannot be made or did not converge (message says why)."""


def _line_model(x, slope, intercept):
    return slope * x + intercept


def _exp_model(t, amplitude, tau, offset):
    with np.errstate(over="ignore"):
        return offset + amplitude * np.exp(-t / tau)


def _boltzmann_model(v, q_max, v_half, k, offset=0.0):
    return offset + q_max * expit((v - v_half) / k)


MODELS: dict[str, tuple[tuple[str, ...], Callable[..., np.ndarray]]] = {
    "line": (("slope", "intercept"), _line_model),
    "exponential": (("amplitude", "tau", "offset"), _exp_model),
    "boltzmann": (("q_max", "v_half", "k"), _boltzmann_model),
}


@dataclass(frozen=True)
class FitResult:
    """Outcome of a fit.

    Attributes
    ----------
    model : {"line", "exponential", "boltzmann"}
    params : dict of str to float
        Best values (units of the data, see the fit function).
    stderr : dict of str to float
        Standard errors, nan when not estimable (as many points as parameters).
    r_squared : float
        1 - SS_res / SS_tot; nan when the data are constant.
    n_points : int
        Number of points fitted.
    """

    model: str
    params: dict[str, float]
    stderr: dict[str, float]
    r_squared: float
    n_points: int

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise FitError(f"unknown model {self.model!r}; use one of {', '.join(MODELS)}")

    def predict(self, x) -> np.ndarray:
        """Model values at ``x`` (same unit as the fitted x: s/ms for exponential, mV for Boltzmann)."""
        _, func = MODELS[self.model]
        return np.asarray(func(np.asarray(x, dtype=np.float64), **self.params), dtype=np.float64)

    def to_dict(self) -> dict:
        """JSON-friendly dict (non-finite numbers become None)."""
        return {
            "model": self.model,
            "params": {k: finite_or_none(v) for k, v in self.params.items()},
            "stderr": {k: finite_or_none(v) for k, v in self.stderr.items()},
            "r_squared": finite_or_none(self.r_squared),
            "n_points": int(self.n_points),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FitResult:
        """Inverse of :meth:`to_dict` (None becomes nan)."""
        try:

            def num(v):
                return math.nan if v is None else float(v)

            return cls(
                model=str(d["model"]),
                params={k: num(v) for k, v in d["params"].items()},
                stderr={k: num(v) for k, v in d["stderr"].items()},
                r_squared=num(d["r_squared"]),
                n_points=int(d["n_points"]),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FitError(f"not a fit result: {exc}") from None


# --- shared helpers ---------------------------------------------------------------------
def _xy(x, y, n_min: int, what: str, x_name: str) -> tuple[np.ndarray, np.ndarray]:
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 1 or ya.ndim != 1 or xa.shape != ya.shape:
        raise FitError(
            f"{what}: {x_name} and the data must be 1-D arrays of the same length, got {xa.shape} and {ya.shape}"
        )
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya))):
        raise FitError(f"{what}: the data contain NaN or infinite values")
    n_distinct = np.unique(xa).size
    if n_distinct < n_min:
        raise FitError(f"{what} needs at least {n_min} points at different {x_name} values, got {n_distinct}")
    return xa, ya


def _result(
    model: str,
    names: tuple[str, ...],
    p: np.ndarray,
    jac: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    func: Callable[..., np.ndarray],
) -> FitResult:
    """FitResult with covariance s^2 (J^T J)^-1, s^2 = SS_res / (n - p)."""
    n, n_par = y.size, len(names)
    resid = y - func(x, *p)
    ss_res = float(resid @ resid)
    dev = y - y.mean()
    ss_tot = float(dev @ dev)
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else math.nan
    se = np.full(n_par, math.nan)
    if n > n_par and np.all(np.isfinite(jac)):
        scale = np.linalg.norm(jac, axis=0)
        if np.all(scale > 0):
            js = jac / scale
            w, vecs = np.linalg.eigh(js.T @ js)  # p x p: cheap even for 10^5 points
            if w[0] > w[-1] * 1e-13:
                cov = (vecs / w) @ vecs.T / np.outer(scale, scale) * (ss_res / (n - n_par))
                se = np.sqrt(np.abs(np.diag(cov)))
    return FitResult(
        model=model,
        params={k: float(v) for k, v in zip(names, p, strict=True)},
        stderr={k: float(v) for k, v in zip(names, se, strict=True)},
        r_squared=float(r2),
        n_points=int(n),
    )


def _curve_fit(func, jac, x, y, p0, bounds, what: str) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            p, _ = curve_fit(
                func, x, y, p0=p0, jac=jac, bounds=bounds, method="trf", x_scale="jac", max_nfev=2000
            )
    except RuntimeError as exc:
        raise FitError(f"{what} did not converge: {exc}") from None
    except ValueError as exc:
        raise FitError(f"{what} failed: {exc}") from None
    if not np.all(np.isfinite(p)):
        raise FitError(f"{what} did not converge (non-finite parameters)")
    return p


# --- line -------------------------------------------------------------------------------
def fit_line(x, y) -> FitResult:
    """Least-squares straight line ``y = slope * x + intercept``.

    Parameters
    ----------
    x, y : array_like
        1-D data of equal length, at least 2 distinct x (3 for standard errors).

    Returns
    -------
    FitResult
        params "slope" (y unit per x unit) and "intercept" (y unit).
    """
    x, y = _xy(x, y, 2, "a line fit", "x")
    jac = np.column_stack([x, np.ones_like(x)])
    p, *_ = np.linalg.lstsq(jac, y, rcond=None)
    return _result("line", MODELS["line"][0], p, jac, x, y, _line_model)


# --- exponential ------------------------------------------------------------------------
def _exp_jac(t, amplitude, tau, offset):
    e = np.exp(-t / tau)
    return np.column_stack([e, amplitude * t / tau**2 * e, np.ones_like(t)])


def _exp_linear(s: np.ndarray, y: np.ndarray, taus: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each tau, the exact (amplitude at s=0, offset) and the residual sum of squares."""
    e = np.exp(-s[None, :] / taus[:, None])
    ec = e - e.mean(axis=1, keepdims=True)
    yc = y - y.mean()
    see = np.einsum("ij,ij->i", ec, ec)
    sey = ec @ yc
    ok = see > 1e-300
    amp = np.where(ok, sey / np.where(ok, see, 1.0), 0.0)
    offset = y.mean() - amp * e.mean(axis=1)
    ssr = yc @ yc - np.where(ok, sey * amp, 0.0)
    return amp, offset, ssr


def exp_profile(t: np.ndarray, y: np.ndarray, taus: np.ndarray) -> np.ndarray:
    """Residual sum of squares of the best ``offset + amplitude * exp(-t / tau)`` for each tau of ``taus``.

    Parameters
    ----------
    t : ndarray
        Times (any unit; ``taus`` in the same unit).
    y : ndarray
        Data (e.g. pA).
    taus : ndarray
        Decay times to try.

    Returns
    -------
    ndarray
        For each tau, the residual sum of squares (unit of y squared) with amplitude and offset solved
        exactly: the profile of the exponential fit over tau, whose minimum is the least-squares tau.
    """
    return _exp_linear(np.asarray(t, dtype=np.float64), np.asarray(y, dtype=np.float64),
                       np.asarray(taus, dtype=np.float64))[2]


def _exp_profile_fit(s: np.ndarray, y: np.ndarray, dt_min: float, tau_lo: float, tau_hi: float
                     ) -> tuple[float, float, float]:
    """Least squares of ``offset + amplitude * exp(-s / tau)`` by variable projection: (amplitude, tau, offset).

    For a given tau the amplitude and offset are linear and solved exactly, so the fit is a
    search in one dimension, log(tau): the best of a coarse grid on a subsample brackets the
    minimum, which Brent's method then finds on every point.  At the minimum of this profile
    the gradient of the full problem vanishes too: it is the same optimum a three-parameter
    solver reaches, found with about 30 evaluations of one exponential instead of an
    iterative solver's Jacobians and decompositions.  A best grid point at either end of the
    grid opens the bracket to ``tau_lo`` or ``tau_hi``, so a decay faster than the sampling or
    no decay at all still ends at those bounds.
    """
    # in units of the data's range around its mean: a transient of 1e-297 pA neither underflows nor overflows
    level, scale = float(y.mean()), float(np.ptp(y))
    y = (y - level) / scale
    sub = np.unique(np.linspace(0, s.size - 1, min(s.size, _GRID_POINTS)).astype(int))
    grid = np.geomspace(max(dt_min / 4, s[-1] * 1e-4), s[-1] * 20, _GRID_TAUS)
    i = int(np.argmin(_exp_linear(s[sub], y[sub], grid)[2]))
    lo = math.log(grid[i - 1]) if i > 0 else math.log(tau_lo)
    hi = math.log(grid[i + 1]) if i < grid.size - 1 else math.log(tau_hi)
    y_mean = float(y.mean())
    yc = y - y_mean

    def ssr(log_tau: float) -> float:
        e = np.exp(s * -math.exp(-log_tau))
        e_mean = float(e.mean())
        ec = e - e_mean
        see = float(ec @ ec)
        amp = float(ec @ yc) / see if see > 1e-300 else 0.0
        r = yc - amp * ec
        return float(r @ r)

    log_lo, log_hi, step = math.log(tau_lo), math.log(tau_hi), math.log(grid[1] / grid[0])
    for _ in range(_GRID_TAUS):
        x = float(minimize_scalar(ssr, bounds=(lo, hi), method="bounded",
                                  options={"xatol": 1e-9, "maxiter": 200}).x)
        # the subsample's bracket may miss the full data's minimum by a little: follow it outwards
        if x - lo < 1e-6 and lo > log_lo:
            lo = max(log_lo, lo - 2 * step)
        elif hi - x < 1e-6 and hi < log_hi:
            hi = min(log_hi, hi + 2 * step)
        else:
            break
    if not math.isfinite(x):
        raise FitError("an exponential fit did not converge (non-finite decay time)")
    tau = math.exp(x)
    e = np.exp(s * (-1.0 / tau))
    ec = e - e.mean()
    see = float(ec @ ec)
    amp = float(ec @ yc) / see if see > 1e-300 else 0.0
    p = np.array([amp, tau, y_mean - amp * float(e.mean())])
    # Brent stops at ~1e-8 in log(tau); Gauss-Newton steps on all three parameters take the
    # optimum to machine precision (a step is kept unless it raises the residual beyond rounding)
    r = y - _exp_model(s, *p)
    best = float(r @ r)
    for _ in range(4):
        jac = _exp_jac(s, *p)
        a = jac.T @ jac
        d = np.sqrt(np.diag(a))
        if not np.all(d > 0):
            break
        try:  # normal equations, scaled: the residual is exact, so the step's precision only sets the pace
            step = np.linalg.solve(a / np.outer(d, d), (jac.T @ r) / d) / d
        except np.linalg.LinAlgError:
            break
        trial = p + step
        if not (np.all(np.isfinite(trial)) and tau_lo < trial[1] < tau_hi):
            break
        r_trial = y - _exp_model(s, *trial)
        ss_trial = float(r_trial @ r_trial)
        if ss_trial > best * (1.0 + 1e-13):  # worse beyond rounding: keep what we have
            break
        p, r, best = trial, r_trial, min(best, ss_trial)
        if np.all(np.abs(step) <= 1e-12 * np.maximum(np.abs(p), 1e-300)):
            break
    return float(p[0]) * scale, float(p[1]), float(p[2]) * scale + level


def fit_exponential(t, y, *, tau0: float | None = None) -> FitResult:
    """Single exponential ``y = offset + amplitude * exp(-t / tau)``.

    Works for transients decaying up or down (either sign of amplitude).  Start values come
    from a grid of tau over the data's time span, with amplitude and offset solved exactly
    for each tau, refined on a subsample and polished on all points (10^5 points take a
    few ms).

    Parameters
    ----------
    t : array_like
        Times, any unit (s, ms); ``amplitude`` is the value extrapolated to ``t = 0``, so
        pass times measured from the edge to get the current at the edge.
    y : array_like
        Data (e.g. pA).
    tau0 : float, optional
        Start value for tau (unit of ``t``), replacing the grid.

    Returns
    -------
    FitResult
        params "amplitude" (unit of y), "tau" (unit of t), "offset" (unit of y).

    Raises
    ------
    FitError
        Fewer than 3 distinct times, non-finite or flat data, no convergence, or a decay
        time running off to 0 or to far beyond the time span (no exponential in the data).
    """
    what = "an exponential fit"
    t, y = _xy(t, y, 3, what, "time")
    if np.ptp(y) == 0:
        raise FitError(f"{what}: the data are flat, there is no transient to fit")
    if np.any(np.diff(t) < 0):
        order = np.argsort(t, kind="stable")
        t, y = t[order], y[order]
    t0 = t[0]
    s = t - t0
    span = s[-1]
    steps = np.diff(s)
    dt_min = float(np.min(steps[steps > 0]))
    tau_lo, tau_hi = dt_min / 50.0, span * 1e3
    if tau0 is not None:
        if not (math.isfinite(tau0) and tau0 > 0):
            raise FitError(f"tau0 must be a positive number, got {tau0!r}")
        tau_start = min(max(float(tau0), tau_lo * 2), tau_hi / 2)
        amp_s, offset, _ = _exp_linear(s, y, np.array([tau_start]))
        p0 = [float(amp_s[0]), tau_start, float(offset[0])]
        amp_s, tau, offset = _curve_fit(
            _exp_model, _exp_jac, s, y, p0, ([-np.inf, tau_lo, -np.inf], [np.inf, tau_hi, np.inf]), what
        )
    else:
        amp_s, tau, offset = _exp_profile_fit(s, y, dt_min, tau_lo, tau_hi)
    if tau >= tau_hi * 0.999:
        raise FitError(
            f"{what}: no decay found, the decay time runs off beyond 1000x the {span:g}-long window "
            "(the data look like a straight line)"
        )
    if tau <= tau_lo * 1.001:
        raise FitError(f"{what}: the decay is faster than the sampling ({tau:g} < sample spacing {dt_min:g})")
    # math.exp overflows (an OverflowError, not inf) above 709.78: beyond 700 the amplitude is out of range anyway
    amplitude = amp_s * math.exp(t0 / tau) if t0 / tau <= 700.0 else math.inf
    if not math.isfinite(amplitude):
        raise FitError(
            f"{what}: the amplitude at t = 0 is out of range; measure times from the edge (t0 = {t0:g})"
        )
    p = np.array([amplitude, tau, offset])
    return _result("exponential", MODELS["exponential"][0], p, _exp_jac(t, *p), t, y, _exp_model)


# --- Boltzmann --------------------------------------------------------------------------
def _boltzmann_jac(v, q_max, v_half, k, offset=None):
    s = expit((v - v_half) / k)
    ds = q_max * s * (1.0 - s)
    cols = [s, -ds / k, -ds * (v - v_half) / k**2]
    if offset is not None:
        cols.append(np.ones_like(v))
    return np.column_stack(cols)


def fit_boltzmann(
    v_mV, q, *, with_offset: bool = False, v_half0: float | None = None, k0: float | None = None,
    sigma=None,
) -> FitResult:
    """Two-state Boltzmann ``Q(V) = q_max / (1 + exp(-(V - v_half) / k))`` [+ offset].

    ``k`` is kept positive, so ``q_max`` carries the direction: q_max > 0 for charge rising
    with V.  Start values come from a grid over v_half and k (q_max and offset solved
    exactly at each node), unless ``v_half0`` / ``k0`` are given.

    Parameters
    ----------
    v_mV : array_like
        Test voltages (mV).
    q : array_like
        Charges (pC, or nC/uF when normalised).
    with_offset : bool
        Fit a constant offset too (4 parameters).
    v_half0, k0 : float, optional
        Start values (mV).
    sigma : array_like, optional
        Standard error of each charge (unit of q, all positive): the fit then weights each point by
        1 / sigma^2, R^2 is that of the weighted data, and each parameter's standard error is the
        larger of the two usual estimates (from the sigmas as given, and scaled by the scatter
        about the fit), so that neither sigmas that are too small nor a lucky scatter make it small.

    Returns
    -------
    FitResult
        params "q_max" (unit of q), "v_half" (mV), "k" (mV) [and "offset" (unit of q)].
        :func:`valence_from_k` turns k into the effective valence.

    Raises
    ------
    FitError
        Fewer distinct voltages than parameters (3, or 4 with the offset), non-finite data,
        no convergence, or a step so abrupt that k is not determined by the voltages given.
    """
    what = "a Boltzmann fit" + (" with offset" if with_offset else "")
    n_par = 4 if with_offset else 3
    names = (*MODELS["boltzmann"][0], "offset") if with_offset else MODELS["boltzmann"][0]
    v, y = _xy(v_mV, q, n_par, what, "voltage")
    if sigma is not None:
        return _weighted_boltzmann(v, y, sigma, with_offset=with_offset, v_half0=v_half0, k0=k0)
    span = float(np.ptp(v))
    if v_half0 is not None and not math.isfinite(v_half0):
        raise FitError(f"v_half0 must be a finite number of mV, got {v_half0!r}")
    if k0 is not None and not (math.isfinite(k0) and k0 > 0):
        raise FitError(f"k0 must be a positive number of mV, got {k0!r}")
    vhs = (
        np.array([v_half0])
        if v_half0 is not None
        else np.linspace(v.min() - span / 2, v.max() + span / 2, 61)
    )
    ks = np.array([k0]) if k0 is not None else np.geomspace(span / 200, 2 * span, 40)
    vh_g, k_g = (a.ravel() for a in np.meshgrid(vhs, ks))
    b = expit((v[None, :] - vh_g[:, None]) / k_g[:, None])
    if with_offset:
        bc, yc = b - b.mean(axis=1, keepdims=True), y - y.mean()
    else:
        bc, yc = b, y
    sbb = np.einsum("ij,ij->i", bc, bc)
    sby = bc @ yc
    ok = sbb > 1e-300
    qm = np.where(ok, sby / np.where(ok, sbb, 1.0), 0.0)
    ssr = yc @ yc - np.where(ok, sby * qm, 0.0)
    i = int(np.argmin(ssr))
    p0 = [qm[i], vh_g[i], k_g[i]]
    if with_offset:
        p0.append(float(y.mean() - qm[i] * b[i].mean()))
    k_lo = span * 1e-4
    lower = [-np.inf, -np.inf, k_lo] + ([-np.inf] if with_offset else [])
    upper = [np.inf] * n_par
    p = _curve_fit(_boltzmann_model, _boltzmann_jac, v, y, p0, (lower, upper), what)
    # every voltage on a plateau (within 1 %): the data say "a step somewhere between two voltages"
    if p[2] <= k_lo * 1.001 or np.min(np.abs(v - p[1])) / p[2] > math.log(99.0):
        raise FitError(
            f"{what}: the charge jumps between two neighbouring voltages, so the slope factor k is "
            "not determined; add voltages around V_half"
        )
    return _result("boltzmann", names, p, _boltzmann_jac(v, *p), v, y, _boltzmann_model)


def _weighted_boltzmann(v: np.ndarray, y: np.ndarray, sigma, *, with_offset: bool, v_half0: float | None,
                        k0: float | None) -> FitResult:
    """:func:`fit_boltzmann` with each point weighted by 1 / sigma^2 (see its ``sigma``)."""
    what = "a weighted Boltzmann fit"
    s = np.asarray(sigma, dtype=np.float64)
    if s.shape != y.shape or not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise FitError(f"{what}: the standard errors must be positive numbers, one per point")
    s = s / np.median(s)  # only relative weights steer the fit; the scale returns in the errors below
    first = fit_boltzmann(v, y, with_offset=with_offset, v_half0=v_half0, k0=k0)  # start values
    names = tuple(first.params)
    n_par = len(names)

    def model(x, *p):
        return _boltzmann_model(x, *p) / s

    def jac(x, *p):
        return _boltzmann_jac(x, *p) / s[:, None]

    span = float(np.ptp(v))
    lower = [-np.inf, -np.inf, span * 1e-4] + ([-np.inf] if with_offset else [])
    p = _curve_fit(model, jac, v, y / s, [first.params[k] for k in names], (lower, [np.inf] * n_par), what)
    res = _result("boltzmann", names, p, jac(v, *p), v, y / s, model)
    scaled = np.array([res.stderr[k] for k in names])
    ss_w = float(np.sum((y / s - model(v, *p)) ** 2))
    dof = v.size - n_par
    # _result scales by ss/dof on the relative weights; the given sigmas set the other estimate
    s_med = float(np.median(np.asarray(sigma, dtype=np.float64)))
    absolute = scaled / math.sqrt(ss_w / dof) * s_med if dof > 0 and ss_w > 0 else np.full(n_par, math.nan)
    se = np.fmax(scaled, absolute)
    return FitResult(model="boltzmann", params=res.params,
                     stderr={k: float(e) for k, e in zip(names, se, strict=True)},
                     r_squared=res.r_squared, n_points=res.n_points)


# --- valence ----------------------------------------------------------------------------
def rt_over_f_mV(temperature_C: float = 22.0) -> float:
    """Thermal voltage RT/F (mV) at ``temperature_C`` (deg C); 25.43 mV at 22 C."""
    temp_k = _ZERO_CELSIUS_K + float(temperature_C)
    if not (math.isfinite(temp_k) and temp_k > 0):
        raise FitError(f"temperature must be above absolute zero, got {temperature_C!r} C")
    return GAS_CONSTANT_J_PER_MOL_K * temp_k / FARADAY_C_PER_MOL * 1000.0


def valence_from_k(k_mV: float, temperature_C: float = 22.0) -> float:
    """Effective valence z = (RT/F) / k of a two-state Boltzmann.

    Parameters
    ----------
    k_mV : float
        Slope factor (mV), non-zero.
    temperature_C : float
        Temperature (deg C).

    Returns
    -------
    float
        z (elementary charges, dimensionless), with the sign of k.
    """
    k = float(k_mV)
    if not math.isfinite(k) or k == 0:
        raise FitError(f"slope factor k must be a finite, non-zero number of mV, got {k_mV!r}")
    return rt_over_f_mV(temperature_C) / k


def valence_se(k_mV: float, k_se_mV: float, temperature_C: float = 22.0) -> float:
    """Standard error of z = (RT/F)/k propagated from that of k: (RT/F) * se_k / k^2 (nan stays nan)."""
    z = valence_from_k(k_mV, temperature_C)
    return abs(z) * abs(float(k_se_mV)) / abs(float(k_mV))
