"""What the exports contain, independent of the file format: entries, columns, curves, provenance.

:mod:`signal_core.export` is the public face; this module holds the tables that the
workbooks (:mod:`signal_core.export.xlsx`, :mod:`signal_core.export.set_workbook`) and the CSV
writers (:mod:`signal_core.export.csv`) share, so that every format shows the same
numbers under the same names and units.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import numpy as np

from signal_core import __version__
from signal_core.analysis.pipeline import ChargeResult, SweepFailure
from signal_core.params import AnalysisParams
from signal_core.values import finite_or_none

__all__ = [
    "ORANGE_POINTS",
    "WORKBOOK_CURVE_POINTS",
    "Curve",
    "ExportEntry",
    "Failure",
    "block_mean",
    "entry_curves",
    "flags_text",
    "library_versions",
    "normalise_failures",
    "param_rows",
    "recipe_groups",
    "utc_iso",
]


@dataclass(frozen=True)
class ExportEntry:
    """One sweep's result and the file it came from, as the exports show it.

    Parameters
    ----------
    file_name : str
        The file's name as the user gave it (untrusted text: written as text, never a formula).
    sha256 : str
        SHA-256 of the file's bytes (64 hex digits), for the provenance sheet.
    size_bytes : int
        Size of the file (bytes).
    result : ChargeResult
        The sweep's analysis.

    Examples
    --------
    What the workbooks and CSV writers take: one per analysed sweep (charges pC, C nF, R MOhm):

    >>> import io, zipfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording()
    >>> entry = sc.ExportEntry("demo.atf", "0" * 64, 0, sc.analyze_sweep(demo.recording))
    >>> entry.title, entry.sweep_number, round(entry.result.r_s_MOhm)
    ('demo.atf | sweep 1', 1, 14)
    """

    file_name: str
    sha256: str
    size_bytes: int
    result: ChargeResult

    @property
    def sweep_number(self) -> int:
        """The sweep as users count it (1-based)."""
        return self.result.sweep + 1

    @property
    def title(self) -> str:
        """``"<file> | sweep <n>"``: the header of this entry's blocks and charts."""
        return f"{self.file_name} | sweep {self.sweep_number}"


#: A sweep or file that could not be analysed: (file name, sweep 1-based or None for the whole file, error).
Failure = tuple[str, int | None, str]


def normalise_failures(failures: Sequence[Failure | SweepFailure]) -> list[Failure]:
    """Failures as ``(file, sweep 1-based or None, error)``; :class:`SweepFailure` objects are converted."""
    out: list[Failure] = []
    for f in failures:
        if isinstance(f, SweepFailure):
            out.append((str(f.name), f.sweep + 1, str(f.error)))
        else:
            name, sweep, error = f
            out.append((str(name), None if sweep is None else int(sweep), str(error)))
    return out


# ------------------------------------------------------------------------------ quantities
# The numbers of a result, their names, units and Excel formats: :data:`signal_core.quantities.QUANTITIES`
# (the Summary sheet, the CSV columns and the long CSV follow its order).


def flags_text(result: ChargeResult) -> str:
    """The result's flag messages joined by ``"; "`` ("" without flags)."""
    return "; ".join(f.message for f in result.flags)


def has_area(entries: Sequence[ExportEntry]) -> bool:
    """True when some entry has a specific capacitance (a membrane area was given)."""
    return any(e.result.c_specific_uF_per_cm2 is not None for e in entries)


# ------------------------------------------------------------------------------ curves
@dataclass(frozen=True)
class Curve:
    """One curve of a result, ready to write.

    ``axis`` names the time axis the curve shares with others: ``"ON"`` (from the test
    ON edge), ``"OFF"`` (from the test return edge), ``"control"`` (from each control
    edge) or ``"sweep"`` (time in the sweep, the orange trace).
    """

    key: str
    meaning: str
    colour: str
    unit: str
    axis: str
    t_ms: np.ndarray
    values: np.ndarray

    @property
    def legend(self) -> str:
        """``"asymmetric current ON (purple)"``: the colour name and the meaning (DOMAIN.md section 4)."""
        return f"{self.meaning} ({self.colour})"

    @property
    def header(self) -> str:
        return f"{self.meaning}, {self.colour} ({self.unit})"


