"""The quantity table and what derives from it: result dict, row keys, export columns, cards, store columns."""

from __future__ import annotations

import dataclasses
import re

import pytest

from signal_core.analysis.batch import ROW_KEYS, result_row
from signal_core.analysis.pipeline import ChargeResult, analyze_sweep
from signal_core.params import AnalysisParams
from signal_core.quantities import CARD_QUANTITIES, QUANTITIES, QUANTITY_BY_KEY, quantity
from signal_core.store.schema import SCALAR_NAMES, analyses
from signal_core.synthetic import CellModel, simulate

#: how each unit is written at the end of a key
KEY_SUFFIX = {"Hz": "hz", "mV": "mV", "pC": "pC", "nF": "nF", "ms": "ms", "MOhm": "MOhm", "pA": "pA",
              "nC/uF": "nC_per_uF", "uF/cm^2": "uF_per_cm2"}


def test_keys_are_unique_and_carry_their_unit():
    keys = [q.key for q in QUANTITIES]
    names = [q.name for q in QUANTITIES]
    assert len(set(keys)) == len(keys) and len(set(names)) == len(names)
    for q in QUANTITIES:
        if q.unit:
            assert q.unit in KEY_SUFFIX, f"{q.key}: unit {q.unit!r} has no key suffix in this test"
            assert q.key == f"{q.name}_{KEY_SUFFIX[q.unit]}", q.key
        else:
            assert q.key == q.name, q.key


def test_every_entry_is_complete():
    for q in QUANTITIES:
        assert q.label and q.help.endswith(".") and len(q.help) > 20, q.key
        assert re.fullmatch(r"0(\.0+)?", q.num_format), (q.key, q.num_format)
        assert q.header == (f"{q.label} ({q.unit})" if q.unit else q.label)
        assert "uF" not in q.unit_display


def test_lookup_names_the_known_keys():
    assert quantity("q_on_pC") is QUANTITY_BY_KEY["q_on_pC"]
    with pytest.raises(KeyError, match="q_on_pC"):
        quantity("q_on")


def test_every_key_is_a_result_attribute():
    fields = {f.name for f in dataclasses.fields(ChargeResult)}
    for q in QUANTITIES:
        assert q.key in fields or isinstance(getattr(ChargeResult, q.key, None), property), q.key


@pytest.fixture(scope="module")
def result() -> ChargeResult:
    rec = simulate(CellModel(), v_tests_mV=(0.0,), seed=3).recording
    return analyze_sweep(rec, 0, AnalysisParams())


def test_result_dict_and_rows_follow_the_table(result):
    scalars = result.scalars()
    assert list(scalars) == [q.key for q in QUANTITIES]
    for q in QUANTITIES:
        assert scalars[q.key] is getattr(result, q.key) or scalars[q.key] == getattr(result, q.key)
    n = len(QUANTITIES)
    assert ROW_KEYS[:2 + n] == ("file", "sweep", *scalars) and ROW_KEYS[-1] == "error"
    assert "flags" in ROW_KEYS[2 + n:]
    row = result_row("cell.atf", result)
    assert list(row) == list(ROW_KEYS)
    assert row["q_on_pC"] == pytest.approx(result.q_on_pC) and row["sweep"] == 1


def test_cards_and_store_columns_come_from_the_table():
    assert CARD_QUANTITIES and all(q.card for q in CARD_QUANTITIES)
    assert [q.key for q in CARD_QUANTITIES] == [q.key for q in QUANTITIES if q.card]
    assert {"q_on_pC", "q_off_pC", "c_m_nF"} <= {q.key for q in CARD_QUANTITIES}
    assert QUANTITY_BY_KEY["q_on_per_c_m_nC_per_uF"].card_title == "Q_on/C_m (nC/µF)"
    assert SCALAR_NAMES == tuple(q.key for q in QUANTITIES if q.stored)
    column_keys = {c.key for c in analyses.columns}
    assert set(SCALAR_NAMES) <= column_keys  # a stored quantity needs its column (and a migration)


def test_a_file_without_result_has_the_same_row_keys():
    from signal_core.analysis.batch import error_row

    row = error_row("cell.atf", None, "cannot be opened")
    assert list(row) == list(ROW_KEYS) and row["error"] == "cannot be opened" and row["sweep"] is None
    assert all(row[q.key] is None for q in QUANTITIES) and row["flags"] == []
    assert all(row[k] == [] for k in ROW_KEYS if k.startswith("flag"))
