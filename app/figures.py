"""Plotly figures of recordings and analyses: pure functions of arrays and results, no Streamlit.

Colours and legend names follow the lab's vocabulary (DOMAIN.md section 4): raw (grey),
filtered (red), decimated (orange), control response per mV (dark blue per step, magenta
averaged), asymmetric current ON/OFF (purple).  Every legend says the colour and the
meaning; every axis says its unit.  Each trace is downsampled to at most ``n_out`` points.

Traces are SVG (``go.Scatter``), not WebGL (``go.Scattergl``): with 5000 points per trace SVG draws
as fast, a box selection on it is answered at once, and a page opens no WebGL context per figure.
In Chromium without a GPU (software WebGL) the WebGL traces made a box-zoom on Explore take 5-8 s
from the drag to the zoomed plot; with SVG it takes under 1 s (``bench/bench_app.py``).  SVG also
makes the toolbar's SVG download a true vector figure (:func:`chart_config`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from signal_core.filters.chain import decimate, decimated_time
from signal_core.filters.kind_rules import FilterError

from .downsample import MAX_POINTS, downsample, window

__all__ = [
    "COLORS",
    "FIGURE_FORMATS",
    "chart_config",
    "control_figure",
    "interference_peak_hz",
    "purple_figure",
    "spectrum_figure",
    "trace_figure",
    "transient_figure",
]

COLORS = {
    "raw": "#9e9e9e",
    "filtered": "#d62728",
    "orange": "#f57c00",
    "dark_blue": "#1a237e",
    "magenta": "#d4008f",
    "purple": "#7b1fa2",
    "purple_light": "#ce93d8",
    "voltage": "#37474f",
    "fit": "#000000",
}
_BAND = {  # (ON epoch, OFF epoch) fills
    "control": ("rgba(26, 35, 126, 0.10)", "rgba(26, 35, 126, 0.04)"),
    "test": ("rgba(123, 31, 162, 0.14)", "rgba(123, 31, 162, 0.05)"),
}
_INTEGRATION_FILL = "rgba(123, 31, 162, 0.13)"
#: the overlaid sweeps on Explore: light, thin, one colour; their average on top, black
_OVERLAY = "rgba(96, 125, 139, 0.45)"
_AVERAGE = "#000000"

#: formats the figure toolbar's camera button can save (Plotly draws the image in the browser)
FIGURE_FORMATS = ("svg", "png")
#: publication size of a saved figure: 1050 x 600 CSS px; PNG at scale 2 is 2100 x 1200 px,
#: 7 x 4 inches at 300 dpi (a journal's 2-column width); SVG is vector and scales freely
PUBLICATION_PX = (1050, 600)
PNG_SCALE = 2


def chart_config(filename: str, fmt: str = "svg") -> dict:
    """Plotly's ``config`` for ``st.plotly_chart``: the camera button saves ``filename`` as SVG or PNG.

    Parameters
    ----------
    filename : str
        File name without extension (made safe for a file system here).
    fmt : {"svg", "png"}
        What the camera button saves, at :data:`PUBLICATION_PX` (PNG at :data:`PNG_SCALE`).
    """
    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"figure format must be one of {FIGURE_FORMATS}, got {fmt!r}")
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(filename))[:120] or "figure"
    width, height = PUBLICATION_PX
    return {
        "displaylogo": False,
        "toImageButtonOptions": {"format": fmt, "filename": safe, "width": width, "height": height,
                                 "scale": PNG_SCALE if fmt == "png" else 1},
    }
_TAIL_FILL = "rgba(0, 0, 0, 0.08)"


def _layout(fig: go.Figure, *, height: int, selectable: bool, title: str | None = None,
            top: int = 30) -> go.Figure:
    """Common layout: legend below the plot (it never hides curves or epoch labels), x hover."""
    t = top + (30 if title else 0)
    fig.update_layout(
        height=height,
        margin={"l": 70, "r": 20, "t": t, "b": 40},
        # 72 px below the plot area: clear of the x axis title (the legend pushes the margin)
        legend={"orientation": "h", "yanchor": "top", "y": -72 / max(height - t - 40, 100), "xanchor": "left",
                "x": 0},
        hovermode="x",
        uirevision="keep",
        title={"text": title} if title else None,
    )
    if selectable:
        fig.update_layout(dragmode="select", selectdirection="h")
    return fig


def _line(x, y, name: str, color: str, n_out: int, *, width: float = 1.2, dash: str | None = None,
          visible: bool | str = True, legendgroup: str | None = None, showlegend: bool = True) -> go.Scatter:
    xs, ys = downsample(np.asarray(x), np.asarray(y), n_out)
    return go.Scatter(
        x=xs, y=ys, name=name, mode="lines", visible=visible, legendgroup=legendgroup, showlegend=showlegend,
        line={"color": color, "width": width, "dash": dash},
    )


def smooth(t: np.ndarray, y: np.ndarray, fs_hz: float, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """For display only: anti-alias low-pass and block means of ``factor`` samples (the orange recipe).

    Returns the curve unchanged when ``factor`` <= 1, the curve is too short, or not finite.
    """
    y = np.asarray(y, dtype=np.float64)
    if factor <= 1 or y.size < 4 * factor or not np.all(np.isfinite(y)):
        return np.asarray(t), y
    try:
        yd, _ = decimate(y, fs_hz, int(factor))
    except FilterError:
        return np.asarray(t), y
    return decimated_time(np.asarray(t, dtype=np.float64), int(factor)), yd


def _epoch_kind(role: str) -> str | None:
    if role.startswith("control"):
        return "control"
    if role.startswith("test"):
        return "test"
    return None


# Shapes and their labels are added as plain dicts in one ``update_layout`` per figure:
# ``add_vrect``/``add_hline`` look through every trace's data on each call (about 5 ms each),
# which made the epoch bands 80 % of the time to build a figure -- and the server's time under load.
def _refs(fig: go.Figure, row: int | None) -> tuple[str, str]:
    """("x2", "y2") for ``row`` of a figure made by ``make_subplots``; ("x", "y") otherwise."""
    if row is None:
        return "x", "y"
    sub = fig.get_subplot(row, 1)
    return sub.xaxis.plotly_name.replace("axis", ""), sub.yaxis.plotly_name.replace("axis", "")


def _vrect(fig: go.Figure, x0: float, x1: float, fill: str, row: int | None = None) -> dict:
    """What ``add_vrect(x0, x1, fillcolor=fill, line_width=0, layer="below", row=row)`` adds."""
    xref, yref = _refs(fig, row)
    return {"type": "rect", "x0": x0, "x1": x1, "xref": xref, "y0": 0, "y1": 1, "yref": f"{yref} domain",
            "fillcolor": fill, "line": {"width": 0}, "layer": "below"}


def _hline(fig: go.Figure, y: float, line: dict, row: int | None = None) -> dict:
    """What ``add_hline(y, line=line, row=row)`` adds."""
    xref, yref = _refs(fig, row)
    return {"type": "line", "x0": 0, "x1": 1, "xref": f"{xref} domain", "y0": y, "y1": y, "yref": yref,
            "line": line}


def _label(fig: go.Figure, x: float, y: float, text: str, row: int | None = None, **style) -> dict:
    """A text label at data ``x`` and a fraction ``y`` of the plot's height."""
    xref, yref = _refs(fig, row)
    return {"x": x, "y": y, "xref": xref, "yref": f"{yref} domain", "text": text, "showarrow": False, **style}


