"""What is true: closed-form capacities, the theorem registry, piece counting, SGD theory, figures.

``theory`` states and draws; ``capacity`` builds, checks, trains and sweeps.
"""
