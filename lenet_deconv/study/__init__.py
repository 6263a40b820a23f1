"""Zeiler & Fergus's section 4 on LeNet-5: features over training, invariance, occlusion.

Each experiment is computed by one backend and checked by the other
(``agreement``); ``run`` draws the figures and writes the numbers behind them.
"""
