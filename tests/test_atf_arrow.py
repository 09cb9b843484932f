"""The ATF data section's two parsers agree: Arrow's fast path and pandas' path (``signal_core/io/atf_data.py``).

Arrow's CSV reader parses plain data sections; whatever it refuses goes to pandas' C parser,
which reads it or names the bad line.  These tests hold the fast path to three things: it is
taken on the lab's recording, its values are the correctly rounded float64 of every cell
(Python's ``float``, an independent conversion) and equal pandas' bit for bit, and on odd or
broken files ``read_atf`` gives what it gives with pandas' path alone (the same recording, or
the same error message).
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_core.io import atf_data
from signal_core.io.atf import read_atf
from signal_core.io.atf_header import AtfFormatError, _parse_head
from tests.corpus import apply_byte_mutations

HEADER = b'ATF\t1.0\n0\t3\n"Time (s)"\t"Trace #1 (pA)"\t"Trace #1 (mV)"\n'


def bits(columns: list[np.ndarray]) -> list[bytes]:
    return [np.ascontiguousarray(c, dtype=np.float64).tobytes() for c in columns]


def outcome(data: bytes, **kwargs) -> tuple:
    """What read_atf makes of ``data``: the samples' bits and the rate, or the error's message."""
    try:
        rec = read_atf(data, **kwargs)
    except AtfFormatError as exc:
        return "refused", str(exc)
    return "read", rec.data.shape, rec.data.tobytes(), rec.fs_hz, rec.t0_s


def pandas_only(monkeypatch: pytest.MonkeyPatch, data: bytes, **kwargs) -> tuple:
    with monkeypatch.context() as m:
        m.setattr(atf_data, "_read_arrow", lambda data, head: None)
        return outcome(data, **kwargs)


# ----------------------------------------------------------------- the lab's recording
def test_the_real_recording_takes_the_arrow_path_with_pandas_values(sample_bytes):
    head = _parse_head(sample_bytes, 0)
    fast = atf_data._read_arrow(sample_bytes, head)
    assert fast is not None, "the lab's recording must not fall back to pandas (the speed target counts on it)"
    assert bits(fast) == bits(atf_data._read_pandas(sample_bytes, head))
    assert [len(c) for c in fast] == [109_999] * 3  # ../shared/data/README.md: 109,999 samples, time and 2 signals


def test_the_real_recording_with_windows_line_ends_takes_the_arrow_path(sample_bytes):
    crlf = sample_bytes.replace(b"\n", b"\r\n")
    head = _parse_head(crlf, 0)
    fast = atf_data._read_arrow(crlf, head)
    assert fast is not None
    assert bits(fast) == bits(atf_data._read_arrow(sample_bytes, _parse_head(sample_bytes, 0)))


# ----------------------------------------------------------------- number formats
def printed(x: float, rng: random.Random) -> str:
    """``x`` printed one of the ways a program might print a sample."""
    kind = rng.randrange(9)
    if kind == 0:
        return repr(x)
    if kind == 1:
        return f"{x:.{rng.randint(1, 25)}e}"
    if kind == 2:
        return f"{x:.{rng.randint(0, 30)}f}"
    if kind == 3:
        return f"{x:.{rng.randint(1, 20)}g}".upper()
    if kind == 4:
        return " " + f"{x:g}" + "  "  # spaces around a number
    if kind == 5:
        return "00" + f"{abs(x):.{rng.randint(0, 25)}f}"
    if kind == 6:  # tiny, huge and subnormal magnitudes
        return f"{x * 10.0 ** rng.randint(-330, 300):.{rng.randint(1, 20)}e}"
    if kind == 7:  # more digits than a float64 holds
        return "".join(rng.choice("0123456789") for _ in range(rng.randint(16, 40))) + f"e-{rng.randint(0, 340)}"
    return "+" + f"{abs(x):.6g}" if x > 0 else "-0"


def test_every_number_format_is_rounded_correctly_and_as_pandas_rounds_it():
    rng = random.Random(20240611)
    rows = []
    for i in range(3000):
        cell = printed(rng.gauss(0.0, 10.0 ** rng.uniform(-8, 6)), rng)
        rows.append((f"{i * 1e-4:g}", cell, f"{-80 + rng.random():.4f}"))
    data = HEADER + "".join("\t".join(r) + "\n" for r in rows).encode()
    head = _parse_head(data, 0)
    fast = atf_data._read_arrow(data, head)
    assert fast is not None
    expected = np.array([float(r[1]) for r in rows])  # Python rounds to the nearest float64
    assert fast[1].tobytes() == expected.tobytes()
    assert bits(fast) == bits(atf_data._read_pandas(data, head))


# ----------------------------------------------------------------- what goes to pandas
@pytest.mark.parametrize("body", [
    b"0\t1\t2\n1e-4\tNA\t2\n",  # a missing-value word
    b"0\t1\t2\n1e-4\tnan\t2\n",  # read by Arrow as NaN: not finite
    b"0\t1\t2\n1e-4\t-inf\t2\n",
    b"0\t1\t2\n1e-4\t1e999\t2\n",  # beyond float64
    b"0\t1\t2\n1e-4\t\t2\n",  # an empty cell
    b"0\t1\t2\n1e-4\t1\n",  # a short row
    b"0\t1\t2\n\n1e-4\t1\t2\n",  # a blank line
    b"0\t1\t2\n1e-4\t1\t2\t\n",  # one row with a separator at its end
    b"0\t1\t2\n1e-4\t1\x0c\t2\n",  # a form feed, which pandas skips and Arrow does not
    b"0\t1,5\t2\n1e-4\t1,5\t2\n",  # decimal commas
    b"0\t1\t2\t\n1e-4\t1\t2\t\n",  # every row ends with a separator
    b"\xef\xbb\xbf0\t1\t2\n1e-4\t1\t2\n",  # a byte-order mark before the rows
    b'0\t"1"\t2\n1e-4\t1\t2\n',  # quotes
])
def test_what_arrow_does_not_read_goes_to_pandas_unchanged(monkeypatch, body):
    data = HEADER + body
    assert atf_data._read_arrow(data, _parse_head(data, 0)) is None
    assert outcome(data) == pandas_only(monkeypatch, data)


def test_large_and_wide_data_sections_go_to_pandas(monkeypatch):
    data = HEADER + b"".join(b"%g\t%d\t-80\n" % (k * 1e-4, k) for k in range(200))
    head = _parse_head(data, 0)
    assert atf_data._read_arrow(data, head) is not None
    monkeypatch.setattr(atf_data, "ARROW_MAX_BODY_BYTES", head.body_end - head.body_start - 1)
    assert atf_data._read_arrow(data, head) is None
    monkeypatch.undo()
    monkeypatch.setattr(atf_data, "ARROW_MAX_COLUMNS", 2)
    assert atf_data._read_arrow(data, head) is None


@pytest.mark.parametrize("body", [
    b"0\t1\t2\r\n1e-4\t1\t2\r\n",  # Windows line ends
    b"0\t1\t2\r1e-4\t1\t2\r",  # a lone CR ends a row for both parsers
    b"0\t1\t2\r\n1e-4\t1\r\t2\n",  # a CR inside a row
    b"0\t1\t2\r\r\n1e-4\t1\t2\n",  # CR CR LF: an empty row between
    b"0\t1\t2\n1e-4\t1\t2\r\n2e-4\t1\t2\n",  # one CR LF among LFs
    b"0\t1\t2\n1e-4\t1 \r\t2\n",
])
def test_carriage_returns_give_what_pandas_gives(monkeypatch, body):
    data = HEADER + body
    assert outcome(data) == pandas_only(monkeypatch, data)


VALID = HEADER + b"".join(b"%g\t%.2f\t%.4f\n" % (k * 1e-4, 1965.0 + 7.3 * k, -80.0 - 0.01 * k) for k in range(12))
CHUNKS = [b"\t", b"\n", b"\r", b"\r\n", b" ", b"-", b"+", b".", b"e", b"E", b"nan", b"inf", b"NA", b"1e400", b"1e-400",
          b"\x0b", b"\x0c", b'"', b",", b"\xef\xbb\xbf", b"0", b"12345678901234567890", b"\xff", b"#"]
mutation = st.tuples(st.sampled_from(["replace", "insert", "delete"]), st.integers(len(HEADER), len(VALID) - 1),
                     st.sampled_from(CHUNKS) | st.binary(min_size=1, max_size=3))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_data_rows_give_what_pandas_gives(monkeypatch, mutations):
    data = apply_byte_mutations(VALID, mutations)
    assert outcome(data, fs_hz=1000.0) == pandas_only(monkeypatch, data, fs_hz=1000.0)
