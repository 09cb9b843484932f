"""Time the readers: ATF against bare pandas and Arrow parses and pyABF, ABF against pyABF.

Run: ``python bench/bench_readers.py [path.atf]``.  Prints medians (ms) and the ratios the
readers are held to: ATF ours / bare pandas <= 1.3 and pyABF / ours >= 10; ABF ours /
``pyabf.ABF`` (loading the same file, data included) <= 3, on a real multi-sweep file
(../shared/data/abf/14o16001_vc_pair_step.abf, 13 sweeps x 2 channels) and on a generated
ABF1 of 2,000 sweeps x 1,000 samples, measured side by side (interleaved).  The ATF rows
also show what the reader's Arrow path costs over a bare Arrow parse, and ``read_atf`` with
that path turned off (pandas' path, which reads every file Arrow's does not); timed in one
process, pandas' path looks faster than it is in a fresh one (the allocator's state).  It
asserts nothing about time (timings depend on the machine); it only checks the readers agree.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.io import atf_data  # noqa: E402
from signal_core.io.abf import read_abf  # noqa: E402
from signal_core.io.atf import read_atf  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
REAL_ABF = ROOT.parent / "shared" / "data" / "abf" / "14o16001_vc_pair_step.abf"
ROUNDS = 41  # read_atf and pandas, interleaved
PYABF_EVERY = 4  # pyABF is slow: time it every 4th round only
ABF_ROUNDS = 15  # read_abf and pyabf.ABF, interleaved
GENERATED_SWEEPS, GENERATED_SAMPLES = 2000, 1000


def data_section(raw: bytes) -> bytes:
    """The rows after the title line (line 2 gives the number of header records)."""
    lines = raw.split(b"\n", 3)
    n_records = int(lines[1].split()[0])
    return raw.split(b"\n", n_records + 3)[-1]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1e3, result


def bare_arrow(body: bytes) -> list[np.ndarray]:
    """The tab-separated rows as float64 columns by Arrow's CSV reader alone (one block, one thread)."""
    n_columns = body[: body.find(b"\n")].count(b"\t") + 1
    names = [str(c) for c in range(n_columns)]
    table = pa_csv.read_csv(pa.py_buffer(body),
                            read_options=pa_csv.ReadOptions(column_names=names, use_threads=False,
                                                            block_size=len(body) + 1),
                            parse_options=pa_csv.ParseOptions(delimiter="\t"),
                            convert_options=pa_csv.ConvertOptions(column_types=dict.fromkeys(names, pa.float64())))
    return [table.column(c).to_numpy() for c in range(n_columns)]


def pandas_path(raw: bytes):
    """read_atf with its Arrow path turned off: every data section through pandas' path."""
    arrow = atf_data._read_arrow
    atf_data._read_arrow = lambda data, head: None
    try:
        return read_atf(raw)
    finally:
        atf_data._read_arrow = arrow


