"""ATF reader and writer: the real sample, every variant of DOMAIN.md section 7, broken files.

Variant files are built here, by hand, from known arrays (never with the writer under
test), so each expected value is the array the file was made from.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_core.io.atf import read_atf
from signal_core.io.atf_header import AtfFormatError
from signal_core.io.atf_writer import write_atf
from signal_core.recording import Recording
from tests.corpus import apply_byte_mutations

SAMPLE_SHA256 = "a14aaae1cd469c9c4ca51143df5d44e960f0e9b69185a94293cd22e26acdc99e"

N = 64
RNG = np.random.default_rng(20230405)
I_PA = np.round(RNG.normal(1965.0, 800.0, (3, N)), 2)  # three sweeps of current (pA)
V_MV = np.round(RNG.normal(-81.0, 0.3, (3, N)), 4)  # and of recorded voltage (mV)
FS = 100_000.0
T_S = np.arange(N) / FS

CLAMPFIT_RECORDS = (
    '"AcquisitionMode=Episodic Stimulation"',
    '"Comment="',
    '"YTop=20000,1000"',
    '"YBottom=-20000,-1000"',
    '"SyncTimeUnits=1000"',
    '"SweepStartTimesMS=4752.000"',
    '"SignalsExported=Im,I_MTest 1"',
    '"Signals="\t"Im"\t"I_MTest 1"',
)
TITLES = ("Time (s)", "Trace #1 (pA)", "Trace #1 (mV)")


def make_atf(columns, titles=TITLES, records=CLAMPFIT_RECORDS, *, sep="\t", eol="\n", pad="", line1=None,
             encoding="utf-8", bom=False, trailing=False, decimal=".", fmt=repr, n_columns=None) -> bytes:
    """An ATF file as text, built by hand: ``columns`` are the data columns in file order."""
    lines = [line1 or f"ATF{sep}1.0", f"{len(records)}{sep}{n_columns or len(titles)}    ", *records,
             sep.join(f'"{t}"' for t in titles)]
    for row in zip(*columns, strict=True):
        cells = [fmt(float(v)).replace(".", decimal) for v in row]
        lines.append((pad + sep + pad).join(cells) + (sep if trailing else ""))
    raw = (eol.join(lines) + eol).encode(encoding)
    return (b"\xef\xbb\xbf" if bom else b"") + raw


def one_sweep() -> list[np.ndarray]:
    return [T_S, I_PA[0], V_MV[0]]


def first_data_line(records=CLAMPFIT_RECORDS) -> int:
    return len(records) + 4  # line 1, line 2, the records, the titles


def assert_sweep0(rec: Recording, current=I_PA[0], voltage=V_MV[0]) -> None:
    assert rec.data.shape == (1, 2, N)
    assert np.array_equal(rec.current(0), current)
    assert np.array_equal(rec.voltage(0), voltage)
    assert rec.fs_hz == FS
    assert rec.channel_units == ("pA", "mV")
    assert (rec.current_channel, rec.voltage_channel) == (0, 1)


def refuse(data: bytes, line: int, *words: str, **kwargs) -> str:
    with pytest.raises(AtfFormatError, match=rf"^line {line}: ") as info:
        read_atf(data, **kwargs)
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# ----------------------------------------------------------------- the real recording
def test_real_recording_shape_rate_units_and_names(sample_path):
    rec = read_atf(sample_path)
    assert rec.data.shape == (1, 2, 109_999)
    assert rec.fs_hz == 100_000.0
    assert rec.channel_units == ("pA", "mV")
    assert rec.channel_names == ("Im", "I_MTest 1")
    assert (rec.current_channel, rec.voltage_channel) == (0, 1)
    assert rec.name == "202304_0521.atf"
    assert rec.file_format == "ATF 1.0"
    assert rec.sha256 == SAMPLE_SHA256
    assert rec.t0_s == 0.0
    assert rec.sweep_start_s == pytest.approx((4.752,))


def test_real_recording_header_records(sample_recording):
    keys = [k for k, _ in sample_recording.header]
    assert len(keys) == 8
    assert keys[0] == "AcquisitionMode"
    assert sample_recording.header_dict["AcquisitionMode"] == "Episodic Stimulation"
    assert sample_recording.header_dict["YTop"] == "20000,1000"
    assert sample_recording.header_dict["SignalsExported"] == "Im,I_MTest 1"
    assert sample_recording.comment == ""


def test_real_recording_values_match_the_file_head_and_an_independent_reader(sample_path, sample_recording):
    rec = sample_recording
    assert rec.current(0)[0] == 2946.17
    assert rec.voltage(0)[0] == -81.2073
    assert np.median(rec.voltage(0)) == pytest.approx(-81.0, abs=0.5)
    table = np.loadtxt(sample_path, skiprows=11)  # ATF line, counts line, 8 records, titles
    for column, values in ((1, rec.current(0)), (2, rec.voltage(0))):
        expected = table[:, column]
        assert values.size == expected.size
        assert values[0] == expected[0]
        assert values[-1] == expected[-1]
        assert values.mean() == pytest.approx(expected.mean(), rel=1e-12)
    assert rec.t_s[-1] == pytest.approx(table[-1, 0], abs=1e-12)


def test_real_recording_from_bytes_equals_from_path(sample_path, sample_bytes, sample_recording):
    from_path = read_atf(sample_path)
    assert np.array_equal(from_path.data, sample_recording.data)
    assert sample_recording.sha256 == from_path.sha256
    assert read_atf(sample_bytes).name == ""


# ----------------------------------------------------------------- variants (DOMAIN.md 7)
@pytest.mark.parametrize("sep", ["\t", ","])
def test_tab_and_comma_separators(sep):
    rec = read_atf(make_atf(one_sweep(), sep=sep))
    assert_sweep0(rec)
    assert rec.channel_names == ("Im", "I_MTest 1")


@pytest.mark.parametrize("sep", ["\t", ","])
def test_spaces_around_separators(sep):
    assert_sweep0(read_atf(make_atf(one_sweep(), sep=sep, pad="  ")))


def test_crlf_line_ends():
    data = make_atf(one_sweep(), eol="\r\n")
    assert b"\r\n" in data
    rec = read_atf(data)
    assert_sweep0(rec)
    assert rec.header_dict["Comment"] == ""


def test_cr_only_line_ends():
    assert_sweep0(read_atf(make_atf(one_sweep(), eol="\r")))


def test_utf8_bom():
    rec = read_atf(make_atf(one_sweep(), bom=True))
    assert_sweep0(rec)
    assert rec.header[0] == ("AcquisitionMode", "Episodic Stimulation")


def test_utf16_text_is_read():
    text = make_atf(one_sweep()).decode("utf-8")
    assert_sweep0(read_atf(text.encode("utf-16")))


def test_latin1_micro_ampere_unit():
    micro = np.round(I_PA[0] * 1e-3, 5)  # values as written in the file (uA)
    data = make_atf([T_S, micro, V_MV[0]], titles=("Time (s)", "Trace #1 (µA)", "Trace #1 (mV)"),
                    records=('"Comment=cell 3 µ-electrode"',), encoding="latin-1")
    assert "µ".encode("latin-1") in data and "µ".encode() not in data
    rec = read_atf(data)
    assert rec.channel_units == ("pA", "mV")
    np.testing.assert_allclose(rec.current(0), micro * 1e6, rtol=1e-12)
    assert rec.comment == "cell 3 µ-electrode"


def test_cp1252_text():
    data = make_atf(one_sweep(), records=('"Comment=20 °C – 5 µM TTX"',), encoding="cp1252")
    assert b"\x96" in data  # the en dash, which only cp1252 has
    rec = read_atf(data)
    assert_sweep0(rec)
    assert rec.comment == "20 °C – 5 µM TTX"


def test_time_in_ms():
    t_ms = np.arange(N) / 100.0  # 10 us steps written in ms
    rec = read_atf(make_atf([t_ms, I_PA[0], V_MV[0]], titles=("Time (ms)", *TITLES[1:])))
    assert_sweep0(rec)


def test_equals_sign_inside_a_comment_survives():
    records = ('"Comment=Rs=14 MOhm; Cm = 0.8 nF"', '"Signals="\t"Im"\t"Vm"')
    rec = read_atf(make_atf(one_sweep(), records=records))
    assert rec.header[0] == ("Comment", "Rs=14 MOhm; Cm = 0.8 nF")
    assert rec.comment == "Rs=14 MOhm; Cm = 0.8 nF"
    assert rec.channel_names == ("Im", "Vm")


def test_no_signals_record_names_come_from_the_units():
    rec = read_atf(make_atf(one_sweep(), records=('"Comment=x"',)))
    assert_sweep0(rec)
    assert rec.channel_names == ("current", "voltage")


def test_zero_header_records():
    rec = read_atf(make_atf(one_sweep(), records=()))
    assert_sweep0(rec)
    assert rec.header == ()


def test_no_time_column_needs_the_sampling_rate():
    data = make_atf([I_PA[0], V_MV[0]], titles=TITLES[1:], records=())
    rec = read_atf(data, fs_hz=20_000.0)
    assert rec.fs_hz == 20_000.0
    assert np.array_equal(rec.current(0), I_PA[0])
    assert np.array_equal(rec.voltage(0), V_MV[0])
    refuse(data, 3, "no time column", "fs_hz")


def test_the_files_own_time_column_wins_over_fs_hz():
    assert read_atf(make_atf(one_sweep()), fs_hz=20_000.0).fs_hz == FS


@pytest.mark.parametrize("sep", ["\t", ","])
def test_trailing_separator_on_every_row(sep):
    assert_sweep0(read_atf(make_atf(one_sweep(), sep=sep, trailing=True)))


def test_atf_1_0_with_a_space_on_line_1():
    assert_sweep0(read_atf(make_atf(one_sweep(), line1="ATF 1.0")))


def test_16_khz_non_integer_sample_interval():
    t = np.arange(N) / 16_000.0  # 62.5 us
    rec = read_atf(make_atf([t, I_PA[0], V_MV[0]]))
    assert rec.fs_hz == 16_000.0
    assert rec.dt_s == 62.5e-6


def test_16_khz_with_time_written_to_6_digits():
    n = 16_000  # one second: times such as 0.999938 carry rounding of up to 0.8 % of a sample
    t = np.arange(n) / 16_000.0
    data = make_atf([t, np.zeros(n), np.full(n, -80.0)], fmt=lambda v: f"{v:.6g}")
    assert b"\n0.999938\t" in data
    assert read_atf(data).fs_hz == 16_000.0


@pytest.mark.parametrize("sep", ["\t", ";"])
def test_decimal_commas(sep):
    data = make_atf(one_sweep(), sep=sep, decimal=",", records=('"Comment=x"',))
    assert b"2946" not in data and b"," in data.split(b"\n")[5]
    assert_sweep0(read_atf(data))


def test_decimal_commas_with_comma_separators_are_refused():
    data = make_atf(one_sweep(), sep=",", decimal=",", records=())
    refuse(data, 4, "decimal commas")


def test_decimal_points_mixed_with_decimal_commas_are_refused():
    data = make_atf(one_sweep(), records=()).replace(b"\t-81.", b"\t-81,", 1)
    refuse(data, 4, "decimal")


def multi_sweep_columns() -> list[np.ndarray]:
    columns = [T_S]
    for s in range(3):
        columns += [I_PA[s], V_MV[s]]
    return columns


MULTI_TITLES = ("Time (s)", "Trace #1 (pA)", "Trace #1 (mV)", "Trace #2 (pA)", "Trace #2 (mV)",
                "Trace #3 (pA)", "Trace #3 (mV)")


def test_clampfit_multi_sweep_layout_three_sweeps_two_signals():
    records = ('"AcquisitionMode=Episodic Stimulation"', '"SweepStartTimesMS=0.000,1000.000,2000.000"',
               '"SignalsExported=Im,Vm"', '"Signals="\t"Im"\t"Vm"')
    rec = read_atf(make_atf(multi_sweep_columns(), titles=MULTI_TITLES, records=records))
    assert rec.data.shape == (3, 2, N)
    for s in range(3):
        assert np.array_equal(rec.current(s), I_PA[s])
        assert np.array_equal(rec.voltage(s), V_MV[s])
    assert rec.channel_names == ("Im", "Vm")
    assert rec.sweep_start_s == pytest.approx((0.0, 1.0, 2.0))


def test_multi_sweep_without_signals_record_uses_the_trace_numbers():
    rec = read_atf(make_atf(multi_sweep_columns(), titles=MULTI_TITLES, records=()))
    assert rec.data.shape == (3, 2, N)
    assert np.array_equal(rec.voltage(2), V_MV[2])


def test_signals_record_with_one_name_per_data_column():
    records = ('"Signals="\t' + "\t".join(['"Im"\t"Vm"'] * 3),)
    rec = read_atf(make_atf(multi_sweep_columns(), titles=MULTI_TITLES, records=records))
    assert rec.data.shape == (3, 2, N)
    assert rec.channel_names == ("Im", "Vm")


def test_a_time_column_per_sweep():
    columns, titles = [], []
    for s in range(3):
        columns += [T_S, I_PA[s], V_MV[s]]
        titles += ["Time (s)", f"Trace #{s + 1} (pA)", f"Trace #{s + 1} (mV)"]
    rec = read_atf(make_atf(columns, titles=titles, records=()))
    assert rec.data.shape == (3, 2, N)
    for s in range(3):
        assert np.array_equal(rec.current(s), I_PA[s])
    assert rec.fs_hz == FS and rec.t0_s == 0.0


def test_a_time_column_per_sweep_with_running_time_gives_the_sweep_starts():
    columns, titles = [], []
    for s in range(2):
        columns += [s * 0.5 + T_S, I_PA[s], V_MV[s]]
        titles += ["Time (s)", "Im (pA)", "Vm (mV)"]
    rec = read_atf(make_atf(columns, titles=titles, records=()))
    assert rec.data.shape == (2, 2, N)
    assert rec.channel_names == ("Im", "Vm")
    assert rec.sweep_start_s == pytest.approx((0.0, 0.5))
    assert np.array_equal(rec.voltage(1), V_MV[1])


def test_time_columns_per_sweep_that_disagree_on_the_rate_are_refused():
    columns = [T_S, I_PA[0], V_MV[0], T_S * 2, I_PA[1], V_MV[1]]
    titles = ["Time (s)", "Trace #1 (pA)", "Trace #1 (mV)", "Time (s)", "Trace #2 (pA)", "Trace #2 (mV)"]
    refuse(make_atf(columns, titles=titles, records=()), 3, "sampling rate")


def test_nanoampere_and_volt_are_converted():
    current_nA = np.round(I_PA[0] / 1000.0, 5)
    voltage_V = np.round(V_MV[0] / 1000.0, 7)
    rec = read_atf(make_atf([T_S, current_nA, voltage_V], titles=("Time (s)", "Trace #1 (nA)", "Trace #1 (V)")))
    assert rec.channel_units == ("pA", "mV")
    np.testing.assert_allclose(rec.current(0), current_nA * 1e3, rtol=1e-12)
    np.testing.assert_allclose(rec.voltage(0), voltage_V * 1e3, rtol=1e-12)


def test_unknown_units_keep_their_text():
    rec = read_atf(make_atf([T_S, I_PA[0], V_MV[0]], titles=("Time (s)", "Trace #1 (pA)", "Trace #1 (Ohm)")))
    assert rec.channel_units == ("pA", "Ohm")
    assert rec.voltage_channel is None
    assert np.array_equal(rec.data[0, 1], V_MV[0])


# ----------------------------------------------------------------- broken files
def test_line_2_column_count_disagrees_with_the_titles():
    data = make_atf(one_sweep(), n_columns=4)
    message = refuse(data, 2, "4 data columns", "line 11", "has 3")
    assert "column-title line" in message


def test_line_2_not_two_numbers():
    data = make_atf(one_sweep()).replace(b"8\t3", b"8 three", 1)
    refuse(data, 2, "two whole numbers")


def test_fewer_header_records_than_promised():
    records = CLAMPFIT_RECORDS[:7]  # promise 8, give 7: the title line lands where record 8 should be
    data = make_atf(one_sweep(), records=records).replace(b"7\t3", b"8\t3", 1)
    refuse(data, 10, "promises 8 header records", "only 7")


def test_more_header_records_than_promised():
    data = make_atf(one_sweep()).replace(b"8\t3", b"7\t3", 1)
    refuse(data, 10, "column titles", "only 7")


def test_file_ends_inside_the_header():
    refuse(b"ATF\t1.0\n8\t3\n\"Comment=\"\n", 4, "ends after 1 header records")


def test_non_numeric_cell_names_line_column_and_text():
    columns = one_sweep()
    data = make_atf(columns, fmt=repr).replace(b"\t" + repr(float(I_PA[0][5])).encode() + b"\t", b"\t12a.5\t", 1)
    line = first_data_line() + 5
    refuse(data, line, "column 2", "'12a.5'", "not a number")


@pytest.mark.parametrize("text", ["NaN", "nan", "inf", "-Infinity", "1e400"])
def test_nan_and_inf_are_refused(text):
    data = make_atf(one_sweep())
    lines = data.split(b"\n")
    row = first_data_line() + 9
    cells = lines[row - 1].split(b"\t")
    cells[2] = text.encode()
    lines[row - 1] = b"\t".join(cells)
    refuse(b"\n".join(lines), row, "column 3", text)


def test_nan_is_refused_with_trailing_separators_too():
    data = make_atf(one_sweep(), trailing=True)
    target = repr(float(V_MV[0][3])).encode()
    data = data.replace(b"\t" + target + b"\t\n", b"\tNaN\t\n", 1)
    refuse(data, first_data_line() + 3, "NaN", "not a finite number")


def test_empty_cell_is_refused():
    data = make_atf(one_sweep())
    target = b"\t" + repr(float(I_PA[0][7])).encode() + b"\t"
    refuse(data.replace(target, b"\t\t", 1), first_data_line() + 7, "column 2", "empty")


def test_non_uniform_time_a_missing_sample():
    t = np.delete(np.arange(N + 1) / FS, 20)
    data = make_atf([t, I_PA[0], V_MV[0]])
    refuse(data, first_data_line() + 20, "jumps from 0.00019 to 0.00021 s", "not uniform")


def test_non_monotonic_time():
    t = T_S.copy()
    t[[30, 31]] = t[[31, 30]]
    refuse(make_atf([t, I_PA[0], V_MV[0]]), first_data_line() + 31, "goes backwards")


def test_repeated_time():
    t = T_S.copy()
    t[40] = t[39]
    refuse(make_atf([t, I_PA[0], V_MV[0]]), first_data_line() + 40, "repeats")


def test_slowly_drifting_time_is_not_uniform():
    t = T_S * (1 + 0.1 * np.arange(N) / N)  # the interval grows by 20 % over the sweep
    with pytest.raises(AtfFormatError, match="uniform"):
        read_atf(make_atf([t, I_PA[0], V_MV[0]]))


def test_one_wrong_time_at_the_end_is_named_not_the_first_row():
    t = T_S.copy()
    t[-1] = 1.0
    refuse(make_atf([t, I_PA[0], V_MV[0]]), first_data_line() + N - 1, "jumps", "1 s")


def test_trailing_separator_on_one_row_only():
    lines = make_atf(one_sweep()).split(b"\n")
    row = first_data_line() + 4
    lines[row - 1] += b"\t"
    refuse(b"\n".join(lines), row, "extra tab")


def test_a_time_step_too_small_for_a_sampling_rate_is_refused():
    data = b'ATF\t1.0\n0\t2\n"Time (s)"\t"Trace #1 (pA)"\n0\t1\n5e-324\t2\n'
    refuse(data, 4, "sampling rate")


def test_one_data_row_is_refused():
    data = make_atf([c[:1] for c in one_sweep()])
    refuse(data, first_data_line(), "1 data row", "at least 2")


def test_no_data_rows_is_refused():
    data = make_atf([c[:0] for c in one_sweep()])
    refuse(data, first_data_line(), "no data rows")


def test_empty_file():
    refuse(b"", 1, "not an ATF file", "empty")
    refuse(b"  \r\n\n", 1, "not an ATF file")


def test_binary_junk():
    junk = bytes(range(256)) * 4
    refuse(junk, 1, "not an ATF file")
    refuse(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 1, "not an ATF file")
    refuse(b"ABF2\x00\x00\x00\x00" * 8, 1, "not an ATF file", "ABF")


def test_nul_bytes_after_a_valid_start():
    data = make_atf(one_sweep())
    position = data.index(b"\n", data.index(b"Trace")) + 30
    line = data.count(b"\n", 0, position) + 1
    refuse(data[:position] + b"\x00\x00" + data[position:], line, "NUL")


def test_truncated_last_row():
    data = make_atf(one_sweep())
    cut = data.rstrip(b"\n")
    cut = cut[: cut.rindex(b"\t")] + b"\n"  # the last value is lost
    refuse(cut, first_data_line() + N - 1, "truncated")


def test_a_row_with_an_extra_value():
    lines = make_atf(one_sweep()).split(b"\n")
    row = first_data_line() + 12
    lines[row - 1] += b"\t1.5"
    refuse(b"\n".join(lines), row, "has 4 values", "3 data columns")


def test_blank_line_inside_the_data():
    lines = make_atf(one_sweep()).split(b"\n")
    row = first_data_line() + 12
    lines.insert(row - 1, b"")
    refuse(b"\n".join(lines), row, "empty")


def test_trailing_blank_lines_are_fine():
    assert_sweep0(read_atf(make_atf(one_sweep()) + b"\n\r\n  \n"))


def test_unsupported_version():
    refuse(make_atf(one_sweep(), line1="ATF\t2.0"), 1, "version 2.0")


def test_only_a_time_column():
    data = make_atf([T_S], titles=("Time (s)",), records=())
    refuse(data, 3, "no signal column")


# ----------------------------------------------------------------- properties
def check_read_or_refuse(data: bytes, **kwargs) -> None:
    try:
        rec = read_atf(data, **kwargs)
    except AtfFormatError as exc:
        assert str(exc).startswith("line "), str(exc)
        return
    assert isinstance(rec, Recording)
    assert np.isfinite(rec.data).all()
    assert math.isfinite(rec.fs_hz) and rec.fs_hz > 0
    assert rec.n_samples >= 2


VALID = make_atf([c[:6] for c in multi_sweep_columns()], titles=MULTI_TITLES,
                 records=('"Comment=a=b"', '"SweepStartTimesMS=0,1,2"', '"Signals="\t"Im"\t"Vm"'))


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(lambda b: b"ATF\t1.0\n" + b)))
def test_arbitrary_bytes_are_read_or_refused(data):
    check_read_or_refuse(data)


mutation = st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.integers(0, len(VALID) - 1),
                     st.binary(min_size=1, max_size=4) | st.sampled_from([b"\t", b",", b"\n", b"\r", b'"', b"=",
                                                                          b".", b"-", b"e", b"nan", b" "]))


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4), st.sampled_from([None, 1000.0]))
def test_mutated_valid_files_are_read_or_refused(mutations, fs_hz):
    check_read_or_refuse(apply_byte_mutations(VALID, mutations), fs_hz=fs_hz)


# ----------------------------------------------------------------- writer
def known_recording() -> Recording:
    fs = 16_000.0
    n = 500
    t = np.arange(n) / fs
    data = np.empty((3, 2, n))
    for s in range(3):
        data[s, 0] = 1965.0 + 400.0 * np.exp(-t / 0.0098) * (s + 1) + 37.123456789 * np.sin(2e3 * t)
        data[s, 1] = np.where((t > 0.005) & (t < 0.02), -101.25, -81.0)
    return Recording(data=data, fs_hz=fs, channel_names=("Im", "I_MTest 1"), channel_units=("pA", "mV"),
                     current_channel=0, voltage_channel=1, sweep_start_s=(0.0, 1.5, 3.0),
                     header=(("Comment", "Rs=14 MOhm"),), name="x.atf")


@pytest.mark.parametrize(("time_unit", "sep"), [("s", "\t"), ("ms", "\t"), ("s", ",")])
def test_write_atf_round_trip(time_unit, sep):
    rec = known_recording()
    raw = write_atf(rec, time_unit=time_unit, sep=sep)
    assert raw.startswith(f"ATF{sep}1.0\n".encode())
    assert f'"Time ({time_unit})"'.encode() in raw
    back = read_atf(raw, name="x.atf")
    assert back.data.shape == rec.data.shape
    np.testing.assert_allclose(back.data, rec.data, rtol=5e-7, atol=0)
    assert back.fs_hz == rec.fs_hz
    assert back.channel_names == rec.channel_names
    assert back.channel_units == rec.channel_units
    assert (back.current_channel, back.voltage_channel) == (0, 1)
    assert back.sweep_start_s == pytest.approx(rec.sweep_start_s)
    assert back.comment == "Rs=14 MOhm"
    keys = [k for k, _ in back.header]
    assert {"AcquisitionMode", "Comment", "SweepStartTimesMS", "SignalsExported", "Signals"} <= set(keys)


def test_write_atf_of_the_real_recording_reads_back_identically(sample_recording):
    back = read_atf(write_atf(sample_recording))
    assert np.array_equal(back.data, sample_recording.data)  # 6-digit values survive 7 digits exactly
    assert back.fs_hz == sample_recording.fs_hz
    assert back.channel_names == sample_recording.channel_names


def test_write_atf_rejects_unknown_options():
    with pytest.raises(ValueError, match="time_unit"):
        write_atf(known_recording(), time_unit="min")
    with pytest.raises(ValueError, match="sep"):
        write_atf(known_recording(), sep=";")


# ------------------------------------------------------------ a last row without a line end
def fixed_format(decimals: int):
    return lambda v: f"{v:.{decimals}f}"


@pytest.mark.parametrize("eol", ["\n", "\r\n"])
def test_complete_last_row_without_line_end_is_read(eol):
    """pyABF's ATF writer ends its files so: every cell there and printed like its column above."""
    data = make_atf(one_sweep(), eol=eol, fmt=fixed_format(5))
    rec = read_atf(data.rstrip(b"\r\n"))
    assert rec.n_samples == N
    assert np.array_equal(rec.data, read_atf(data).data)
    assert np.allclose(rec.current(0), np.round(I_PA[0], 5), rtol=0, atol=1e-9)


def test_last_row_printed_shorter_than_its_column_is_refused():
    data = make_atf(one_sweep(), fmt=fixed_format(5)).rstrip(b"\n")
    refuse(data[:-2], first_data_line() + N - 1, "truncated")  # 2 of the 5 decimals of the last value lost


def test_last_row_missing_a_value_or_cut_inside_a_number_is_refused():
    data = make_atf(one_sweep(), fmt=fixed_format(4)).rstrip(b"\n")
    last_value = data[data.rindex(b"\t") + 1:]
    assert last_value.startswith(b"-") and len(last_value) == 8  # -81.xxxx mV
    refuse(data[: data.rindex(b"\t")], first_data_line() + N - 1, "truncated")  # the last value lost
    refuse(data[:-7], first_data_line() + N - 1, "truncated")  # only its sign left
    refuse(data[:-4] + b"e", first_data_line() + N - 1, "truncated")  # cut inside an exponent


def test_last_row_cannot_be_judged_when_its_column_varies():
    """repr() prints a varying number of decimals: nothing shows that the last value is whole."""
    data = make_atf(one_sweep()).rstrip(b"\n")
    refuse(data, first_data_line() + N - 1, "truncated")
