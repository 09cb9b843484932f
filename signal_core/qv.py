"""Charge-voltage relation of a set: a two-state Boltzmann fit of Q_on against V_test (DOMAIN.md section 12)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from signal_core.fitting import fit_boltzmann, valence_from_k, valence_se

__all__ = ["QvFit", "fit_qv"]


def _finite_or_none(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass(frozen=True)
class QvFit:
    """A Boltzmann fit of Q_on against V_test: pC, mV; z dimensionless; *_se standard errors."""

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

    def to_dict(self) -> dict:
        return {k: _finite_or_none(v) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def fit_qv(
    v_test_mV: Sequence[float], q_on_pC: Sequence[float], *, with_offset: bool = False, temperature_C: float = 22.0
) -> QvFit:
    """Fit the two-state Boltzmann to a set's Q_on(V_test); raises FitError when it cannot."""
    fit = fit_boltzmann(v_test_mV, q_on_pC, with_offset=with_offset)
    p, se = fit.params, fit.stderr
    return QvFit(
        q_max_pC=p["q_max"], v_half_mV=p["v_half"], k_mV=p["k"],
        z=valence_from_k(p["k"], temperature_C),
        q_max_pC_se=se["q_max"], v_half_mV_se=se["v_half"], k_mV_se=se["k"],
        z_se=valence_se(p["k"], se["k"], temperature_C),
        r_squared=fit.r_squared, n_points=fit.n_points,
        offset_pC=p.get("offset") if with_offset else None,
    )

