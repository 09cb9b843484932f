"""Time the ATF reader against a bare pandas parse and against pyABF, on the lab's sample file.

Run: ``python bench/bench_readers.py [path.atf]``.  Prints medians (ms) and the two ratios
the reader is held to: ours / bare pandas <= 1.3 and pyABF / ours >= 10.  It asserts
nothing about time (timings depend on the machine); it only checks the readers agree.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signal_core.io.atf import read_atf  # noqa: E402

SAMPLE = ROOT.parent / "shared" / "data" / "202304_0521.atf"
ROUNDS = 41  # read_atf and pandas, interleaved
PYABF_EVERY = 4  # pyABF is slow: time it every 4th round only


def data_section(raw: bytes) -> bytes:
    """The rows after the title line (line 2 gives the number of header records)."""
    lines = raw.split(b"\n", 3)
    n_records = int(lines[1].split()[0])
    return raw.split(b"\n", n_records + 3)[-1]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1e3, result


def main(path: Path = SAMPLE) -> None:
    import pyabf

    raw = path.read_bytes()
    body = data_section(raw)
    ours_ms, pandas_ms, pyabf_ms = [], [], []
    for _ in range(3):  # warm up imports and caches
        read_atf(raw)
        pd.read_csv(io.BytesIO(body), sep="\t", header=None, engine="c")
    for k in range(ROUNDS):
        ms, rec = timed(lambda: read_atf(raw))
        ours_ms.append(ms)
        ms, frame = timed(lambda: pd.read_csv(io.BytesIO(body), sep="\t", header=None, engine="c"))
        pandas_ms.append(ms)
        if k % PYABF_EVERY == 0:
            ms, atf = timed(lambda: pyabf.ATF(str(path)))
            pyabf_ms.append(ms)
    assert np.array_equal(rec.current(0), frame[1].to_numpy())  # same numbers, not a timing assert
    assert np.allclose(rec.current(0), np.asarray(atf.sweepY), rtol=1e-6)  # pyABF keeps float32

    ours, bare, slow = (statistics.median(x) for x in (ours_ms, pandas_ms, pyabf_ms))
    print(f"file: {path.name} ({len(raw) / 1e6:.2f} MB, {rec.n_samples} rows x {1 + rec.n_channels} columns)")
    print(f"read_atf(bytes)           median {ours:8.2f} ms  ({len(ours_ms)} runs)")
    print(f"pandas.read_csv (C), bare median {bare:8.2f} ms  ({len(pandas_ms)} runs)")
    print(f"pyabf.ATF(path)           median {slow:8.2f} ms  ({len(pyabf_ms)} runs)")
    print(f"ours / pandas = {ours / bare:.2f}  (target <= 1.3)")
    print(f"pyabf / ours  = {slow / ours:.1f}  (target >= 10)")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE)
