"""replica_agent: a torch-only LLM serving engine with fair scheduling and a paged KV cache.

Standalone by design: it imports nothing from skyctl, solvers or providers, so a replica machine
installs only this package (`pip install skyctl[agent]`) and runs `replica-agent serve`.
"""

__version__ = "0.1.0"