#: Default limit of points per curve in the workbooks (block means; 0.1 ms per point over a 100 ms epoch).
#: Measured: 2000 points put one recording's workbook at ~250 ms, mostly the charts' cached values;
#: 1000 points at ~130 ms.
WORKBOOK_CURVE_POINTS = 1000
#: Default limit for the orange trace (10,000 keeps the lab's 0.5 ms per point for sweeps up to 5 s).
ORANGE_POINTS = 10_000

AXIS_HEADERS = {
    "ON": "t from test ON edge (ms)",
    "OFF": "t from test OFF edge (ms)",
    "control": "t from control edge (ms)",
    "sweep": "t in sweep (ms)",
}


def block_mean(t: np.ndarray, y: np.ndarray, max_points: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Reduce a curve to at most ``max_points`` points by block means.

    Blocks of ``k = ceil(n / max_points)`` consecutive samples are averaged (time and
    value alike); a shorter last block is averaged on its own, so the curve still
    reaches its end.  ``max_points=None`` or a short curve returns the input.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    if max_points is None or n <= max_points:
        return t, y
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    k = math.ceil(n / max_points)
    full = (n // k) * k
    tb = t[:full].reshape(-1, k).mean(axis=1)
    yb = y[:full].reshape(-1, k).mean(axis=1)
    if full < n:
        tb = np.append(tb, t[full:].mean())
        yb = np.append(yb, y[full:].mean())
    return tb, yb


def entry_curves(
    result: ChargeResult, max_points: int | None = None, max_orange_points: int | None = None
) -> list[Curve]:
    """Every exported curve of a result, in the order of the Curves sheet and the curves CSV.

    purple ON, purple OFF (pA); magenta ON, magenta OFF, dark blue ON k, dark blue OFF k
    (pA/mV, k = 1..n_control); orange (pA).  Each is reduced by :func:`block_mean` to
    ``max_points`` (orange: ``max_orange_points``); None keeps every point.
    """
    out: list[Curve] = []

    def add(key: str, meaning: str, colour: str, unit: str, axis: str, t: np.ndarray, y: np.ndarray,
            cap: int | None) -> None:
        tb, yb = block_mean(t, y, cap)
        out.append(Curve(key, meaning, colour, unit, axis, tb, yb))

    add("purple_on", "asymmetric current ON", "purple", "pA", "ON", result.t_on_ms, result.purple_on_pA, max_points)
    add("purple_off", "asymmetric current OFF", "purple", "pA", "OFF", result.t_off_ms, result.purple_off_pA,
        max_points)
    t_c = result.t_ctrl_ms
    add("magenta_on", "control ON per mV, average", "magenta", "pA/mV", "control", t_c,
        result.magenta_on_pA_per_mV, max_points)
    add("magenta_off", "control OFF per mV, average", "magenta", "pA/mV", "control", t_c,
        result.magenta_off_pA_per_mV, max_points)
    for side, block in (("on", result.dark_blue_on_pA_per_mV), ("off", result.dark_blue_off_pA_per_mV)):
        for k, row in enumerate(np.atleast_2d(block), 1):
            add(f"dark_blue_{side}_{k}", f"control {side.upper()} {k} per mV", "dark blue", "pA/mV", "control",
                t_c, row, max_points)
    add("orange", "current decimated", "orange", "pA", "sweep", result.t_orange_s * 1e3, result.i_orange_pA,
        max_orange_points)
    return out


# ------------------------------------------------------------------------------ recipe
#: Unit and meaning of each recipe parameter (any parameter missing here is still listed, without them).
PARAM_INFO: dict[str, tuple[str, str]] = {
    "filters": ("", "filter chain applied to the current, in order (see the filter table)"),
    "baseline_ms": ("ms", "window just before each edge whose mean current is that response's zero"),
    "guard_ms": ("ms", "least gap between a window and an edge (grows with the filters' spread)"),
    "control_on_source": ("", "control responses (on / off / both) giving the per-mV response subtracted ON"),
    "control_off_source": ("", "control responses (on / off / both) giving the per-mV response subtracted OFF"),
    "tail_mode": ("", "removal of the level the asymmetric current settles to"),
    "tail_fraction": ("fraction", "default tail window: this last fraction of the epoch"),
    "tail_on_ms": ("ms", "ON tail window from the edge (none: the last tail_fraction)"),
    "tail_off_ms": ("ms", "OFF tail window from the edge (none: the last tail_fraction)"),
    "manual_tail_on": ("ms, pA", "two points (t, I) of a hand-drawn ON tail line"),
    "manual_tail_off": ("ms, pA", "two points (t, I) of a hand-drawn OFF tail line"),
    "integrate_on_ms": ("ms", "ON integration window from the edge (none: the whole epoch)"),
    "integrate_off_ms": ("ms", "OFF integration window from the edge (none: the whole epoch)"),
    "fit_start_ms": ("ms", "the exponential fit of the control transient starts this long after the edge"),
    "steady_ms": ("ms", "steady current = mean of the last steady_ms of the control step"),
    "decimate_ms": ("ms", "resolution of the decimated (orange) curve"),
    "v_hold_mV": ("mV", "holding level set by hand (none: from the recording)"),
    "v_control_mV": ("mV", "control level set by hand (none: from the recording)"),
    "v_test_mV": ("mV", "test level set by hand (none: from the recording)"),
    "protocol": ("ms, mV", "whole protocol set by hand (none: detected or from the timing)"),
    "timing": ("ms, mV", "protocol timing for recordings without a voltage channel"),
    "edge_threshold_mV": ("mV", "a change of the recorded command by more than this is an edge"),
    "area_um2": ("um^2", "membrane area, for the specific capacitance"),
    "temperature_C": ("deg C", "temperature for the effective valence z = (RT/F)/k"),
    "current_unit": ("", "the current channel's real unit when the file labels it wrongly (none: the file's)"),
    "voltage_unit": ("", "the recorded voltage channel's real unit when the file labels it wrongly (none: the file's)"),
    "average_sweeps": ("", "sweeps (1-based) averaged sample by sample and analysed as one; empty: each alone"),
    "pool_controls": ("", "true: the control response is pooled over every sweep of the recording whose controls "
                          "agree within their errors (false: each sweep's own)"),
    "control_model": ("", "what is subtracted from the test: average (the controls' mean), exp1 / exp2 (one / two "
                          "fitted exponentials plus a steady level, from the end of the filter's spread on)"),
    "qv_frame": ("", "Q-V fits: pipette (charges as recorded) or membrane (Q (R_s + R_m) / R_m against "
                     "V_m = V_test - I R_s)"),
    "qv_exclude_flagged": ("", "Q-V fits leave out the points that carry a warning"),
    "qv_joint": ("", "Q-V fits Q_on and -Q_off together"),
}


def param_rows(params: AnalysisParams) -> list[tuple[str, float | str, str, str]]:
    """``(parameter, value, unit, meaning)`` for every recipe parameter, in the recipe's order.

    Numbers stay numbers; None becomes ``"none"``; tuples, dicts and the filter chain
    are compact JSON (the Recipe sheet has the exact, loadable form).
    """
    d = params.to_dict()
    rows: list[tuple[str, float | str, str, str]] = []
    for f in fields(AnalysisParams):
        value = d[f.name]
        unit, meaning = PARAM_INFO.get(f.name, ("", ""))
        if value is None:
            shown: float | str = "none"
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, int | float):
            shown = float(value)
        elif isinstance(value, str):
            shown = value
        else:
            shown = json.dumps(value, separators=(", ", ": "))
        rows.append((f.name, shown, unit, meaning))
    return rows


def recipe_groups(entries: Sequence[ExportEntry]) -> list[tuple[AnalysisParams, list[int]]]:
    """The distinct recipes of the entries, each with the indices of the entries it produced."""
    groups: dict[str, tuple[AnalysisParams, list[int]]] = {}
    for i, e in enumerate(entries):
        key = e.result.params.to_json(indent=None)
        groups.setdefault(key, (e.result.params, []))[1].append(i)
    return list(groups.values())


# ------------------------------------------------------------------------------ provenance
#: (label, distribution name) of the libraries whose versions the provenance sheet records.
LIBRARIES = (
    ("numpy", "numpy"),
    ("scipy", "scipy"),
    ("pandas", "pandas"),
    ("xlsxwriter", "XlsxWriter"),
    ("pywt (PyWavelets)", "PyWavelets"),
    ("streamlit", "streamlit"),
)


def library_versions() -> list[tuple[str, str]]:
    """``(label, version)`` for Python and each library, read from package metadata (nothing is imported)."""
    out = [("Python", platform.python_version())]
    for label, dist in LIBRARIES:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "not installed"
        out.append((label, version))
    return out


def utc_iso(when: datetime | None) -> str:
    """``when`` (default: now) in UTC, ISO 8601 to the second; a naive datetime is taken as UTC."""
    when = when or datetime.now(UTC)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="seconds")


