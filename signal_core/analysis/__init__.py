"""The analysis of one sweep: responses and the tail (:mod:`.responses`), passive parameters
(:mod:`.passive`), the pipeline (:mod:`.pipeline`) and whole files (:mod:`.batch`).
"""
