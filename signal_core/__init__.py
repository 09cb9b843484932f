"""signal_core: the science of Signal Analyzer, usable without any UI.

Read a recording (:mod:`signal_core.io.atf`, :mod:`signal_core.io.abf`), find its
protocol (:mod:`signal_core.protocol`), filter it (:mod:`signal_core.filters.chain`),
and measure linear capacitance, passive parameters and charge movement
(:mod:`signal_core.analysis.pipeline`).  Units: time s (ms on screen), current pA,
voltage mV, charge pC, capacitance nF, resistance MOhm.
"""

__version__ = "0.1.0"
