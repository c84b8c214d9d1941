"""Mélange: the cheapest mix of GPU types that serves a request-size histogram within an SLO.

Modules: `profile` (throughput-profile files), `problem` (inputs), `validate` (up-front checks), `ilp`
(the three formulations as PuLP models), `backend` (HiGHS/CBC and honest statuses), `solve` (the entry
point), `links` (linking cuts and LP probes), `probed` (MIPs over the probed types and counts), `reduce`
(exact dominance reduction), `rounding` (whole-slice rounding and load repair), `result` (what a solve
returns and its exact checker), `baselines` (single-type costs), `synthetic` (random instances), `values`
and `errors` (input checking), `estimator` (roofline profiles).
"""
