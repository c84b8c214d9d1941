"""Spot serving on traces: capacity traces (`traces`) and the omniscient cheapest schedule (`optimal`)."""
