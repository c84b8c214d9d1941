"""Typer command groups; each module parses arguments, calls one service function and renders."""