def provenance_rows(exported_at: datetime | None) -> list[tuple[str, str]]:
    """``(key, value)`` rows: app, version, export time (UTC) and library versions."""
    return [
        ("app", "Signal Analyzer (signal_core)"),
        ("app version", __version__),
        ("exported (UTC)", utc_iso(exported_at)),
        ("platform", platform.platform(terse=True)),
        *library_versions(),
    ]


def file_rows(entries: Sequence[ExportEntry], failures: Sequence[Failure]) -> list[tuple[str, str, int | None, str]]:
    """``(file, sha256, size_bytes or None, status)`` per distinct file, in first-seen order."""
    files: dict[tuple[str, str], dict] = {}
    for e in entries:
        f = files.setdefault((e.file_name, e.sha256), {"size": e.size_bytes, "ok": [], "failed": []})
        f["ok"].append(e.sweep_number)
    known = {name for name, _ in files}
    for name, sweep, _err in failures:
        if name in known:
            for (n, _sha), f in files.items():
                if n == name:
                    f["failed"].append(sweep)
                    break
        else:
            files.setdefault((name, ""), {"size": None, "ok": [], "failed": []})["failed"].append(sweep)
    rows = []
    for (name, sha), f in files.items():
        parts = []
        if f["ok"]:
            parts.append("analysed sweep(s) " + ", ".join(str(s) for s in f["ok"]))
        if f["failed"]:
            parts.append("failed: " + ", ".join("whole file" if s is None else f"sweep {s}" for s in f["failed"]))
        rows.append((name, sha, f["size"], "; ".join(parts)))
    return rows


