"""User errors share one base class; store and scheduler outages stay apart."""

from __future__ import annotations

import doctest

import pytest

import signal_core.errors
from signal_core.errors import RecordingFormatError, SignalCoreError
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.specs import FilterSpec
from signal_core.fitting import FitError
from signal_core.flags import AnalysisError
from signal_core.io.abf import AbfFormatError
from signal_core.io.atf_header import AtfFormatError
from signal_core.io.limits import RecordingTooLargeError
from signal_core.io.read import read_recording
from signal_core.parallel import SchedulerError
from signal_core.params import AnalysisParams, ParamsError
from signal_core.protocol.steps import ProtocolError
from signal_core.recording import RecordingError
from signal_core.store import StoreError

USER_ERRORS = (AtfFormatError, AbfFormatError, RecordingTooLargeError, RecordingError, ProtocolError, FilterError,
               ParamsError, AnalysisError, FitError)


@pytest.mark.parametrize("cls", USER_ERRORS, ids=lambda c: c.__name__)
def test_every_user_error_is_a_signal_core_error(cls):
    assert issubclass(cls, SignalCoreError) and issubclass(cls, ValueError)


@pytest.mark.parametrize("cls", [AtfFormatError, AbfFormatError, RecordingTooLargeError], ids=lambda c: c.__name__)
def test_reader_errors_are_recording_format_errors(cls):
    assert issubclass(cls, RecordingFormatError)


def test_outages_are_not_user_errors():
    for cls in (StoreError, SchedulerError):
        assert not issubclass(cls, SignalCoreError) and not issubclass(cls, ValueError)


@pytest.mark.parametrize("cause", [
    lambda: read_recording(b"this is not a recording\n", name="notes.atf"),
    lambda: read_recording(b"ABF2" + b"\x01" * 10, name="broken.abf"),
    lambda: AnalysisParams.from_json("{not json"),
    lambda: FilterSpec.parse("butter:-5"),
], ids=["atf", "abf", "recipe", "filter"])
def test_what_a_user_can_cause_is_caught_by_the_base_class(cause):
    with pytest.raises(SignalCoreError) as info:
        cause()
    assert str(info.value)  # a message to show


def test_docstring_example_runs():
    assert doctest.testmod(signal_core.errors).failed == 0
