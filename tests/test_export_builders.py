"""Export builders that used to live in the app: the trace CSV, the Q-V table CSV, the set zip, names."""

from __future__ import annotations

import csv
import io
import math
import zipfile

import numpy as np
import pandas as pd
import pytest

from signal_core.export import excel_text, qv_table_csv, safe_stem, set_workbook_name, sets_zip, trace_csv
from signal_core.sets import QvPoint


def _point(**kw) -> QvPoint:
    base = dict(file="f1", sweep=1, v_test_mV=-20.0, v_source="voltage channel", v_name_mV=None, q_on_pC=3.5,
                q_off_pC=-3.25, q_off_over_on=-3.25 / 3.5, c_m_nF=0.7, q_on_per_c_m_nC_per_uF=5.0, flags=(),
                excluded=False, set_id="", note="")
    base.update(kw)
    return QvPoint(**base)


def test_trace_csv_reads_back_in_ms_pA_mV():
    fs = 10_000.0
    t_s = np.arange(200) / fs
    raw = 100.0 * np.sin(2 * np.pi * 50.0 * t_s)
    filt = raw / 2
    v = np.full(200, -80.0)
    data = trace_csv(t_s, raw, filt, v, header=["file: a\nb", "SHA-256: 00"])
    lines = data.decode("utf-8").splitlines()
    assert lines[:3] == ["# file: a b", "# SHA-256: 00", "t_ms,i_raw_pA,i_filtered_pA,v_mV"]
    df = pd.read_csv(io.BytesIO(data), comment="#")
    assert np.allclose(df["t_ms"], t_s * 1e3, atol=1e-6)  # 0.1 ms steps
    assert np.allclose(df["i_raw_pA"], raw, rtol=1e-5, atol=1e-4)
    assert np.allclose(df["i_filtered_pA"], filt, rtol=1e-5, atol=1e-4)
    assert (df["v_mV"] == -80.0).all()
    assert list(pd.read_csv(io.BytesIO(trace_csv(t_s, raw)), comment="#").columns) == ["t_ms", "i_raw_pA"]


def test_qv_table_csv_rows_and_columns():
    pts = [_point(), _point(file="f2", sweep=2, v_test_mV=None, q_off_over_on=math.nan, excluded=True,
                            set_id="B", note="V2 by hand", flags=("Q_off/Q_on is far from -1", "noisy"))]
    data = qv_table_csv(pts, names={"f1": "cell_0001_-20mV.atf", "f2": "cell_0002.atf"},
                        sha256={"f1": "ab" * 32}, flag_codes={("f2", 2): ["q_ratio", "noise"]})
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0] == ["exclude", "file", "sweep", "set", "V2 (mV)", "V2 from", "Q_on (pC)", "Q_off (pC)",
                       "Q_off/Q_on", "C_m (nF)", "Q_on/C_m (nC/µF)", "note", "flags", "flag messages", "SHA-256"]
    first, second = (dict(zip(rows[0], r)) for r in rows[1:])
    assert first["exclude"] == "false" and first["file"] == "cell_0001_-20mV.atf" and first["sweep"] == "1"
    assert float(first["V2 (mV)"]) == -20.0 and float(first["Q_off/Q_on"]) == -3.25 / 3.5  # full precision
    assert first["SHA-256"] == "ab" * 32 and first["flags"] == "" and first["set"] == ""
    assert second["exclude"] == "true" and second["V2 (mV)"] == "" and second["Q_off/Q_on"] == ""  # missing
    assert second["flags"] == "q_ratio, noise" and second["flag messages"] == "Q_off/Q_on is far from -1; noisy"
    assert second["set"] == "B" and second["note"] == "V2 by hand" and second["SHA-256"] == ""


def test_qv_table_csv_keeps_formulas_as_text():
    pts = [_point(file="=cmd|' /C calc'!A0", set_id="+B", note="@SUM(1)")]
    row = next(iter(list(csv.reader(io.StringIO(qv_table_csv(pts).decode("utf-8"))))[1:]))
    assert row[1] == "'=cmd|' /C calc'!A0" and row[3] == "'+B" and row[11] == "'@SUM(1)"
    raw = list(csv.reader(io.StringIO(qv_table_csv(pts, excel_safe=False).decode("utf-8"))))[1]
    assert raw[1] == "=cmd|' /C calc'!A0"


@pytest.mark.parametrize(("text", "shown"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-x", "'-x"), ("@a", "'@a"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("cell -20mV", "cell -20mV"), ("", ""), (None, ""),
])
def test_excel_text(text, shown):
    assert excel_text(text) == shown


def test_sets_zip_names_every_set_and_keeps_clashing_names_apart():
    data = sets_zip([("", b"unnamed"), ("B", b"b"), ("a/b", b"first"), ("a b", b"second")])
    z = zipfile.ZipFile(io.BytesIO(data))
    assert z.namelist() == ["set_unnamed_qv.xlsx", "set_B_qv.xlsx", "set_a_b_qv.xlsx", "set_a_b_qv-2.xlsx"]
    assert z.read("set_a_b_qv.xlsx") == b"first" and z.read("set_a_b_qv-2.xlsx") == b"second"
    assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in z.infolist())
    assert set_workbook_name("../x") == "set_x_qv.xlsx"


def test_safe_stem_keeps_only_safe_characters():
    assert safe_stem("../../etc/pa ss*wd.ATF") == "etc_pa_ss_wd"
    assert safe_stem("cell_0006_-20mV.abf") == "cell_0006_-20mV"
    assert safe_stem("***") == "recording" and safe_stem("***", "x") == "x"
    assert len(safe_stem("a" * 500)) == 80