def _add_all(fig: go.Figure, shapes: Sequence[dict] = (), annotations: Sequence[dict] = ()) -> None:
    """Add shapes and annotations in one go (keeping those already there, e.g. subplot titles)."""
    fig.update_layout(shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *annotations])


def _add_epoch_bands(fig: go.Figure, epochs: Sequence, x_lo: float, x_hi: float, rows: int) -> None:
    span = max(x_hi - x_lo, 1e-9)
    shapes, labels = [], []
    for ep in epochs:
        kind = _epoch_kind(ep.role)
        a, b = max(ep.start_s * 1e3, x_lo), min(ep.end_s * 1e3, x_hi)
        if b <= a:
            continue
        if kind is not None:
            fill = _BAND[kind][0 if " ON" in ep.role else 1]
            shapes += [_vrect(fig, a, b, fill, row) for row in range(1, rows + 1)]
        if (b - a) / span > 0.045:
            text = ep.role.replace("control ", "control<br>").replace("test ", "test<br>")
            labels.append(_label(fig, (a + b) / 2, 1.0, text, 1, yanchor="bottom",
                                 font={"size": 10, "color": "#455a64"}))
    _add_all(fig, shapes, labels)


def trace_figure(
    t_s: np.ndarray,
    *,
    raw_pA: np.ndarray | None = None,
    filtered_pA: np.ndarray | None = None,
    orange: tuple[np.ndarray, np.ndarray] | None = None,
    voltage_mV: np.ndarray | None = None,
    epochs: Sequence = (),
    x_range_ms: tuple[float, float] | None = None,
    raw_visible: bool | str = True,
    n_out: int = MAX_POINTS,
    selectable: bool = False,
    title: str | None = None,
    overlay_pA: Sequence[tuple[str, np.ndarray]] = (),
    average_pA: tuple[str, np.ndarray] | None = None,
    height: int | None = None,
) -> go.Figure:
    """Current (and the recorded command voltage in a second row) against time in ms.

    Parameters
    ----------
    t_s : ndarray
        Sample times of the sweep (s).
    raw_pA, filtered_pA : ndarray, optional
        Raw (grey) and filtered (red) current (pA), on ``t_s``.
    orange : (t_s, pA), optional
        The decimated (orange) current on its own time axis.
    voltage_mV : ndarray, optional
        Recorded command voltage (mV), drawn in a second row sharing the time axis.
    epochs : sequence of Epoch
        Protocol epochs, drawn as shaded bands (steps) with their role as label.
    x_range_ms : (float, float), optional
        Only this window (ms), re-downsampled: a short window is shown at full detail.
    raw_visible : bool or "legendonly"
        Show the raw trace, or list it in the legend only (click to show).
    overlay_pA : sequence of (label, ndarray)
        Other sweeps' current (pA) on ``t_s``, drawn light and thin under the others, one legend entry.
    average_pA : (label, ndarray), optional
        The average of the overlaid sweeps (pA), drawn black on top.
    height : int, optional
        Height in px (default 600 with the voltage row, 460 without).
    """
    t_ms = np.asarray(t_s, dtype=np.float64) * 1e3
    sl = window(t_ms, *x_range_ms) if x_range_ms is not None else slice(0, t_ms.size)
    rows = 2 if voltage_mV is not None else 1
    fig = make_subplots(
        rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06,
        row_heights=[0.72, 0.28] if rows == 2 else None,
    )
    n_over = max(500, n_out // 4) if len(overlay_pA) > 4 else n_out
    for k, (label, y) in enumerate(overlay_pA):
        fig.add_trace(_line(t_ms[sl], np.asarray(y)[sl], f"sweeps {label}", _OVERLAY, n_over, width=0.8,
                            legendgroup="overlay", showlegend=k == 0), row=1, col=1)
    if raw_pA is not None:
        fig.add_trace(_line(t_ms[sl], np.asarray(raw_pA)[sl], "raw current (grey)", COLORS["raw"], n_out,
                            width=1.0, visible=raw_visible), row=1, col=1)
    if filtered_pA is not None:
        fig.add_trace(_line(t_ms[sl], np.asarray(filtered_pA)[sl], "filtered current (red)", COLORS["filtered"],
                            n_out, width=1.3), row=1, col=1)
    if orange is not None:
        to_ms = np.asarray(orange[0], dtype=np.float64) * 1e3
        osl = window(to_ms, *x_range_ms) if x_range_ms is not None else slice(0, to_ms.size)
        fig.add_trace(_line(to_ms[osl], np.asarray(orange[1])[osl], "decimated current (orange)",
                            COLORS["orange"], n_out, width=1.6), row=1, col=1)
    if average_pA is not None:
        fig.add_trace(_line(t_ms[sl], np.asarray(average_pA[1])[sl], f"{average_pA[0]} (black)", _AVERAGE, n_out,
                            width=1.5), row=1, col=1)
    if voltage_mV is not None:
        fig.add_trace(_line(t_ms[sl], np.asarray(voltage_mV)[sl], "command voltage (dark grey)", COLORS["voltage"],
                            n_out, width=1.2), row=2, col=1)
        fig.update_yaxes(title_text="V (mV)", row=2, col=1)
    x_lo = float(t_ms[sl][0]) if t_ms[sl].size else 0.0
    x_hi = float(t_ms[sl][-1]) if t_ms[sl].size else 1.0
    if epochs:
        _add_epoch_bands(fig, epochs, x_lo, x_hi, rows)
    fig.update_yaxes(title_text="I (pA)", row=1, col=1)
    fig.update_xaxes(title_text="time (ms)", row=rows, col=1)
    default = 600 if rows == 2 else 460
    return _layout(fig, height=int(height or default), selectable=selectable, title=title,
                   top=60 if epochs else 30)


def interference_peak_hz(f_hz: np.ndarray, psd: np.ndarray, f_min_hz: float = 1000.0) -> float | None:
    """Frequency (Hz) of the largest spectral peak above ``f_min_hz``, None when there is none."""
    f = np.asarray(f_hz, dtype=np.float64)
    p = np.asarray(psd, dtype=np.float64)
    mask = (f >= f_min_hz) & np.isfinite(p)
    if not mask.any():
        return None
    k = int(np.argmax(np.where(mask, p, -np.inf)))
    return float(f[k])


def spectrum_figure(
    f_hz: np.ndarray, psd_raw: np.ndarray, psd_filtered: np.ndarray | None = None, *, n_out: int = MAX_POINTS
) -> go.Figure:
    """Power spectral density before (grey) and after (red) the filter chain, log power, Hz.

    The largest peak above 1 kHz of the raw spectrum (the rig's ~15.6 kHz interference on the
    sample recording) is marked with a dashed line and its frequency.
    """
    f = np.asarray(f_hz, dtype=np.float64)

    def positive(p):
        p = np.asarray(p, dtype=np.float64).copy()
        p[~(p > 0)] = np.nan
        return p

    fig = go.Figure()
    fig.add_trace(_line(f, positive(psd_raw), "raw current (grey)", COLORS["raw"], n_out))
    if psd_filtered is not None:
        fig.add_trace(_line(f, positive(psd_filtered), "filtered current (red)", COLORS["filtered"], n_out))
    peak = interference_peak_hz(f, positive(psd_raw))
    if peak is not None:
        fig.add_vline(x=peak, line={"color": "#455a64", "width": 1, "dash": "dash"},
                      annotation_text=f"peak {peak / 1e3:.2f} kHz", annotation_position="top right")
    finite = positive(psd_raw)[1:]
    finite = finite[np.isfinite(finite)]
    if finite.size:  # from 4 decades under the raw floor to the top: a steep filter cannot squash the view
        lo = float(np.log10(np.percentile(finite, 1))) - 4.0
        fig.update_yaxes(range=[lo, float(np.log10(finite.max())) + 0.5])
    fig.update_yaxes(type="log", title_text="power spectral density (pA²/Hz)", exponentformat="power")
    fig.update_xaxes(title_text="frequency (Hz)")
    return _layout(fig, height=400, selectable=False)


def display_factor(result, smooth_curves: bool) -> int:
    """Samples per displayed point when curves are smoothed: the recipe's orange resolution."""
    if not smooth_curves:
        return 1
    return max(1, int(round(result.params.decimate_ms * 1e-3 * result.fs_hz)))


def control_figure(result, *, smooth_curves: bool = False, n_out: int = MAX_POINTS) -> go.Figure:
    """Control responses per mV (dark blue, one per step) and their averages (magenta), ON and OFF.

    ``smooth_curves`` draws each curve low-passed and block-averaged to the recipe's decimated
    (orange) resolution, for display only: the numbers never come from the drawn curves.
    """
    k = display_factor(result, smooth_curves)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=False, horizontal_spacing=0.08,
                        subplot_titles=("ON: from each control step's edge", "OFF: from each return edge"))
    t = result.t_ctrl_ms
    for col, side, dark, mag, source in (
        (1, "ON", result.dark_blue_on_pA_per_mV, result.magenta_on_pA_per_mV, result.params.control_on_source),
        (2, "OFF", result.dark_blue_off_pA_per_mV, result.magenta_off_pA_per_mV, result.params.control_off_source),
    ):
        for j, row in enumerate(dark, 1):
            fig.add_trace(_line(*smooth(t, row, result.fs_hz, k), f"control {side} step {j} per mV (dark blue)",
                                COLORS["dark_blue"], n_out, width=1.0), row=1, col=col)
        used = {"on": "ON steps", "off": "OFF returns", "both": "ON and OFF"}[source]
        fig.add_trace(_line(*smooth(t[: mag.size], mag, result.fs_hz, k),
                            f"average per mV for test {side}, from {used} (magenta)",
                            COLORS["magenta"], n_out, width=1.8), row=1, col=col)
        fig.update_xaxes(title_text="time from edge (ms)", row=1, col=col)
    fig.update_yaxes(title_text="I per mV (pA/mV)", row=1, col=1)
    return _layout(fig, height=460, selectable=False)


