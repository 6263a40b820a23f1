"""LeNet-5 in PyTorch: the model, MNIST data, training and the deconvnet."""
