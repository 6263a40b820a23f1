"""Zeiler & Fergus's section 4 on LeNet-5: features over training, invariance, occlusion."""
