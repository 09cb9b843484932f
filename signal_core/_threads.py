"""One thread per process for the linear algebra of the command line (imported before numpy).

A recording's analysis multiplies small matrices: OpenBLAS's threads cost more to wake and
spin than they save.  Measured with ``analyze --json`` on 1 and 11 copies of the lab's
recording (bench/bench_analysis.py), one more recording cost 64 ms of wall time and 129 ms
of CPU time with the default threads, 49 ms and 51 ms with one; on a shared 2-core machine
the spinning threads also take the other core from everyone else, and ``--workers N``
processes would each start as many threads again.  A value the user set is kept.

The command line imports this module first; the library and the app are left alone.
"""

from __future__ import annotations

import os

__all__ = ["THREAD_VARIABLES"]

#: the variables OpenBLAS (numpy's and scipy's), OpenMP and MKL read when they load
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

for _name in THREAD_VARIABLES:
    os.environ.setdefault(_name, "1")
