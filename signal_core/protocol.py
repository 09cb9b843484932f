"""The pulse protocol of a sweep: holding level, control steps and test pulse.

Edges come from the recorded voltage channel when there is one
(:func:`detect_protocol`), from user-given timings otherwise
(:func:`protocol_from_timing`), and every edge and level can be set by hand
(:meth:`Protocol.from_dict` of an edited table, :meth:`Protocol.with_levels`).
Times are stored in seconds and shown in ms; levels are in mV.

This module is the public face of four smaller ones and re-exports their names:

- :mod:`signal_core.protocol_steps`: :class:`Step`, :class:`Epoch`, :class:`Protocol`,
  :class:`ProtocolError` and the level limits;
- :mod:`signal_core.protocol_timing`: :class:`ProtocolTiming`, :func:`protocol_from_timing`;
- :mod:`signal_core.protocol_detect`: :func:`detect_protocol` from the voltage channel;
- :mod:`signal_core.filenames`: :func:`parse_filename`, :func:`v2_from_filename` (V2 from a file name).
"""

from __future__ import annotations

# ``X as X``: importable from here as before, though not in __all__
from .filenames import FileNameInfo as FileNameInfo
from .filenames import parse_filename, v2_from_filename
from .protocol_detect import MAX_ABS_VOLTAGE_MV as MAX_ABS_VOLTAGE_MV
from .protocol_detect import detect_protocol
from .protocol_steps import MAX_LEVEL_MV as MAX_LEVEL_MV
from .protocol_steps import MIN_STEP_MV as MIN_STEP_MV
from .protocol_steps import Epoch, Protocol, ProtocolError, Step
from .protocol_timing import MAX_CONTROLS as MAX_CONTROLS
from .protocol_timing import ProtocolTiming, protocol_from_timing

__all__ = [
    "Epoch",
    "Protocol",
    "ProtocolError",
    "ProtocolTiming",
    "Step",
    "detect_protocol",
    "parse_filename",
    "protocol_from_timing",
    "v2_from_filename",
]
