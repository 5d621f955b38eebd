"""Figures: matplotlib only, drawn from typed records and CSV (phase diagrams, SGD, frontier)."""
