"""signal_core: the science of Signal Analyzer, usable without any UI.

Read a recording (:mod:`signal_core.atf`, :mod:`signal_core.abf`), find its
protocol (:mod:`signal_core.protocol`), filter it (:mod:`signal_core.filters`),
and measure linear capacitance, passive parameters and charge movement
(:mod:`signal_core.analysis`).  Units: time s (ms on screen), current pA,
voltage mV, charge pC, capacitance nF, resistance MOhm.
"""

__version__ = "0.1.0"
