"""LeNet-5 and its deconvnet from scratch in NumPy (this package never imports torch).

>>> from lenet_deconv import shipped_weights
>>> from lenet_deconv.mnist import load_mnist_images
>>> from numpy_lenet import load_npz, forward, project
>>> params = load_npz(shipped_weights())       # the shipped model, from a wheel or a checkout
>>> images = load_mnist_images(None, "test", range(8))  # (8, 1, 28, 28) in [0, 1]
>>> trace = forward(params, images)
>>> pictures = project(params, trace, "conv2", "max")   # (N, 16, 1, 28, 28)
>>> gradients = project(params, trace, "conv2", "max", rule="gradient")

``numpy_lenet.reference`` holds every op again as plain loops, to read and to
test the fast ops against (docs/deconvnet.md, "Every op, plainly").
"""

from .architecture import LAYER_NAMES, LAYER_SHAPES, PARAM_SHAPES, receptive_field
from .conv import conv2d, conv_transpose2d
from .deconv import backproject, project
from .functional import linear, log_softmax, relu
from .model import Trace, forward
from .params import WeightError, load_npz, save_npz, validate_params
from .pool import max_pool2d, max_unpool2d
from .rules import RULES, rectify
from .selection import plan_selection, select

__all__ = [
    "LAYER_NAMES",
    "LAYER_SHAPES",
    "PARAM_SHAPES",
    "RULES",
    "Trace",
    "WeightError",
    "backproject",
    "conv2d",
    "conv_transpose2d",
    "forward",
    "linear",
    "load_npz",
    "log_softmax",
    "max_pool2d",
    "max_unpool2d",
    "plan_selection",
    "project",
    "receptive_field",
    "rectify",
    "relu",
    "save_npz",
    "select",
    "validate_params",
]
