"""The orange curve is decimated only when asked for, and is then the decimated filtered current."""

from __future__ import annotations

import numpy as np
import pytest

from signal_core.analysis.batch import result_row
from signal_core.analysis.pipeline import analyze_sweep
from signal_core.filters.chain import apply_chain, decimate, decimated_time
from signal_core.params import AnalysisParams
from signal_core.synthetic import CellModel, simulate


@pytest.mark.parametrize("filters", [(), ("butter:2000",)])
def test_orange_is_computed_on_demand_and_right(filters):
    rec = simulate(CellModel(), v_tests_mV=(0.0,), seed=5, noise_pA=20.0).recording
    params = AnalysisParams(filters=filters)
    res = analyze_sweep(rec, 0, params)
    result_row("cell.atf", res)  # the numbers (analyze --json) do not need the curve
    assert "_curve" not in res.orange.__dict__
    factor = int(round(params.decimate_ms * 1e-3 * rec.fs_hz))
    i = apply_chain(rec.current(0), rec.fs_hz, params.filters) if params.filters else rec.current(0)
    want_i, _ = decimate(i, rec.fs_hz, factor)
    assert np.array_equal(res.i_orange_pA, want_i)
    assert np.array_equal(res.t_orange_s, decimated_time(rec.t_s, factor))
    assert np.median(np.diff(res.t_orange_s)) == pytest.approx(params.decimate_ms * 1e-3)
    assert res.i_orange_pA is res.i_orange_pA and not res.i_orange_pA.flags.writeable  # computed once
