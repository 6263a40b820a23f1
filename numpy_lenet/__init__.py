"""LeNet-5 and its deconvnet from scratch in NumPy (this package never imports torch)."""
