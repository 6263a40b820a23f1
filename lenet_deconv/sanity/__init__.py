"""Adebayo et al.'s sanity checks (NeurIPS 2018) for the three backward rules on LeNet-5."""
