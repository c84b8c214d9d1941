"""SkyStore placement: cost model, policies, trace simulator, offline optimum and workloads (pure)."""
