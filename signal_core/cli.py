"""Command line: ``python -m signal_core analyze|qv FILE... [options]``.

The same numbers as the app and the Python API: every command builds one
:class:`~signal_core.params.AnalysisParams` and runs :func:`~signal_core.analysis.batch.analyze_source`.
Exit status: 0 when every file and sweep was analysed, 2 when any could not be
(each failure is reported, the others are still analysed), 1 for bad options.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import signal_core._threads  # noqa: F401  (first: one BLAS thread, set before numpy loads)
from signal_core import __version__
from signal_core.analysis.batch import analyze_source
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.kinds import filter_help
from signal_core.filters.specs import FilterSpec
from signal_core.names import clean_name
from signal_core.parallel import SchedulerError, analyze_files
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.protocol.timing import ProtocolTiming
from signal_core.qv import QvFit
from signal_core.sets import fit_points, qv_points, qv_summary

EXIT_OK, EXIT_USAGE, EXIT_FAILURES = 0, 1, 2

#: every filter kind's command-line form and what it does (signal_core.filters.kinds)
FILTER_HELP = filter_help()


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="ATF (.atf) or ABF (.abf) recordings")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--filter", action="append", default=[], metavar="SPEC", help=FILTER_HELP)
    p.add_argument("--recipe", metavar="FILE",
                   help="a recipe (parameters as JSON, as exported by the app); options given here override it")
    p.add_argument("--v-hold", type=float, metavar="MV", help="holding level V0 in mV (overrides the voltage channel)")
    p.add_argument("--v-control", type=float, metavar="MV",
                   help="control level Vc in mV (overrides the voltage channel)")
    p.add_argument("--v-test", type=float, metavar="MV", help="test level V2 in mV (overrides the voltage channel)")
    p.add_argument("--baseline-ms", type=float, metavar="MS",
                   help="pre-edge window whose mean is each response's zero, in ms (default 5)")
    p.add_argument("--guard-ms", type=float, metavar="MS",
                   help="least gap between a window and an edge, in ms (default 1; grows with the filters)")
    p.add_argument("--tail", choices=("constant", "line", "none"),
                   help="tail correction of the asymmetric current (default constant: mean of the last 20%% removed)")
    p.add_argument("--area-um2", type=float, metavar="UM2", help="membrane area in um^2, for the specific capacitance")
    p.add_argument("--pool-controls", action="store_true", default=None,
                   help="subtract the control response pooled over every sweep of a recording whose controls agree "
                   "within their errors (quieter charges; recipe pool_controls)")
    p.add_argument("--control-model", choices=("average", "exp1", "exp2"),
                   help="subtract the average control response (default), or one (exp1) or two (exp2) fitted "
                   "exponentials plus a steady level (recipe control_model)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="analyse the files in N parallel processes (default 1); results keep the input order")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="send the per-file analyses to a running Dask distributed scheduler, e.g. "
                   "tcp://10.0.0.5:8786 (needs pip install 'dask[distributed]'; the workers must see the files "
                   "under the same paths); same numbers as a local run")
    p.add_argument("--fs-hz", type=float, metavar="HZ",
                   help="sampling rate in Hz, for ATF files without a time column")
    p.add_argument("--out", metavar="FILE",
                   help="also write the results to FILE, by its suffix: .xlsx (analyze: the analysis workbook with "
                   "parameters, curves, charts and provenance; qv: the set workbook, one sheet per file, with the "
                   "fit) or .csv (one row per file and sweep, the columns of --json)")
    p.add_argument("--curves-csv", metavar="FILE",
                   help="also write every curve (purple, magenta, dark blue, orange) at full rate to FILE as "
                   "long-format CSV: file, sweep, curve, t_ms, value, unit")
    p.add_argument("--current-unit", choices=("pA", "nA", "A"), default=None,
                   help="what the current channel really holds, when the file labels it wrongly (e.g. pA-sized "
                   "values labelled A); recorded in the recipe and the results")
    p.add_argument("--voltage-unit", choices=("mV", "V"), default=None,
                   help="what the recorded voltage channel really holds, when the file labels it wrongly")
    g = p.add_argument_group("protocol of recordings without a voltage channel (ms and mV)")
    g.add_argument("--t0-ms", type=float, metavar="MS", help="start of the first control step, in ms")
    g.add_argument("--control-ms", type=float, metavar="MS", help="duration of each control step, in ms")
    g.add_argument("--control-off-ms", type=float, metavar="MS", help="time at holding after each control step, in ms")
    g.add_argument("--n-control", type=int, metavar="N", help="number of control steps")
    g.add_argument("--test-start-ms", type=float, metavar="MS", help="start of the test pulse, in ms")
    g.add_argument("--test-ms", type=float, metavar="MS", help="duration of the test pulse, in ms")


def _prog() -> str:
    """How the user started the program, for its usage lines: the installed command or ``python -m``."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return "signal-analyzer" if name.startswith("signal-analyzer") else "python -m signal_core"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Linear capacitance, passive parameters and charge movement from control-pulse "
        "voltage-clamp recordings (units: ms, mV, pA, pC, nF, MOhm).",
    )
    parser.add_argument("--version", action="version", version=f"signal_core {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="analyse every sweep of every file",
                       description="Analyse every sweep of every file: Q_on, Q_off (pC), C_lin, C_m (nF), "
                       "tau (ms), R_s, R_m (MOhm) and quality flags. With --json: one JSON array, one object "
                       "per file and sweep.")
    _add_common(a)
    q = sub.add_parser("qv", help="fit a Boltzmann to Q_on against V_test over a set of files",
                       description="Analyse every file and sweep, then fit Q(V) = Q_max / (1 + exp(-(V - V_half)/k)) "
                       "to Q_on (pC) against V_test (mV); report Q_max, V_half, k, the effective valence z and "
                       "their standard errors.")
    _add_common(q)
    q.add_argument("--with-offset", action="store_true", help="fit a constant offset (pC) as well")
    q.add_argument("--frame", choices=("pipette", "membrane"),
                   help="pipette (default): Q_on against V_test as recorded; membrane: Q_on x (R_s + R_m) / R_m "
                   "against V_m = V_test - I R_s (points without R_m are left out; recipe qv_frame)")
    q.add_argument("--exclude-flagged", action="store_true", default=None,
                   help="leave the points that carry a warning flag out of the fit (recipe qv_exclude_flagged)")
    q.add_argument("--joint", action="store_true", default=None,
                   help="fit Q_on and -Q_off of every point together (recipe qv_joint)")
    q.add_argument("--temperature-c", type=float, default=None, metavar="C",
                   help="temperature in deg C for z = (RT/F)/k (default 22)")
    return parser


