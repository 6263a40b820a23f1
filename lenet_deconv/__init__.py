"""The lenet-deconv tool: where the NumPy and PyTorch backends meet.

- ``lenet_deconv.cli`` - the ``lenet-deconv`` command line, one module per subcommand;
- ``lenet_deconv.crosscheck`` - the end-to-end agreement of the two backends;
- ``lenet_deconv.figures`` - the figures and the gallery page;
- ``lenet_deconv.backends`` - one call per job, whichever backend computes it;
- ``lenet_deconv.top_activations`` - the streaming top-k search behind Zeiler & Fergus's Figure 2.
"""
