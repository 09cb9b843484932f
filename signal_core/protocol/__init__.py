"""The pulse protocol of a sweep: steps and epochs (:mod:`.steps`), found from the voltage
(:mod:`.detect`), from user timings (:mod:`.timing`) or from file names (:mod:`.filenames`).
"""
