"""Exports a lab can hand on: Excel workbooks and CSV files, built in memory as bytes.

Used by the app's download buttons and the command line (``--out results.xlsx``,
``--out results.csv``, ``--curves-csv curves.csv``).  Nothing here imports Streamlit.

Workbooks (xlsxwriter; numbers stored as numbers, text from files always as text)

- :func:`analysis_workbook`: Summary, Parameters, Curves, Charts (native Excel charts),
  Provenance, Recipe and an opt-in decimated Raw sheet.
- :func:`set_workbook`: the lab's set workbook, a "Set summary" sheet with the Q-V fit
  and chart, and one sheet per file named after its file number (``"0006"``).

CSV (UTF-8, units in the headers)

- :func:`results_csv` (wide: one row per file and sweep), :func:`results_long_csv`
  (tidy: one row per file, sweep and quantity), :func:`curves_csv` (every curve in long
  form), :func:`raw_csv` (opt-in full-rate traces), :func:`trace_csv` (one sweep: raw,
  filtered, voltage), :func:`qv_table_csv` (the Q-V table of a set page).
- :func:`sets_zip`: every set's workbook in one zip; :func:`safe_stem` a file name from an
  untrusted one; :func:`excel_text` the guard against formulas in text.

Helpers: :func:`recipe_json` (the recipe as loadable JSON), :func:`sets_from_names`
(group files into sets by their names), :func:`safe_sheet_name` (Excel's sheet-name
rules), :func:`split_outcomes` (entries and failures from an analysis).

An :class:`ExportEntry` is one analysed sweep with its file's name, SHA-256 and size.
Failures are ``(file, sweep, error)`` tuples with the sweep 1-based (as users count
and as :func:`signal_core.analysis.batch.result_row` writes it) or None when the whole file
failed; :class:`~signal_core.analysis.pipeline.SweepFailure` objects are accepted as well.
"""

from __future__ import annotations

from collections.abc import Sequence

from signal_core.analysis.pipeline import ChargeResult, SweepFailure
from signal_core.export.csv import (
    curves_csv,
    excel_text,
    qv_table_csv,
    raw_csv,
    results_csv,
    results_long_csv,
    trace_csv,
)
from signal_core.export.data import ExportEntry, Failure, block_mean
from signal_core.export.files import safe_stem, set_workbook_name, sets_zip
from signal_core.export.set_workbook import file_sheet_stem, set_workbook, sets_from_names
from signal_core.export.workbook import MAX_CHARTED_ENTRIES, MAX_RAW_ROWS, analysis_workbook
from signal_core.export.xlsx import safe_sheet_name
from signal_core.params import AnalysisParams

__all__ = [
    "MAX_CHARTED_ENTRIES",
    "MAX_RAW_ROWS",
    "ExportEntry",
    "Failure",
    "analysis_workbook",
    "block_mean",
    "curves_csv",
    "excel_text",
    "file_sheet_stem",
    "qv_table_csv",
    "raw_csv",
    "recipe_json",
    "results_csv",
    "results_long_csv",
    "safe_sheet_name",
    "safe_stem",
    "set_workbook",
    "set_workbook_name",
    "sets_from_names",
    "sets_zip",
    "split_outcomes",
    "trace_csv",
]


def recipe_json(params: AnalysisParams) -> bytes:
    """The recipe as UTF-8 JSON (indented, newline at the end); ``AnalysisParams.from_json`` reads it back.

    Every number of the recipe keeps its unit in its name (``baseline_ms``, ``v_test_mV``,
    ``cutoff_hz``); the app's "Recipe (.json)" download and ``--recipe FILE`` use this form.

    Examples
    --------
    >>> import signal_core as sc
    >>> recipe = sc.AnalysisParams(filters=["butter:2000"], baseline_ms=4.0)
    >>> text = sc.recipe_json(recipe)
    >>> b'"baseline_ms": 4.0' in text, sc.AnalysisParams.from_json(text) == recipe
    (True, True)
    """
    return (params.to_json(indent=2) + "\n").encode("utf-8")


def split_outcomes(
    file_name: str, sha256: str, size_bytes: int, outcomes: Sequence[ChargeResult | SweepFailure]
) -> tuple[list[ExportEntry], list[Failure]]:
    """Entries for the analysed sweeps of one file and ``(file, sweep 1-based, error)`` for the others."""
    entries: list[ExportEntry] = []
    failures: list[Failure] = []
    for o in outcomes:
        if isinstance(o, SweepFailure):
            failures.append((file_name, o.sweep + 1, o.error))
        else:
            entries.append(ExportEntry(file_name, sha256, int(size_bytes), o))
    return entries, failures
