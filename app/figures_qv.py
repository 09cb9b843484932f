"""The Q–V figure of the Sets page: points per set, excluded points hollow and grey, one Boltzmann per set.

A pure function of :class:`signal_core.sets.QvPoint` and fits (no Streamlit). Text from files
(names, set ids) reaches Plotly HTML-escaped, so a name like ``<b>x</b>`` shows as typed.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from signal_core.qv import QvFit
from signal_core.sets import QUANTITIES, QvPoint

__all__ = ["EXCLUDED_COLOR", "QUANTITY_LABELS", "SET_COLORS", "qv_figure", "set_label", "set_values"]

#: one colour per set, in order of first appearance (colour-blind friendly, Okabe–Ito)
SET_COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
EXCLUDED_COLOR = "#9e9e9e"
#: quantity key (signal_core.sets.QUANTITIES) -> (axis / column label, unit)
QUANTITY_LABELS = {
    "q_on_pC": ("Q_on", "pC"),
    "minus_q_off_pC": ("−Q_off", "pC"),
    "q_on_per_c_m": ("Q_on/C_m", "nC/µF"),
}


def set_label(set_id: str) -> str:
    """How a set is named on the page: its id, or "(unnamed)" for files whose names carry none."""
    return set_id if set_id else "(unnamed)"


def set_values(points: Sequence[QvPoint], quantity: str) -> list[tuple[QvPoint, float, float]]:
    """(point, V2 mV, value) of the points with a finite V2 and value of ``quantity`` (what a fit can use)."""
    attr, sign = QUANTITIES[quantity]
    out = []
    for p in points:
        value = getattr(p, attr)
        if p.v_test_mV is None or value is None or not (np.isfinite(p.v_test_mV) and np.isfinite(value)):
            continue
        out.append((p, float(p.v_test_mV), sign * float(value)))
    return out


def _text(s: object) -> str:
    return html.escape(str(s), quote=False)


def _boltzmann(v: np.ndarray, fit: QvFit) -> np.ndarray:
    from scipy.special import expit

    return (fit.offset_pC or 0.0) + fit.q_max_pC * expit((v - fit.v_half_mV) / fit.k_mV)


def qv_figure(
    points: Sequence[QvPoint],
    fits: Mapping[str, QvFit | str],
    *,
    quantity: str = "q_on_pC",
    names: Mapping[str, str] | None = None,
    height: int = 480,
) -> go.Figure:
    """Q against V2, one colour per set.

    Traces per set (in order of first appearance): ``"set <id>"`` (the points used, filled),
    ``"set <id>: excluded"`` (hollow grey, only when some are excluded) and
    ``"set <id>: Boltzmann fit"`` (the fitted curve, only when the fit succeeded; a dotted
    line marks V_half). ``names`` maps a point's ``file`` to the name to show on hover.
    """
    label, unit = QUANTITY_LABELS[quantity]
    names = names or {}
    groups: dict[str, list[tuple[QvPoint, float, float]]] = {}
    for item in set_values(points, quantity):
        groups.setdefault(item[0].set_id, []).append(item)
    for s in fits:
        groups.setdefault(s, [])
    all_v = [v for items in groups.values() for _, v, _ in items]
    v_lo, v_hi = (min(all_v), max(all_v)) if all_v else (-100.0, 50.0)
    pad = max(5.0, 0.08 * (v_hi - v_lo))
    v_curve = np.linspace(v_lo - pad, v_hi + pad, 241)
    fig = go.Figure()
    hover = (f"%{{customdata[0]}}<br>sweep %{{customdata[1]}} · V2 from %{{customdata[2]}}"
             f"<br>V2 %{{x:.1f}} mV<br>{label} %{{y:.4g}} {unit}<extra>%{{fullData.name}}</extra>")
    for k, (set_id, items) in enumerate(groups.items()):
        color = SET_COLORS[k % len(SET_COLORS)]
        name = f"set {_text(set_label(set_id))}"
        used = [it for it in items if not it[0].excluded]
        dropped = [it for it in items if it[0].excluded]
        for subset, suffix, marker in (
            (used, "", {"color": color, "size": 9, "symbol": "circle", "line": {"color": "white", "width": 1}}),
            (dropped, ": excluded", {"color": EXCLUDED_COLOR, "size": 9, "symbol": "circle-open",
                                     "line": {"color": EXCLUDED_COLOR, "width": 1.6}}),
        ):
            if not subset and suffix:
                continue
            fig.add_trace(go.Scatter(
                x=[v for _, v, _ in subset], y=[y for _, _, y in subset], mode="markers", name=name + suffix,
                legendgroup=set_id, marker=marker, hovertemplate=hover,
                customdata=[[_text(names.get(p.file, p.file)), p.sweep, p.v_source] for p, _, _ in subset],
            ))
        fit = fits.get(set_id)
        if isinstance(fit, QvFit):
            fig.add_trace(go.Scatter(
                x=v_curve, y=_boltzmann(v_curve, fit), mode="lines", name=f"{name}: Boltzmann fit",
                legendgroup=set_id, line={"color": color, "width": 2},
                hovertemplate=(f"V_half {fit.v_half_mV:.1f} mV · k {fit.k_mV:.2f} mV · "
                               f"Q_max {fit.q_max_pC:.3g} {unit}<extra>%{{fullData.name}}</extra>"),
            ))
            fig.add_vline(x=fit.v_half_mV, line={"color": color, "width": 1, "dash": "dot"}, opacity=0.7)
            fig.add_annotation(x=fit.v_half_mV, y=1 - 0.07 * k, yref="paper", xanchor="left", yanchor="top",
                               xshift=4, showarrow=False, font={"color": color, "size": 12},
                               bgcolor="rgba(255,255,255,0.6)",
                               text=f"V_half {fit.v_half_mV:.1f} mV".replace("-", "−"))
    fig.add_hline(y=0, line={"color": "#bdbdbd", "width": 1})
    fig.update_layout(
        height=height,
        margin={"l": 70, "r": 20, "t": 20, "b": 40},
        # below the plot, clear of the x axis title: it never hides a point
        legend={"orientation": "h", "yanchor": "top", "y": -72 / max(height - 60, 100), "xanchor": "left", "x": 0},
        hovermode="closest",
        uirevision="qv",
        xaxis={"title": {"text": "test potential V2 (mV)"}, "zeroline": False, "showgrid": True},
        yaxis={"title": {"text": f"{label} ({unit})"}, "zeroline": False, "showgrid": True},
        plot_bgcolor="white",
    )
    fig.update_xaxes(gridcolor="#eeeeee", linecolor="#9e9e9e", showline=True, ticks="outside")
    fig.update_yaxes(gridcolor="#eeeeee", linecolor="#9e9e9e", showline=True, ticks="outside")
    return fig