def boltzmann_line(fit, v_min: float, v_max: float, n: int = 121) -> tuple[np.ndarray, np.ndarray]:
    """The fitted Q(V) on ``n`` points from ``v_min`` to ``v_max`` (mV, pC), offset included."""
    v = np.linspace(v_min, v_max, n)
    x = np.clip(-(v - fit.v_half_mV) / fit.k_mV, -700, 700)
    q = fit.q_max_pC / (1.0 + np.exp(x)) + (fit.offset_pC or 0.0)
    return v, q


def fit_rows(fit) -> list[tuple[str, float | None, float | None, str]]:
    """``(parameter, value, standard error, unit)`` of a :class:`~signal_core.qv.QvFit`."""
    rows = [
        ("Q_max", fit.q_max_pC, fit.q_max_pC_se, "pC"),
        ("V_half", fit.v_half_mV, fit.v_half_mV_se, "mV"),
        ("k", fit.k_mV, fit.k_mV_se, "mV"),
        ("z (effective valence)", fit.z, fit.z_se, ""),
    ]
    if fit.offset_pC is not None:
        rows.append(("offset", fit.offset_pC, None, "pC"))
    rows.append(("R^2", fit.r_squared, None, ""))
    rows.append(("points", float(fit.n_points), None, ""))
    return [(a, finite_or_none(b), finite_or_none(c), d) for a, b, c, d in rows]
