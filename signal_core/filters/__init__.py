"""Filters: the filter kinds and their specs (:mod:`.specs`) and running a chain (:mod:`.chain`).
"""
