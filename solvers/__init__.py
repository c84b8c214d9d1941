"""Pure optimisation and simulation code: plain data in, plain data out.

Nothing under `solvers` imports `skyctl`, `providers` or `replica_agent`, so the models can be reused and
tested without the control plane.
"""
