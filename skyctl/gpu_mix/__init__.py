"""The `skyctl gpu-mix` services: profile files, the endpoint profiler, and solving a mix."""