def purple_figure(result, *, selectable: bool = True, smooth_curves: bool = False,
                  n_out: int = MAX_POINTS, height: int = 700) -> go.Figure:
    """Asymmetric current ON and OFF (purple, two rows sharing the time from the edge in ms).

    Shaded: the integration window (purple tint, labelled) and the tail window (grey).  With a
    sloping or hand-drawn tail the curve before correction (light purple) and the removed
    baseline (black dashed) are drawn too; otherwise they are listed in the legend only.
    ``smooth_curves``: see :func:`control_figure`.
    """
    k = display_factor(result, smooth_curves)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1,
                        subplot_titles=("test ON (from the test pulse edge)", "test OFF (from the return edge)"))
    show_tail = True if result.params.tail_mode in ("line", "manual") else "legendonly"
    shapes: list[dict] = []
    labels: list[dict] = []
    for row, side in ((1, "on"), (2, "off")):
        label = side.upper()
        t = getattr(result, f"t_{side}_ms")
        fig.add_trace(_line(*smooth(t, getattr(result, f"purple_{side}_raw_pA"), result.fs_hz, k),
                            f"asymmetric current {label} before tail correction (light purple)",
                            COLORS["purple_light"], n_out, width=1.0, visible=show_tail), row=row, col=1)
        fig.add_trace(_line(t, getattr(result, f"tail_{side}_pA"), f"tail baseline {label} (black dashed)",
                            COLORS["fit"], n_out, width=1.2, dash="dash", visible=show_tail), row=row, col=1)
        fig.add_trace(_line(*smooth(t, getattr(result, f"purple_{side}_pA"), result.fs_hz, k),
                            f"asymmetric current {label} (purple)", COLORS["purple"], n_out, width=1.5),
                      row=row, col=1)
        a, b = getattr(result, f"integrate_{side}_ms")
        shapes.append(_vrect(fig, a, b, _INTEGRATION_FILL, row))
        labels.append(_label(fig, a, 1, f"integration {a:.1f}–{b:.1f} ms", row, xanchor="left", yanchor="top",
                             font={"size": 11, "color": COLORS["purple"]}))
        if result.params.tail_mode in ("constant", "line"):
            ta, tb = getattr(result, f"tail_{side}_ms")
            shapes.append(_vrect(fig, ta, tb, _TAIL_FILL, row))
            labels.append(_label(fig, tb, 0, "tail window", row, xanchor="right", yanchor="bottom",
                                 font={"size": 11, "color": "#455a64"}))
        pts = getattr(result.params, f"manual_tail_{side}")
        if result.params.tail_mode == "manual" and pts is not None:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="markers",
                                     name=f"tail line points {label} (black)",
                                     marker={"color": COLORS["fit"], "size": 9, "symbol": "x"}), row=row, col=1)
        shapes.append(_hline(fig, 0, {"color": "rgba(0,0,0,0.35)", "width": 1}, row))
        fig.update_yaxes(title_text=f"I {label} (pA)", row=row, col=1)
    _add_all(fig, shapes, labels)
    fig.update_xaxes(title_text="time from edge (ms)", row=2, col=1)
    return _layout(fig, height=int(height), selectable=selectable, top=45)


