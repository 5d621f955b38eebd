"""Experiments: SGD near minima, necessity illustration, frontier, memorization measures (each producing typed records or CSV)."""
