"""app.state.keep: a widget's value survives a page that does not draw it, and a recipe reset clears it."""

from __future__ import annotations

import pytest

from app import state
from signal_core.params import AnalysisParams


@pytest.fixture
def ss(monkeypatch):
    session: dict = {}
    monkeypatch.setattr(state, "_ss", lambda: session)
    return session


def test_keep_gives_the_default_then_the_last_value(ss):
    assert state.keep("ov_all", False) == "ov_all" and ss["ov_all"] is False
    ss["ov_all"] = True  # the user switched it on
    state.keep("ov_all", False)
    del ss["ov_all"]  # a page without the widget ran: Streamlit forgot it
    state.keep("ov_all", False)
    assert ss["ov_all"] is True


def test_forget_starts_again_from_the_default(ss):
    state.keep("qv_quantity", "q_on_pC")
    ss["qv_quantity"] = "minus_q_off_pC"
    state.keep("qv_quantity", "q_on_pC")
    state.forget("qv_quantity")
    assert state.keep("qv_quantity", "q_on_pC") == "qv_quantity" and ss["qv_quantity"] == "q_on_pC"


def test_a_recipe_reset_drops_the_kept_recipe_widgets_only(ss):
    ss[state.PARAMS] = AnalysisParams()
    for key, value in (("rp_baseline_ms", 7.0), ("flt_1_cutoff_hz", 900.0), ("ov_all", True)):
        state.keep(key, value)
    del ss["rp_baseline_ms"]  # forgotten by a page change, remembered in its copy
    state.set_params(AnalysisParams(baseline_ms=4.0), reset_widgets=True)
    assert state.keep("rp_baseline_ms", 4.0) and ss["rp_baseline_ms"] == 4.0  # the new recipe's value
    assert state.keep("flt_1_cutoff_hz", 2000.0) and ss["flt_1_cutoff_hz"] == 2000.0
    assert state.keep("ov_all", False) and ss["ov_all"] is True  # not a recipe widget: kept
