"""Mélange: the cheapest mix of GPU types that serves a request-size histogram within an SLO.

Modules: `profile` (throughput-profile files), `problem` (inputs), `validate` (up-front checks), `ilp`
(the three formulations), `baselines` (single-type costs), `result` (what a solve returns).
"""
