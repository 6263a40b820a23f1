"""The lenet-deconv tool: where the NumPy and PyTorch backends meet.

- ``lenet_deconv.cli`` - the ``lenet-deconv`` command line, one module per subcommand;
- ``lenet_deconv.crosscheck`` - the end-to-end agreement of the two backends;
- ``lenet_deconv.figures`` - the figures and the gallery page;
- ``lenet_deconv.backends`` - the backends by name, one call per job whichever computes it;
- ``lenet_deconv.evaluation`` - loss, accuracy and confusion matrix by either backend;
- ``lenet_deconv.mnist`` - which folder holds MNIST, and the images a command picks;
- ``lenet_deconv.outputs`` - the output policy every command follows;
- ``lenet_deconv.top_activations`` - the streaming top-k search behind Zeiler & Fergus's Figure 2;
- ``lenet_deconv.shipped_weights()`` - the path of the shipped model's weight file.
"""

from .shipped import shipped_weights

__all__ = ["shipped_weights"]