def transient_figure(result, *, smooth_curves: bool = False, n_out: int = MAX_POINTS) -> go.Figure:
    """The averaged control ON response (dark blue) and the exponential fitted to it (black dashed)."""
    t = result.t_ctrl_fit_ms
    k = display_factor(result, smooth_curves)
    fig = go.Figure()
    fig.add_trace(_line(*smooth(t, result.ctrl_on_mean_pA, result.fs_hz, k),
                        "mean control ON response (dark blue)", COLORS["dark_blue"], n_out, width=1.2))
    fig.add_trace(_line(t, result.ctrl_fit_pA,
                        f"exponential fit, tau = {result.tau_ms:.3g} ms (black dashed)", COLORS["fit"],
                        n_out, width=1.8, dash="dash"))
    fig.add_hline(y=result.i_ss_pA, line={"color": "rgba(0,0,0,0.35)", "width": 1, "dash": "dot"},
                  annotation_text=f"steady current {result.i_ss_pA:.0f} pA", annotation_position="bottom right")
    finite = np.flatnonzero(np.isfinite(result.ctrl_fit_pA))
    start = float(t[finite[0]]) if finite.size else 0.0
    if t.size:
        fig.update_xaxes(range=[0.0, min(float(t[-1]), start + 8.0 * max(result.tau_ms, 0.05))])
    fig.update_xaxes(title_text="time from control step edge (ms)")
    fig.update_yaxes(title_text="I (pA)")
    return _layout(fig, height=440, selectable=False)
