"""Charge-voltage relation of a set: a two-state Boltzmann fit of Q_on against V_test (DOMAIN.md section 12).

The fit says when it should not be trusted: :func:`fit_warnings` lists a parameter known no
better than :data:`MAX_REL_SE`, fewer than :data:`MIN_SPARE_POINTS` points beyond the number of
parameters, and a set most of whose points carry warnings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from signal_core.fitting import fit_boltzmann, valence_from_k, valence_se
from signal_core.values import finite_or_none

__all__ = ["MAX_REL_SE", "MIN_SPARE_POINTS", "QvFit", "fit_qv", "fit_warnings"]

#: a parameter whose standard error exceeds this fraction of its value (of k, for V_half) is flagged
MAX_REL_SE = 0.25
#: a fit with fewer points than parameters plus this is flagged: its errors rest on almost no scatter
MIN_SPARE_POINTS = 2


@dataclass(frozen=True)
class QvFit:
    """A Boltzmann fit of Q_on against V_test: pC, mV; z dimensionless; *_se standard errors.

    ``Q(V) = Q_max / (1 + exp(-(V - V_half) / k))`` (+ ``offset_pC`` when fitted with one);
    ``z = (RT/F) / k``; ``r_squared`` of the fit over ``n_points`` points; ``warnings`` in words.

    Examples
    --------
    >>> import signal_core as sc
    >>> fit = sc.fit_qv([-60.0, -40.0, -20.0, 0.0, 20.0], [1.0, 8.0, 16.0, 19.0, 19.8])
    >>> fit.n_points, fit.to_dict()["n_points"], fit.offset_pC is None
    (5, 5, True)
    """

    q_max_pC: float
    v_half_mV: float
    k_mV: float
    z: float
    q_max_pC_se: float
    v_half_mV_se: float
    k_mV_se: float
    z_se: float
    r_squared: float
    n_points: int
    offset_pC: float | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = {k: finite_or_none(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}
        out["warnings"] = list(self.warnings)
        return out

    def with_warnings(self, extra: Sequence[str]) -> QvFit:
        """A copy with more warnings appended."""
        return replace(self, warnings=(*self.warnings, *extra))


def fit_warnings(fit: QvFit, *, n_flagged: int = 0, n_total: int | None = None) -> tuple[str, ...]:
    """Plain-language warnings about a fit (empty when there is nothing to say).

    Parameters
    ----------
    fit : QvFit
    n_flagged, n_total : int
        Points of the set that carry a warning flag, and all its points (those excluded by
        hand left out); most points flagged is a warning.
    """
    out: list[str] = []
    n_par = 3 + (fit.offset_pC is not None)
    if fit.n_points < n_par + MIN_SPARE_POINTS:
        out.append(f"only {fit.n_points} points for {n_par} parameters: at least {n_par + MIN_SPARE_POINTS} are "
                   "needed for the standard errors to mean something")
    for label, value, se, ref in (("Q_max", fit.q_max_pC, fit.q_max_pC_se, abs(fit.q_max_pC)),
                                  ("V_half", fit.v_half_mV, fit.v_half_mV_se, abs(fit.k_mV)),
                                  ("k", fit.k_mV, fit.k_mV_se, abs(fit.k_mV))):
        if not math.isfinite(se):
            out.append(f"the standard error of {label} cannot be estimated")
        elif se > MAX_REL_SE * ref:
            what = "of k" if label == "V_half" else "of its value"
            out.append(f"{label} = {value:.3g} +- {se:.2g}: the error is over {MAX_REL_SE * 100:.0f} % {what}")
    total = fit.n_points if n_total is None else n_total
    if total and n_flagged * 2 > total:
        out.append(f"{n_flagged} of {total} points carry warnings: check their flags, or fit without them")
    return tuple(out)


def fit_qv(
    v_test_mV: Sequence[float], q_on_pC: Sequence[float], *, with_offset: bool = False, temperature_C: float = 22.0,
    q_se_pC: Sequence[float] | None = None,
) -> QvFit:
    """Fit the two-state Boltzmann to a set's Q_on(V_test); raises FitError when it cannot.

    With ``q_se_pC`` (the standard error of each charge) the points are weighted by 1 / SE^2
    (:func:`signal_core.fitting.fit_boltzmann`'s ``sigma``). The result carries :func:`fit_warnings`
    about itself (not about flagged points: :func:`signal_core.sets.fit_points` adds those).

    Parameters
    ----------
    v_test_mV : sequence of float
        Test potentials V2 (mV).
    q_on_pC : sequence of float
        The charge at each (pC; any one unit works, Q_max comes out in it).
    with_offset : bool
        Fit a constant offset too.
    temperature_C : float
        For the effective valence z = (RT/F)/k (deg C).
    q_se_pC : sequence of float, optional
        Standard error of each charge (pC), to weight the points.

    Returns
    -------
    QvFit
        Q_max (pC), V_half and k (mV), z, their standard errors, R^2.

    Examples
    --------
    Charges computed from a Boltzmann with Q_max 20 pC, V_half -34 mV and k 8.7 mV give those back:

    >>> import math
    >>> import signal_core as sc
    >>> v = [-80.0, -60.0, -40.0, -30.0, -20.0, 0.0, 20.0]
    >>> q = [20.0 / (1.0 + math.exp(-(x + 34.0) / 8.7)) for x in v]
    >>> fit = sc.fit_qv(v, q)
    >>> round(fit.q_max_pC, 6), round(fit.v_half_mV, 6), round(fit.k_mV, 6)
    (20.0, -34.0, 8.7)
    >>> round(fit.z, 2)   # RT/F at 22 deg C is 25.44 mV
    2.92
    """
    fit = fit_boltzmann(v_test_mV, q_on_pC, with_offset=with_offset, sigma=q_se_pC)
    p, se = fit.params, fit.stderr
    out = QvFit(
        q_max_pC=p["q_max"], v_half_mV=p["v_half"], k_mV=p["k"],
        z=valence_from_k(p["k"], temperature_C),
        q_max_pC_se=se["q_max"], v_half_mV_se=se["v_half"], k_mV_se=se["k"],
        z_se=valence_se(p["k"], se["k"], temperature_C),
        r_squared=fit.r_squared, n_points=fit.n_points,
        offset_pC=p.get("offset") if with_offset else None,
    )
    return out.with_warnings(fit_warnings(out))