def params_from_args(args: argparse.Namespace) -> AnalysisParams:
    """Build the recipe from a file (``--recipe``) and the options that override it."""
    base = AnalysisParams()
    if args.recipe:
        base = AnalysisParams.from_file(args.recipe)  # regular file, 1 MB at most, UTF-8 JSON
    changes: dict = {}
    if args.filter:
        changes["filters"] = tuple(FilterSpec.parse(s) for s in args.filter)
    for opt, key in (("v_hold", "v_hold_mV"), ("v_control", "v_control_mV"), ("v_test", "v_test_mV"),
                     ("baseline_ms", "baseline_ms"), ("guard_ms", "guard_ms"), ("tail", "tail_mode"),
                     ("area_um2", "area_um2"), ("temperature_c", "temperature_C"),
                     ("current_unit", "current_unit"), ("voltage_unit", "voltage_unit"),
                     ("pool_controls", "pool_controls"), ("control_model", "control_model"), ("frame", "qv_frame"),
                     ("exclude_flagged", "qv_exclude_flagged"), ("joint", "qv_joint")):
        value = getattr(args, opt, None)
        if value is not None:
            changes[key] = value
    timing_opts = {k: getattr(args, k) for k in ("t0_ms", "control_ms", "control_off_ms", "n_control",
                                                  "test_start_ms", "test_ms") if getattr(args, k) is not None}
    if timing_opts:
        t = (base.timing or ProtocolTiming()).to_dict()
        t.update(timing_opts)
        for lv, key in (("v_hold", "v_hold_mV"), ("v_control", "v_control_mV"), ("v_test", "v_test_mV")):
            if getattr(args, lv) is not None:
                t[key] = getattr(args, lv)
        changes["timing"] = ProtocolTiming.from_dict(t)
    return base.replace(**changes) if changes else base


