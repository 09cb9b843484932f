"""The filter-kind table: every kind parses, checks, labels, settles and runs from its one entry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from signal_core.filters.chain import apply_filter
from signal_core.filters.kind_rules import FilterError
from signal_core.filters.kinds import FILTER_KINDS, KINDS, filter_help, filter_kind, usage
from signal_core.filters.specs import FilterSpec

FS = 100_000.0
#: a command-line example of every kind (a new kind needs one here)
EXAMPLES = {"butter": "butter:2kHz:4", "savgol": "savgol:21:3", "wavelet": "wavelet:db4:5:hard",
            "notch": "notch:15625:30", "mains": "mains:50"}


def test_every_kind_has_an_example_and_a_complete_entry():
    assert set(EXAMPLES) == set(KINDS) and len(KINDS) == len(set(KINDS))
    spec_fields = {f.name for f in dataclasses.fields(FilterSpec)}
    for k in FILTER_KINDS:
        assert k.title and k.description and k.usage.startswith(k.name)
        assert set(k.field_names) <= spec_fields - {"kind", "enabled"}, k.name
        assert k.max_args >= 1 and len({f.widget_key for f in k.fields}) == len(k.fields)


@pytest.mark.parametrize("kind", KINDS)
def test_the_form_defaults_make_a_valid_filter(kind):
    k = filter_kind(kind)
    spec = FilterSpec(kind=kind, **k.defaults)
    spec.validate(FS, 110_000)
    assert spec.to_dict() == {"kind": kind, "enabled": True, **k.defaults}
    assert FilterSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("kind", KINDS)
def test_command_line_form_label_and_settling(kind):
    spec = FilterSpec.parse(EXAMPLES[kind])
    assert spec.kind == kind and spec == FilterSpec.from_dict(spec.to_dict())
    assert spec.label() and not spec.label().endswith("(off)")
    assert dataclasses.replace(spec, enabled=False).label().endswith("(off)")
    assert spec.settle_s(FS) >= 0.0 and dataclasses.replace(spec, enabled=False).settle_s(FS) == 0.0
    assert k_usage_mentions(kind)
    with pytest.raises(FilterError, match="cannot read"):
        FilterSpec.parse(EXAMPLES[kind] + ":1" * (filter_kind(kind).max_args + 1))


def k_usage_mentions(kind: str) -> bool:
    return filter_kind(kind).usage in usage() and filter_kind(kind).usage in filter_help()


def test_unknown_kinds_name_the_known_ones():
    for bad in (lambda: FilterSpec(kind="bessel"), lambda: FilterSpec.parse("bessel:100"),
                lambda: FilterSpec.from_dict({"cutoff_hz": 100.0})):
        with pytest.raises(FilterError) as info:
            bad()
        assert all(k in str(info.value) for k in KINDS)


def test_each_kind_does_what_it_says_on_a_known_signal():
    """Physics: a 15.625 kHz tone and 50 Hz hum on a slow 20 Hz signal; each kind removes what it targets."""
    t = np.arange(40_000) / FS
    slow = 100.0 * np.sin(2 * np.pi * 20.0 * t)
    tone = 50.0 * np.sin(2 * np.pi * 15_625.0 * t)
    hum = 30.0 * np.sin(2 * np.pi * 50.0 * t + 0.3)
    x = slow + tone
    mid = slice(5_000, 35_000)  # away from the ends

    def rms(y):
        return float(np.sqrt(np.mean(y[mid] ** 2)))

    for text in ("butter:2000", "notch:15625:30", "savgol:21:2", "wavelet:db4"):
        y = apply_filter(x, FS, FilterSpec.parse(text))
        assert rms(y - slow) < 0.2 * rms(tone), text  # the tone is mostly gone
        assert rms(y) == pytest.approx(rms(slow), rel=0.05), text  # the slow signal stays
    y = apply_filter(slow + hum, FS, FilterSpec.parse("mains:50"))
    assert rms(y - slow) < 0.2 * rms(hum)
