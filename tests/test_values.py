"""The shared number helpers: finite-or-None, the user-facing number check, JSON clean-up."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

import signal_core.values
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.specs import FilterSpec
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.protocol.timing import ProtocolTiming
from signal_core.store.schema import scalars_from_results
from signal_core.values import MAX_QUOTE_CHARS, clean_json, finite_number, finite_or_none, is_real, quote


@pytest.mark.parametrize(("value", "expected"), [
    (1.5, 1.5), (-2, -2.0), (np.float32(0.25), 0.25), (np.int64(7), 7.0), (0.0, 0.0),
    (math.nan, None), (math.inf, None), (-math.inf, None), (10**400, None),
    (None, None), (True, None), ("1.5", None), (b"1", None), ([1.0], None),
])
def test_finite_or_none(value, expected):
    got = finite_or_none(value)
    assert got == expected and (got is None or type(got) is float)


def test_is_real_refuses_bools_and_text():
    assert is_real(3) and is_real(np.float64(1.0)) and not is_real(False) and not is_real("3") and not is_real(None)


@pytest.mark.parametrize(("value", "message"), [
    ("fast", "cutoff must be a number, got 'fast'"),
    (None, "cutoff must be a number, got None"),
    (True, "cutoff must be a number, got True"),
    (math.nan, "cutoff must be a finite number, got nan"),
    (-math.inf, "cutoff must be a finite number, got -inf"),
])
def test_finite_number_names_what_is_wrong(value, message):
    with pytest.raises(ParamsError) as info:
        finite_number(value, "cutoff", ParamsError)
    assert str(info.value) == message


def test_a_huge_value_is_not_repeated_in_the_message():
    text = "9" * 100_000
    with pytest.raises(ValueError) as info:
        finite_number(text, "baseline_ms")
    assert len(str(info.value)) < MAX_QUOTE_CHARS + 100 and "100,002 characters" in str(info.value)
    assert quote("ab") == "'ab'"


def test_every_module_uses_the_one_check():
    """The recipe, the filter specs and the protocol timings refuse the same inputs with the same words."""
    with pytest.raises(ParamsError, match="baseline_ms must be a number, got 'x'"):
        AnalysisParams.from_dict({"baseline_ms": "x"})
    with pytest.raises(FilterError, match=r"must be a finite number, got nan"):
        FilterSpec(kind="butter", cutoff_hz=math.nan)
    with pytest.raises(ProtocolError, match="protocol timing test_ms must be a number, got True"):
        ProtocolTiming(test_ms=True)


def test_clean_json_makes_valid_json():
    value = {"a": [1.0, math.nan, (math.inf, 2)], "b": "text", "c": None, "d": 3}
    cleaned = clean_json(value)
    assert cleaned == {"a": [1.0, None, [None, 2]], "b": "text", "c": None, "d": 3}
    json.dumps(cleaned, allow_nan=False)


def test_store_columns_take_only_finite_numbers():
    got = scalars_from_results(json.dumps([{"q_on_pC": 3.5, "q_off_pC": True, "c_m_nF": "0.7", "v_test_mV": -20}]))
    assert got == {"v_test_mV": -20.0, "q_on_pC": 3.5, "q_off_pC": None, "c_m_nF": None}


def test_docstring_examples_run():
    assert doctest.testmod(signal_core.values).failed == 0