def main(path: Path = SAMPLE) -> None:
    import pyabf

    raw = path.read_bytes()
    body = data_section(raw)
    ours_ms, pandas_ms, arrow_ms, slow_path_ms, pyabf_ms = [], [], [], [], []
    for _ in range(3):  # warm up imports and caches
        read_atf(raw)
        pd.read_csv(io.BytesIO(body), sep="\t", header=None, engine="c")
        bare_arrow(body)
    for k in range(ROUNDS):
        ms, rec = timed(lambda: read_atf(raw))
        ours_ms.append(ms)
        ms, frame = timed(lambda: pd.read_csv(io.BytesIO(body), sep="\t", header=None, engine="c"))
        pandas_ms.append(ms)
        ms, columns = timed(lambda: bare_arrow(body))
        arrow_ms.append(ms)
        ms, via_pandas = timed(lambda: pandas_path(raw))
        slow_path_ms.append(ms)
        if k % PYABF_EVERY == 0:
            ms, atf = timed(lambda: pyabf.ATF(str(path)))
            pyabf_ms.append(ms)
    # same numbers, not timing asserts
    assert np.array_equal(rec.current(0), frame[1].to_numpy())
    assert np.array_equal(rec.current(0), columns[1])
    assert np.array_equal(rec.data, via_pandas.data)
    assert np.allclose(rec.current(0), np.asarray(atf.sweepY), rtol=1e-6)  # pyABF keeps float32

    ours, bare, arrow, slow_path, slow = (statistics.median(x) for x in (ours_ms, pandas_ms, arrow_ms, slow_path_ms,
                                                                           pyabf_ms))
    print(f"file: {path.name} ({len(raw) / 1e6:.2f} MB, {rec.n_samples} rows x {1 + rec.n_channels} columns)")
    print(f"read_atf(bytes)           median {ours:8.2f} ms  ({len(ours_ms)} runs)")
    print(f"pandas.read_csv (C), bare median {bare:8.2f} ms  ({len(pandas_ms)} runs)")
    print(f"Arrow read_csv, bare      median {arrow:8.2f} ms  ({len(arrow_ms)} runs)")
    print(f"read_atf, pandas' path    median {slow_path:8.2f} ms  ({len(slow_path_ms)} runs)")
    print(f"pyabf.ATF(path)           median {slow:8.2f} ms  ({len(pyabf_ms)} runs)")
    print(f"ours / pandas = {ours / bare:.2f}  (target <= 1.3)")
    print(f"ours / Arrow  = {ours / arrow:.2f}  (the checks, the time axis, the recording and its SHA-256)")
    print(f"pyabf / ours  = {slow / ours:.1f}  (target >= 10)")


def generated_abf(folder: Path) -> Path:
    """An ABF1 of 2,000 sweeps x 1,000 samples (pA, 20 kHz) written by pyABF's own writer."""
    import pyabf.abfWriter

    path = folder / "generated_2000_sweeps.abf"
    rng = np.random.default_rng(2000)
    sweeps = rng.normal(0.0, 50.0, (GENERATED_SWEEPS, GENERATED_SAMPLES))
    pyabf.abfWriter.writeABF1(sweeps, str(path), 20_000.0, units="pA")
    return path


def abf_row(label: str, path: Path) -> None:
    """Median read times of read_abf(path) and pyabf.ABF(path), interleaved, and the ratio."""
    import pyabf

    read_abf(path)  # warm up imports and the page cache
    pyabf.ABF(str(path))
    ours_ms, ref_ms = [], []
    for _ in range(ABF_ROUNDS):
        ms, rec = timed(lambda: read_abf(path))
        ours_ms.append(ms)
        ms, abf = timed(lambda: pyabf.ABF(str(path)))
        ref_ms.append(ms)
    for s in (0, abf.sweepCount - 1):  # same values, not a timing assert
        abf.setSweep(s, channel=0)
        assert np.array_equal(rec.channel(0, s), np.asarray(abf.sweepY, dtype=np.float64))
    ours, ref = statistics.median(ours_ms), statistics.median(ref_ms)
    print(f"{label}: {path.name} ({path.stat().st_size / 1e6:.2f} MB, {rec.n_sweeps} sweeps x "
          f"{rec.n_channels} channels x {rec.n_samples} samples)")
    print(f"  read_abf(path)   median {ours:8.2f} ms  ({len(ours_ms)} runs)")
    print(f"  pyabf.ABF(path)  median {ref:8.2f} ms  ({len(ref_ms)} runs)")
    print(f"  ours / pyabf = {ours / ref:.2f}  (target <= 3)")


def main_abf() -> None:
    import tempfile

    if REAL_ABF.is_file():
        abf_row("real ABF", REAL_ABF)
    else:
        print(f"real ABF: {REAL_ABF} is missing, row skipped")
    with tempfile.TemporaryDirectory() as folder:
        abf_row("generated ABF1", generated_abf(Path(folder)))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE)
    main_abf()
