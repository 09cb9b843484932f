"""The errors a user can cause, under one base class.

Everything a user can cause with a file or a parameter (a damaged or unsupported
recording, a protocol that cannot be found, a filter or recipe out of range, an analysis
or a fit the data do not allow) raises a subclass of :class:`SignalCoreError`, whose
message is written for a physiologist and can be shown as is.  A front end catches
``SignalCoreError`` alone; anything else is a bug (or an outage of the history store,
:class:`signal_core.store.StoreError`, or of a Dask scheduler,
:class:`signal_core.parallel.SchedulerError`, which are kept apart on purpose).

The subclasses live beside the code that raises them:

- :class:`RecordingFormatError` (here): a file that is not a readable recording, with
  :class:`signal_core.io.atf_header.AtfFormatError`, :class:`signal_core.io.abf.AbfFormatError`
  and :class:`signal_core.io.limits.RecordingTooLargeError` below it;
- :class:`signal_core.recording.RecordingError`, :class:`signal_core.protocol.steps.ProtocolError`,
  :class:`signal_core.filters.kind_rules.FilterError`, :class:`signal_core.params.ParamsError`,
  :class:`signal_core.flags.AnalysisError`, :class:`signal_core.fitting.FitError`.

They derive from :class:`ValueError`, so code written for ``except ValueError`` keeps working.

Examples
--------
>>> from signal_core.errors import SignalCoreError
>>> from signal_core.params import AnalysisParams
>>> try:
...     AnalysisParams.from_json("{not json")
... except SignalCoreError as exc:
...     print(type(exc).__name__)
ParamsError
"""

from __future__ import annotations

__all__ = ["RecordingFormatError", "SignalCoreError"]


class SignalCoreError(ValueError):
    """Something a user can cause (a file, a parameter, data the analysis cannot use); the message says what.

    Catch this one class around anything that reads a user's file or parameters; the message is
    written for a physiologist (units included) and can be shown as it is.

    Examples
    --------
    A Butterworth cutoff needs a frequency in Hz:

    >>> import signal_core as sc
    >>> try:
    ...     sc.AnalysisParams(filters=["butter"])
    ... except sc.SignalCoreError as exc:
    ...     print(type(exc).__name__, "Hz" in str(exc))
    FilterError True
    """


class RecordingFormatError(SignalCoreError):
    """The file is not a recording this package can read (its format, its content or its size)."""
