"""The recipe form draws every filter kind from the kind table: one widget per field, values into the chain."""

from __future__ import annotations

import pytest
from app_helpers import click, new_app, no_errors, upload

from app import state
from signal_core.filters.kinds import KINDS, filter_kind

SAMPLE = "202304_0521.atf"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_gets_its_widgets_and_reaches_the_recipe(sample_bytes, kind):
    at = new_app()
    upload(at, (SAMPLE, sample_bytes))
    at.switch_page("pages/2_explore.py").run()
    at.selectbox(key="chain_new_kind").set_value(kind).run()
    click(at, "Add")
    no_errors(at)
    (row,) = at.session_state[state.CHAIN]
    entry = filter_kind(kind)
    keys = {w.key for w in (*at.number_input, *at.selectbox, *at.radio)}
    assert {f"flt_{row['id']}_{f.widget_key}" for f in entry.fields} <= keys
    (spec,) = at.session_state[state.PARAMS].filters
    assert spec.kind == kind and spec.to_dict() == {"kind": kind, "enabled": True, **entry.defaults}
