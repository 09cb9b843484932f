"""Readers and writers of recordings: ATF (header, data), ABF (pyabf), the ATF writer and the size limits.

Entry point: :func:`signal_core.io.read.read.read_recording`.
"""
