"""Valid but dense recordings near the upload limit, for the memory governor's tests and the capacity bench.

:func:`dense_atf` writes a Clampfit-style ATF of ``n_sweeps`` sweeps (current and voltage columns per
sweep, as ``tests/corpus.py`` lays them out) whose cells are as short as a real file's can be: the
voltage in whole mV (``-80``, ``-100``, ``-20``: holding, two control steps, a test pulse, as in the
lab's sample) and the current as one or two digits of noise.  At ~3.4 bytes per value a 50 MB
file holds ~15 million values: ~120 MB as float64, the most a file under the upload limit makes the
server hold, short of numbers of one character.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dense_atf"]

MB = 2**20


def dense_atf(target_bytes: int = 49 * MB, *, fs_hz: float = 20_000.0, sweep_ms: float = 650.0,
              seed: int = 0) -> bytes:
    """An ATF of about ``target_bytes`` (never more), every sweep the same protocol, distinct noise per seed."""
    rng = np.random.default_rng(seed)
    n = int(round(sweep_ms * 1e-3 * fs_hz))
    t_ms = np.arange(n) / fs_hz * 1e3
    v = np.full(n, -80, dtype=np.int64)
    for start, stop, level in ((20, 120, -100), (220, 320, -100), (420, 520, -20)):
        v[(t_ms >= start) & (t_ms < stop)] = level
    time_cells = [f"{k / fs_hz:.5f}" for k in range(n)]
    v_cells = [str(x) for x in v]
    header_lines = ['ATF\t1.0', '8\t{cols}', '"AcquisitionMode=Episodic Stimulation"', f'"Comment=dense seed {seed}"',
                    '"YTop=20000,1000"', '"YBottom=-20000,-1000"', '"SyncTimeUnits=10"', '"SweepStartTimesMS={starts}"',
                    '"SignalsExported=Im,Vm"', '"Signals="\t"Im"\t"Vm"']
    # bytes of one sweep's pair of columns per row: "\t" + current (1-2 chars) + "\t" + voltage
    per_row_sweep = 2 + 1.9 + float(np.mean([len(c) for c in v_cells]))
    per_row_time = float(np.mean([len(c) for c in time_cells])) + 1
    n_sweeps = max(1, int((target_bytes * 0.98 / n - per_row_time) / per_row_sweep))
    while True:
        currents = rng.integers(-20, 20, size=(n_sweeps, n))
        cur_cells = np.char.mod("%d", currents)
        titles = ['"Time (s)"'] + [f'"Trace #{s + 1} (pA)"\t"Trace #{s + 1} (mV)"' for s in range(n_sweeps)]
        head = "\n".join(header_lines).format(cols=1 + 2 * n_sweeps,
                                              starts=",".join(f"{k * 1000.0:.3f}" for k in range(n_sweeps)))
        rows = []
        for i in range(n):
            pairs = "\t".join(f"{cur_cells[s, i]}\t{v_cells[i]}" for s in range(n_sweeps))
            rows.append(f"{time_cells[i]}\t{pairs}")
        data = (head + "\n" + "\t".join(titles) + "\n" + "\n".join(rows) + "\n").encode()
        if len(data) <= target_bytes or n_sweeps == 1:
            return data
        n_sweeps -= max(1, n_sweeps // 50)
