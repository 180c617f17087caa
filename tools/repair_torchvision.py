"""Placeholder until the engine branch lands: nothing to repair."""
