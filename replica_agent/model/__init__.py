"""The Llama model, paged attention, weight loading, sampling and the ModelRunner."""
