"""Sets of recordings: the Q-V points of analysed files, with the source of each V2, and one
Boltzmann fit per set.

The files are analysed by :func:`signal_core.parallel.analyze_files` (in-process, in parallel
processes or on a Dask cluster; :class:`signal_core.parallel.SchedulerError` when the cluster cannot
be used).

- :func:`signal_core.parallel.analyze_files`: rows per file, in input order; a bad file gives its error row and the
  others go on; a crashed worker process is reported on the files it took down.
- :func:`qv_points`: one :class:`QvPoint` per analysed sweep (V2, its source and a note when the
  file name and the voltage channel disagree; the set; whether the point is excluded).
- :func:`fit_sets`: one Boltzmann per set; :func:`fit_points` for the points of one set. In the
  pipette frame (default: Q and V_test as recorded) or the membrane frame (charges corrected for
  R_s, against the membrane potential of the test pulse); optionally without the points that carry
  warnings, or fitting Q_on and -Q_off together; weighted by the points' standard errors when they
  all have one. The fit carries warnings (:func:`signal_core.qv.fit_warnings`).
- :func:`qv_summary`: the ``qv --json`` object.

V2 enters the charge, not only the plot: the test response is corrected by V2 - V0 times
the control response per mV, so a V2 set by hand or taken from the file name must be given
to :func:`analyze_files` (``v_test_mV=``, ``v_test_from_name=``; the per-file rule is
:func:`signal_core.analysis.batch.analyze_source`, which the app's sets page calls too) and not only
to :func:`qv_points`, or the charges belong to another V2 (:func:`qv_points` notes such points).

Units: mV, pC, nF, nC/uF.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass

from signal_core.fitting import FitError
from signal_core.flags import FLAG_KIND_BY_CODE
from signal_core.parallel import PathLike
from signal_core.params import AnalysisParams
from signal_core.protocol.filenames import parse_filename
from signal_core.qv import QvFit, fit_qv, fit_warnings
from signal_core.values import clean_json, finite_or_none

__all__ = [
    "DEFAULT_SET_ID",
    "FRAMES",
    "QUANTITIES",
    "QvPoint",
    "V2_SOURCES",
    "fit_points",
    "fit_sets",
    "qv_points",
    "qv_summary",
]

#: Set of a file whose name carries none and that no mapping places (as in ``export.sets_from_names``).
DEFAULT_SET_ID = ""
#: Where a point's V2 comes from.
V2_SOURCES = ("voltage channel", "file name", "manual", "protocol (command)")
#: What :func:`fit_sets` can fit against V2, and the QvPoint attribute (sign) it reads.
QUANTITIES = {"q_on_pC": ("q_on_pC", 1.0), "minus_q_off_pC": ("q_off_pC", -1.0),
              "q_on_per_c_m": ("q_on_per_c_m_nC_per_uF", 1.0)}
#: Where the points sit: as the pipette saw them, or as the membrane did (charge x (R_s + R_m) / R_m
#: against V_m = V_test - I R_s); the attribute names of (V, Q_on, Q_off) and of their SEs in each.
FRAMES = {
    "pipette": ("v_test_mV", "q_on_pC", "q_off_pC", "q_on_se_pC", "q_off_se_pC"),
    "membrane": ("v_test_m_mV", "q_on_corr_pC", "q_off_corr_pC", "q_on_corr_se_pC", "q_off_corr_se_pC"),
}
#: File name and voltage channel differing by more than this get a note (mV).
V2_DISAGREE_MV = 2.0
#: An override differing from the V2 the charges were computed with by more than this gets a note (mV).
V2_STALE_MV = 0.01

_NO_VOLTAGE_FLAG = "No voltage channel"  # start of analysis' no_voltage_channel flag message


# ----------------------------------------------------------------------------- Q-V points
@dataclass(frozen=True)
class QvPoint:
    """One analysed sweep as a point of a set's Q-V relation (mV, pC, nF, nC/uF).

    ``v_source`` is one of :data:`V2_SOURCES`; ``v_name_mV`` what the file name says (single-sweep
    files) or None; ``note`` explains a disagreement or a V2 that is not the one the charges were
    computed with ("" when there is nothing to say).

    Examples
    --------
    >>> import signal_core as sc
    >>> p = sc.QvPoint(file="cell3_0006_-20mV.atf", sweep=1, v_test_mV=-20.0, v_source="voltage channel",
    ...                v_name_mV=-20.0, q_on_pC=3.6, q_off_pC=-3.5, q_off_over_on=-0.97, c_m_nF=0.7,
    ...                q_on_per_c_m_nC_per_uF=5.1, flags=(), excluded=False, set_id="")
    >>> p.to_dict()["q_on_pC"]
    3.6
    """

    file: str
    sweep: int
    v_test_mV: float | None
    v_source: str
    v_name_mV: float | None
    q_on_pC: float | None
    q_off_pC: float | None
    q_off_over_on: float | None
    c_m_nF: float | None
    q_on_per_c_m_nC_per_uF: float | None
    flags: tuple[str, ...]
    excluded: bool
    set_id: str
    note: str = ""
    flag_codes: tuple[str, ...] = ()
    warned: bool = False
    q_on_se_pC: float | None = None
    q_off_se_pC: float | None = None
    q_on_corr_pC: float | None = None
    q_off_corr_pC: float | None = None
    q_on_corr_se_pC: float | None = None
    q_off_corr_se_pC: float | None = None
    v_test_m_mV: float | None = None

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flags"] = list(self.flags)
        d["flag_codes"] = list(self.flag_codes)
        return clean_json(d)  # type: ignore[return-value]


def _same(a: float | None, b: float | None, tol: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tol


def _v2(row: dict, n_rows: int, override: float | None, recipe_v2: bool) -> tuple[float | None, str, float | None, str]:
    """(V2, source, V2 of the file name, note) of one row."""
    file, v_row = row["file"], row["v_test_mV"]
    v_name = parse_filename(file).v2_mV if n_rows == 1 else None
    no_channel = any(str(f).startswith(_NO_VOLTAGE_FLAG) for f in row["flags"] or ())
    notes: list[str] = []
    if override is not None:
        v = override
        source = "file name" if _same(v, v_name, 1e-9) else "manual"
        if v_row is not None and not _same(v, v_row, V2_STALE_MV):
            notes.append(f"V2 is set to {v:g} mV here but the charges were computed with {v_row:g} mV: "
                         "analyse the file again with this V2")
    elif recipe_v2:
        v, source = v_row, "manual"
    elif no_channel:
        v = v_row
        if _same(v_row, v_name, 1e-9):
            source = "file name"
        else:
            source = "manual"
            notes.append(f"no voltage channel: V2 {v_row:g} mV comes from the timing parameters")
            if v_name is not None:
                notes.append(f"the file name says {v_name:g} mV; give it as this file's V2")
    else:  # the recorded voltage, or the command of an ABF header when it records none (or a wrong one)
        command = "voltage_from_command" in (row.get("flag_codes") or ())
        v, source = v_row, "protocol (command)" if command else "voltage channel"
        if v_name is not None and v_row is not None and abs(v_name - v_row) > V2_DISAGREE_MV:
            notes.append(f"file name says {v_name:g} mV, {source} {v_row:.1f} mV; "
                         f"the {source} is used")
    return v, source, v_name, "; ".join(notes)


def qv_points(
    rows_per_file: Sequence[Sequence[dict]],
    *,
    v_overrides: Mapping[Hashable, float] | None = None,
    excluded: Collection[tuple[PathLike, int]] = (),
    sets: Mapping[PathLike, str] | None = None,
    params: AnalysisParams | None = None,
) -> list[QvPoint]:
    """The Q-V points of analysed files: one per sweep that was analysed (error rows are skipped).

    Parameters
    ----------
    rows_per_file : sequence of row lists
        As :func:`analyze_files` returns them (rows of one file together).
    v_overrides : mapping, optional
        V2 by hand (mV), keyed ``(file, sweep)`` (sweep 1-based) or ``file`` for every sweep of it.
        Source "file name" when it equals the name's V2, else "manual". It should be the V2 the
        file was analysed with (:func:`analyze_files` ``v_test_mV=``); a point whose charges were
        computed with another V2 says so in its note.
    excluded : collection of (file, sweep)
        Points left out of the fits (still listed, ``excluded=True``).
    sets : mapping file -> set id, optional
        Sets by hand; files it does not list take the set of their names, else :data:`DEFAULT_SET_ID`.
    params : AnalysisParams, optional
        The recipe the rows were analysed with; when it sets V2 (``v_test_mV`` or a whole
        ``protocol``) the source is "manual".

    Without an override, V2 is the row's: "voltage channel" (with a note when the file name
    differs by more than 2 mV), "file name" (no voltage channel, V2 taken from the name, see
    :func:`analyze_files` ``v_test_from_name``), or "manual" (the recipe's V2 or timing parameters).

    Returns
    -------
    list of QvPoint
        One per analysed sweep (V2 in mV, charges in pC, C_m in nF).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording(v_tests_mV=(-60.0, -40.0, -20.0, 0.0))   # one sweep per V2 (mV)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "cell3_0001.atf")
    ...     _ = path.write_bytes(demo.to_atf_bytes())
    ...     rows = sc.analyze_files([path], sc.AnalysisParams(filters=["butter:2000"]))
    >>> points = sc.qv_points(rows)
    >>> [p.sweep for p in points], [round(p.v_test_mV) for p in points], {p.v_source for p in points}
    ([1, 2, 3, 4], [-60, -40, -20, 0], {'voltage channel'})
    """
    overrides: dict = {}
    for key, value in (v_overrides or {}).items():
        if isinstance(key, tuple):
            overrides[(os.fspath(key[0]), int(key[1]))] = float(value)
        else:
            overrides[os.fspath(key)] = float(value)
    excl = {(os.fspath(f), int(s)) for f, s in excluded}
    set_map = {os.fspath(k): str(v) for k, v in (sets or {}).items()}
    recipe_v2 = params is not None and (params.v_test_mV is not None or params.protocol is not None)
    points: list[QvPoint] = []
    for rows in rows_per_file:
        for row in rows:
            if row.get("error"):
                continue
            file, sweep = row["file"], int(row["sweep"])
            override = overrides.get((file, sweep), overrides.get(file))
            codes = row.get("flag_codes") or ()
            v, source, v_name, note = _v2(row, len(rows), override, recipe_v2)
            set_id = set_map.get(file)
            if set_id is None:
                set_id = parse_filename(file).set_id or DEFAULT_SET_ID
            points.append(QvPoint(
                file=file, sweep=sweep, v_test_mV=v, v_source=source, v_name_mV=v_name,
                q_on_pC=row["q_on_pC"], q_off_pC=row["q_off_pC"], q_off_over_on=row["q_off_over_on"],
                c_m_nF=row["c_m_nF"], q_on_per_c_m_nC_per_uF=row["q_on_per_c_m_nC_per_uF"],
                flags=tuple(row["flags"] or ()), excluded=(file, sweep) in excl, set_id=set_id, note=note,
                flag_codes=tuple(codes), warned=any(_is_warning(c) for c in codes),
                **{k: row.get(k) for k in _FRAME_KEYS},
            ))
    return points


_FRAME_KEYS = ("q_on_se_pC", "q_off_se_pC", "q_on_corr_pC", "q_off_corr_pC", "q_on_corr_se_pC", "q_off_corr_se_pC",
               "v_test_m_mV")


def _is_warning(code: str) -> bool:
    kind = FLAG_KIND_BY_CODE.get(code)
    return kind is None or kind.severity == "warning"


# ----------------------------------------------------------------------------- fits
def _values(p: QvPoint, quantity: str, frame: str) -> list[tuple[float | None, float | None, float | None]]:
    """(V, value, SE) of a point for ``quantity`` in ``frame``; two of them for the joint fit."""
    v_attr, on_attr, off_attr, on_se, off_se = FRAMES[frame]
    if quantity == "joint":
        out = [(getattr(p, v_attr), getattr(p, on_attr), getattr(p, on_se))]
        off = getattr(p, off_attr)
        return out + [(getattr(p, v_attr), None if off is None else -off, getattr(p, off_se))]
    attr, sign = QUANTITIES[quantity]
    if frame == "membrane":
        attr = {"q_on_pC": on_attr, "q_off_pC": off_attr}.get(attr, attr)
    value = getattr(p, attr)
    se_attr = {"q_on_pC": "q_on_se_pC", "q_off_pC": "q_off_se_pC", "q_on_corr_pC": "q_on_corr_se_pC",
               "q_off_corr_pC": "q_off_corr_se_pC"}.get(attr)
    se = getattr(p, se_attr) if se_attr else None
    return [(getattr(p, v_attr), None if value is None else sign * value, se)]


def fit_points(
    points: Sequence[QvPoint], *, quantity: str = "q_on_pC", with_offset: bool = False,
    temperature_C: float = 22.0, frame: str = "pipette", exclude_flagged: bool = False, weighted: bool = True,
) -> QvFit | str:
    """One Boltzmann over the points not excluded (whatever their set); the FitError's text when it fails.

    Parameters
    ----------
    points : sequence of QvPoint
    quantity : str
        A key of :data:`QUANTITIES`: ``"q_on_pC"``, ``"minus_q_off_pC"`` (-Q_off, pC) or
        ``"q_on_per_c_m"`` (nC/uF; the fit's ``q_max_pC`` is then in nC/uF); or ``"joint"``: Q_on
        and -Q_off of every point fitted together (pC).
    with_offset : bool
        Fit a constant offset too.
    temperature_C : float
        For the valence z.
    frame : {"pipette", "membrane"}
        :data:`FRAMES`. In the membrane frame a point without R_m (no corrected charge) is left out.
    exclude_flagged : bool
        Leave out the points that carry a warning flag.
    weighted : bool
        Weight by 1 / SE^2 when every point fitted has a standard error (charges in pC only).

    Points without a finite V2 or value are left out. The fit's ``warnings`` add, to those of
    :func:`signal_core.qv.fit_qv`, a set most of whose points carry warnings.
    """
    if quantity not in QUANTITIES and quantity != "joint":
        raise ValueError(f"quantity must be one of {', '.join(QUANTITIES)} or joint, got {quantity!r}")
    if frame not in FRAMES:
        raise ValueError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
    if frame == "membrane" and quantity == "q_on_per_c_m":
        raise ValueError("the membrane frame fits charges in pC: use q_on_pC, minus_q_off_pC or joint")
    v: list[float] = []
    y: list[float] = []
    se: list[float | None] = []
    kept = [p for p in points if not p.excluded]
    n_flagged = sum(p.warned for p in kept)
    for p in kept:
        if exclude_flagged and p.warned:
            continue
        for vv, value, err in _values(p, quantity, frame):
            if finite_or_none(vv) is not None and finite_or_none(value) is not None:
                v.append(vv)  # type: ignore[arg-type]
                y.append(value)  # type: ignore[arg-type]
                se.append(err)
    use_se = weighted and quantity != "q_on_per_c_m" and bool(se) and all(
        finite_or_none(e) is not None and e > 0 for e in se)
    try:
        fit = fit_qv(v, y, with_offset=with_offset, temperature_C=temperature_C,
                     q_se_pC=se if use_se else None)  # type: ignore[arg-type]
    except FitError as exc:
        return str(exc)
    extra = [w for w in fit_warnings(fit, n_flagged=n_flagged, n_total=len(kept)) if w not in fit.warnings]
    return fit.with_warnings(extra)


def fit_sets(
    points: Sequence[QvPoint], *, quantity: str = "q_on_pC", with_offset: bool = False,
    temperature_C: float = 22.0, frame: str = "pipette", exclude_flagged: bool = False, weighted: bool = True,
) -> dict[str, QvFit | str]:
    """One Boltzmann per ``set_id`` (sets in order of first appearance) over the points not excluded.

    A set that cannot be fitted gets the error's text; the other sets are still fitted.
    See :func:`fit_points` for ``quantity``.

    Parameters
    ----------
    points : sequence of QvPoint
        From :func:`qv_points` (V2 in mV, charges in pC).
    quantity : str
        ``"q_on_pC"``, ``"minus_q_off_pC"`` (pC) or ``"q_on_per_c_m"`` (nC/uF).
    with_offset : bool
        Fit a constant offset too (needs 4 points instead of 3).
    temperature_C : float
        For the effective valence z = (RT/F)/k (deg C).

    Returns
    -------
    dict of set id -> QvFit or str
        Q_max (pC), V_half and k (mV), z, their standard errors; or why the set could not be fitted.

    Examples
    --------
    The demo cell's charge follows a Boltzmann with V_half -34 mV and k 8.7 mV:

    >>> import pathlib, tempfile
    >>> import signal_core as sc
    >>> demo = sc.demo_recording(v_tests_mV=(-60.0, -40.0, -20.0, 0.0))   # one sweep per V2 (mV)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "cell3_0001.atf")
    ...     _ = path.write_bytes(demo.to_atf_bytes())
    ...     rows = sc.analyze_files([path], sc.AnalysisParams(filters=["butter:2000"]))
    >>> points = sc.qv_points(rows)
    >>> (fit,) = sc.fit_sets(points).values()
    >>> fit.n_points, abs(fit.v_half_mV - demo.cell.v_half_mV) < 5, abs(fit.k_mV - demo.cell.k_mV) < 2
    (4, True, True)
    """
    groups: dict[str, list[QvPoint]] = {}
    for p in points:
        groups.setdefault(p.set_id, []).append(p)
    return {s: fit_points(pts, quantity=quantity, with_offset=with_offset, temperature_C=temperature_C,
                          frame=frame, exclude_flagged=exclude_flagged, weighted=weighted)
            for s, pts in groups.items()}


FIT_KEYS = ("q_max_pC", "v_half_mV", "k_mV", "z", "q_max_pC_se", "v_half_mV_se", "k_mV_se", "z_se", "r_squared")


def qv_summary(
    rows_per_file: Sequence[Sequence[dict]], fit: QvFit | str | Exception,
    *, points: Sequence[QvPoint] | None = None,
) -> dict:
    """The ``qv --json`` object: points, the fit's numbers (None when it failed), warnings, errors.

    Keys: ``points`` (file, sweep, v_test_mV, q_on_pC, q_on_se_pC, the membrane frame's v_test_m_mV,
    q_on_corr_pC, q_on_corr_se_pC, then flags, flag_codes and ``warned`` (a warning among them) of every
    analysed sweep with a Q_on, or of ``points`` not excluded when given), ``q_max_pC``, ``v_half_mV``, ``k_mV``,
    ``z``, their
    ``*_se``, ``r_squared``, ``offset_pC`` when the fit has one, ``warnings`` (the fit's, in plain
    words: see :func:`signal_core.qv.fit_warnings`), and ``errors`` (file, sweep, error
    of every failed file or sweep, then ``{"file": None, "sweep": None, "error": "Boltzmann fit: ..."}``
    when the fit failed). NaN and infinities become None.
    """
    rows = [r for file_rows in rows_per_file for r in file_rows]
    errors = [{"file": r["file"], "sweep": r["sweep"], "error": r["error"]} for r in rows if r["error"]]
    if points is None:
        points = qv_points(rows_per_file)
    pts = [{"file": p.file, "sweep": p.sweep, "v_test_mV": p.v_test_mV, "q_on_pC": p.q_on_pC,
            "q_on_se_pC": p.q_on_se_pC, "q_off_pC": p.q_off_pC, "q_off_se_pC": p.q_off_se_pC,
            "v_test_m_mV": p.v_test_m_mV, "q_on_corr_pC": p.q_on_corr_pC, "q_on_corr_se_pC": p.q_on_corr_se_pC,
            "q_off_corr_pC": p.q_off_corr_pC, "flags": list(p.flags), "flag_codes": list(p.flag_codes),
            "warned": p.warned}
           for p in points if not p.excluded and p.q_on_pC is not None]
    out: dict = {"points": pts}
    if isinstance(fit, QvFit):
        out.update({k: getattr(fit, k) for k in FIT_KEYS})
        if fit.offset_pC is not None:
            out["offset_pC"] = fit.offset_pC
        out["warnings"] = list(fit.warnings)
    else:
        out.update(dict.fromkeys(FIT_KEYS))
        out["warnings"] = []
        errors.append({"file": None, "sweep": None, "error": f"Boltzmann fit: {fit}"})
    out["errors"] = errors
    return clean_json(out)  # type: ignore[return-value]
