"""signal_core: the science of Signal Analyzer, usable without any UI.

Read a recording, find its protocol, filter it, and measure linear capacitance, passive
parameters and charge movement, then fit Q(V) over a set and write the lab's workbooks.
Units: time s (ms on screen), current pA, voltage mV, charge pC, capacitance nF,
resistance MOhm.

The public API is this module's names (``import signal_core as sc``)::

    import signal_core as sc
    rec = sc.read_recording("202304_0521.atf")
    res = sc.analyze_sweep(rec, 0, sc.AnalysisParams(filters=[sc.FilterSpec.parse("butter:2000")]))

They are imported on first use, so ``import signal_core`` stays light (the command line
starts without loading SciPy or the exporters it does not need). The subpackages hold
everything else: :mod:`signal_core.io` (ATF, ABF, limits), :mod:`signal_core.protocol`,
:mod:`signal_core.filters`, :mod:`signal_core.analysis`, :mod:`signal_core.export`,
:mod:`signal_core.store`.

Examples
--------
>>> import signal_core as sc
>>> demo = sc.demo_recording()          # a simulated cell: C_m 0.7 nF, R_s 14 MOhm
>>> res = sc.analyze_sweep(demo.recording, 0)
>>> round(res.r_s_MOhm)
14
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: The one source of the version: pyproject.toml reads it (``version = {attr = ...}``),
#: the app shows it and every saved analysis and workbook records it.
__version__ = "0.1.0"

#: public name -> the module that defines it
_PUBLIC: dict[str, str] = {
    "read_recording": "signal_core.io.read",
    "Recording": "signal_core.recording",
    "AnalysisParams": "signal_core.params",
    "FilterSpec": "signal_core.filters.specs",
    "analyze_sweep": "signal_core.analysis.pipeline",
    "analyze_recording": "signal_core.analysis.pipeline",
    "ChargeResult": "signal_core.analysis.pipeline",
    "SweepFailure": "signal_core.analysis.pipeline",
    "analyze_files": "signal_core.parallel",
    "qv_points": "signal_core.sets",
    "fit_sets": "signal_core.sets",
    "QvPoint": "signal_core.sets",
    "fit_qv": "signal_core.qv",
    "QvFit": "signal_core.qv",
    "ExportEntry": "signal_core.export",
    "analysis_workbook": "signal_core.export",
    "set_workbook": "signal_core.export",
    "results_csv": "signal_core.export",
    "curves_csv": "signal_core.export",
    "recipe_json": "signal_core.export",
    "demo_recording": "signal_core.synthetic",
    "SignalCoreError": "signal_core.errors",
}

__all__ = [  # a literal list (linters read it); tests/test_public_api.py checks it matches _PUBLIC
    "AnalysisParams",
    "ChargeResult",
    "ExportEntry",
    "FilterSpec",
    "QvFit",
    "QvPoint",
    "Recording",
    "SignalCoreError",
    "SweepFailure",
    "__version__",
    "analysis_workbook",
    "analyze_files",
    "analyze_recording",
    "analyze_sweep",
    "curves_csv",
    "demo_recording",
    "fit_qv",
    "fit_sets",
    "qv_points",
    "read_recording",
    "recipe_json",
    "results_csv",
    "set_workbook",
]

if TYPE_CHECKING:  # for editors and type checkers; at run time the names load on first use
    from signal_core.analysis.pipeline import ChargeResult, SweepFailure, analyze_recording, analyze_sweep
    from signal_core.errors import SignalCoreError
    from signal_core.export import (
        ExportEntry,
        analysis_workbook,
        curves_csv,
        recipe_json,
        results_csv,
        set_workbook,
    )
    from signal_core.filters.specs import FilterSpec
    from signal_core.io.read import read_recording
    from signal_core.parallel import analyze_files
    from signal_core.params import AnalysisParams
    from signal_core.qv import QvFit, fit_qv
    from signal_core.recording import Recording
    from signal_core.sets import QvPoint, fit_sets, qv_points
    from signal_core.synthetic import demo_recording


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'signal_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