def _fmt(value: object, spec: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


TABLE = (
    ("file", "file", "<", "s"), ("sweep", "sweep", ">", "d"), ("V2 (mV)", "v_test_mV", ">", ".1f"),
    ("Q_on (pC)", "q_on_pC", ">", ".3f"), ("Q_off (pC)", "q_off_pC", ">", ".3f"),
    ("Qoff/Qon", "q_off_over_on", ">", ".2f"), ("C_lin (nF)", "c_lin_nF", ">", ".3f"),
    ("C_m (nF)", "c_m_nF", ">", ".3f"), ("tau (ms)", "tau_ms", ">", ".2f"),
    ("R_s (MOhm)", "r_s_MOhm", ">", ".1f"), ("R_m (MOhm)", "r_m_MOhm", ">", ".0f"),
)


def _shown(path: str) -> str:
    """A file's name as tables and exports show it (:func:`signal_core.names.clean_name`)."""
    return clean_name(Path(path).name).name


def format_table(rows: list[dict]) -> str:
    """A plain-text table of the rows, then the flags and errors as numbered notes."""
    cells = [[h for h, *_ in TABLE]]
    notes: list[str] = []
    for r in rows:
        line = []
        for _h, key, _align, spec in TABLE:
            v = r.get(key)
            line.append(_shown(v) if key == "file" and v else _fmt(v, spec if isinstance(v, float) else ""))
        cells.append(line)
        tag = _shown(r["file"]) + (f" sweep {r['sweep']}" if r.get("sweep") else "")
        if r.get("error"):
            notes.append(f"ERROR {tag}: {r['error']}")
        codes = r.get("flag_codes") or []
        for k, f in enumerate(r.get("flags") or []):
            code = f" [{codes[k]}]" if k < len(codes) else ""
            notes.append(f"flag  {tag}{code}: {f}")
    widths = [max(len(c[i]) for c in cells) for i in range(len(TABLE))]
    out = []
    for c in cells:
        out.append("  ".join(f"{v:{TABLE[i][2]}{widths[i]}}" for i, v in enumerate(c)))
    return "\n".join(out + ([""] + notes if notes else []))


OUT_SUFFIXES = (".xlsx", ".csv")


def _wants_export(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "out", None) or getattr(args, "curves_csv", None))


def _analyze_all(args: argparse.Namespace, params: AnalysisParams, export: list | None = None,
                 *, v_test_from_name: bool = False) -> list[list[dict]]:
    """Rows of every file, in input order (in parallel with --workers / --scheduler).

    With ``export`` (a list) the export entries and failures of each file are appended as pairs;
    the workbook needs the full results (curves), which stay in this process, so each file is
    then analysed here as well, with the same V2 (from the name in ``qv``).
    """
    rows = analyze_files(args.files, params, workers=args.workers, scheduler=args.scheduler, fs_hz=args.fs_hz,
                         v_test_from_name=v_test_from_name)
    if export is not None:
        for f in args.files:
            got = analyze_source(f, params, fs_hz=args.fs_hz, v_from_name=v_test_from_name)
            export.append(_export_items(f, got.recording, got.outcomes, got.rows))
    return rows


def _export_items(file: str, rec, outcomes: list, file_rows: list[dict]) -> tuple[list, list]:
    from signal_core.export import split_outcomes

    name = _shown(file)  # sheet names and cells: no control characters, direction controls escaped
    if rec is None:
        return [], [(name, None, r["error"]) for r in file_rows]
    sha = rec.sha256 or hashlib.sha256(Path(file).read_bytes()).hexdigest()
    return split_outcomes(name, sha, Path(file).stat().st_size, outcomes)


def _write_exports(args: argparse.Namespace, export: list, *, fit=None) -> int:
    """Write ``--out`` and ``--curves-csv``; EXIT_OK, or EXIT_USAGE when a file cannot be written."""
    from signal_core.export import analysis_workbook, curves_csv, results_csv, set_workbook, sets_from_names

    entries = [e for pair in export for e in pair[0]]
    failures = [f for pair in export for f in pair[1]]
    outputs: list[tuple[str, bytes]] = []
    if args.out:
        suffix = Path(args.out).suffix.lower()
        if suffix == ".csv":
            data = results_csv(entries, failures)
        elif args.command == "qv":
            sets = [k for k in sets_from_names([Path(f).name for f in args.files]) if k]
            set_name = sets[0] if len(sets) == 1 else Path(args.out).stem
            data = set_workbook(entries, fit=fit, set_name=set_name, failures=failures)
        else:
            data = analysis_workbook(entries, failures=failures)
        outputs.append((args.out, data))
    if args.curves_csv:
        outputs.append((args.curves_csv, curves_csv(entries)))
    for path, data in outputs:
        try:
            Path(path).write_bytes(data)
        except OSError as exc:
            print(f"error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace, params: AnalysisParams) -> int:
    export: list | None = [] if _wants_export(args) else None
    rows = [r for file_rows in _analyze_all(args, params, export) for r in file_rows]
    if args.json:
        print(json.dumps(rows, indent=2, allow_nan=False))
    else:
        print(format_table(rows))
    if export is not None and _write_exports(args, export) != EXIT_OK:
        return EXIT_USAGE
    return EXIT_FAILURES if any(r["error"] for r in rows) else EXIT_OK


def cmd_qv(args: argparse.Namespace, params: AnalysisParams) -> int:
    export: list | None = [] if _wants_export(args) else None
    per_file = _analyze_all(args, params, export, v_test_from_name=True)
    points = qv_points(per_file, params=params)
    fit = fit_points(points, quantity="joint" if params.qv_joint else "q_on_pC", with_offset=args.with_offset,
                     temperature_C=params.temperature_C, frame=params.qv_frame,
                     exclude_flagged=params.qv_exclude_flagged)
    out = qv_summary(per_file, fit, points=points)
    errors = out["errors"]
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        print(format_table([r for file_rows in per_file for r in file_rows]))
        print()
        if out["v_half_mV"] is not None:
            what = "Q_on and -Q_off" if params.qv_joint else "Q_on"
            frame = " in the membrane frame (corrected for R_s)" if params.qv_frame == "membrane" else ""
            print(f"Boltzmann fit of {what}{frame} over {len(out['points'])} points (R^2 {out['r_squared']:.4f}):")
            for label, k, unit in (("Q_max", "q_max_pC", "pC"), ("V_half", "v_half_mV", "mV"),
                                   ("k", "k_mV", "mV"), ("z", "z", "")):
                se = out[k + "_se"]  # None when the fit cannot estimate it (as many points as parameters)
                print(f"  {label:7s} {out[k]:10.3f} +/- {'n/a' if se is None else f'{se:.3f}'} {unit}")
        for w in out["warnings"]:
            print(f"WARNING {w}")
        for e in errors:
            if e["file"] is None:
                print(f"ERROR {e['error']}")
    fitted = fit if isinstance(fit, QvFit) else None
    if export is not None and _write_exports(args, export, fit=fitted) != EXIT_OK:
        return EXIT_USAGE
    return EXIT_FAILURES if errors else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        params = params_from_args(args)
    except (FilterError, ParamsError, ProtocolError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: cannot read the recipe {args.recipe}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out and Path(args.out).suffix.lower() not in OUT_SUFFIXES:
        print(f"error: --out {args.out}: the file must end in .xlsx (workbook) or .csv", file=sys.stderr)
        return EXIT_USAGE
    if args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.command == "analyze":
            return cmd_analyze(args, params)
        return cmd_qv(args, params)
    except SchedulerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
