"""The LeNet-5 variant as data: layer names, shapes, parameters, receptive fields.

Both backends and the command line read these tables, so the architecture is
written down exactly once.
"""

from __future__ import annotations

INPUT_SHAPE: tuple[int, int, int] = (1, 28, 28)

#: The recorded layers, bottom to top. Conv/fc names hold post-ReLU values
#: (``fc3`` holds the logits: it has no ReLU); pool names hold pooled maps.
LAYER_NAMES: tuple[str, ...] = ("conv1", "pool1", "conv2", "pool2", "fc1", "fc2", "fc3")

#: The pooling layers, whose switches the forward pass records.
POOL_NAMES: tuple[str, ...] = ("pool1", "pool2")

#: Pool name -> the (post-ReLU) layer whose 2x2 windows the pool compares.
PRE_POOL: dict[str, str] = {"pool1": "conv1", "pool2": "conv2"}

LAYER_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1": (6, 28, 28),
    "pool1": (6, 14, 14),
    "conv2": (16, 10, 10),
    "pool2": (16, 5, 5),
    "fc1": (120,),
    "fc2": (84,),
    "fc3": (10,),
}

#: PyTorch state_dict names and shapes; a weight file holds exactly these.
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    "conv1.weight": (6, 1, 5, 5),
    "conv1.bias": (6,),
    "conv2.weight": (16, 6, 5, 5),
    "conv2.bias": (16,),
    "fc1.weight": (120, 400),
    "fc1.bias": (120,),
    "fc2.weight": (84, 120),
    "fc2.bias": (84,),
    "fc3.weight": (10, 84),
    "fc3.bias": (10,),
}

CONV1_PADDING = 2
CONV2_PADDING = 0
POOL_KERNEL = 2
POOL_STRIDE = 2

SELECTION_MODES: tuple[str, ...] = ("map", "max", "unit")

#: The deconvnet's mirror blocks, from the top down: one row per recorded layer,
#: the block where a projection from that layer enters. Plain data, so it goes
#: to JSON as it is; docs/deconvnet.md ("The mirror table") gives each field.
MIRROR_BLOCKS: tuple[dict[str, str | int | bool | None], ...] = (
    {"name": "fc3", "kind": "fc", "relu": False, "padding": None, "below": "fc2"},
    {"name": "fc2", "kind": "fc", "relu": True, "padding": None, "below": "fc1"},
    {"name": "fc1", "kind": "fc", "relu": True, "padding": None, "below": "pool2"},
    {"name": "pool2", "kind": "pool", "relu": False, "padding": None, "below": "conv2"},
    {"name": "conv2", "kind": "conv", "relu": True, "padding": CONV2_PADDING, "below": "pool1"},
    {"name": "pool1", "kind": "pool", "relu": False, "padding": None, "below": "conv1"},
    {"name": "conv1", "kind": "conv", "relu": True, "padding": CONV1_PADDING, "below": None},
)


def mirror_blocks_from(layer: str) -> tuple[dict[str, str | int | bool | None], ...]:
    """The rows of MIRROR_BLOCKS a projection from ``layer`` runs through, top down."""
    check_layer(layer)
    names = [block["name"] for block in MIRROR_BLOCKS]
    return MIRROR_BLOCKS[names.index(layer) :]


def shape_below(block: dict[str, str | int | bool | None]) -> tuple[int, ...]:
    """The shape (one image's) of a mirror block's output: its ``below`` layer or the input."""
    below = block["below"]
    return INPUT_SHAPE if below is None else LAYER_SHAPES[str(below)]


# The spatial steps of the forward pass, bottom to top: (name, kernel, stride, padding).
_SPATIAL_STEPS: tuple[tuple[str, int, int, int], ...] = (
    ("conv1", 5, 1, CONV1_PADDING),
    ("pool1", POOL_KERNEL, POOL_STRIDE, 0),
    ("conv2", 5, 1, CONV2_PADDING),
    ("pool2", POOL_KERNEL, POOL_STRIDE, 0),
)


def is_spatial(layer: str) -> bool:
    """Whether a layer holds feature maps (C, H, W) rather than a vector of units."""
    check_layer(layer)
    return len(LAYER_SHAPES[layer]) == 3


def check_layer(layer: str) -> None:
    """Raise ValueError unless ``layer`` is one of LAYER_NAMES."""
    if layer not in LAYER_SHAPES:
        raise ValueError(f"unknown layer {layer!r}; expected one of {', '.join(LAYER_NAMES)}")


def receptive_field_geometry(layer: str) -> tuple[int, int, int]:
    """(size, jump, start) of a spatial layer's units in input pixels.

    A unit at row y sees input rows ``start + y * jump`` to
    ``start + y * jump + size - 1`` (before clipping to the image).
    Derived by composing kernel, stride and padding of every step below.
    """
    check_layer(layer)
    if not is_spatial(layer):
        raise ValueError(f"layer {layer!r} is fully connected: it sees the whole image")
    size, jump, start = 1, 1, 0
    for name, kernel, stride, padding in _SPATIAL_STEPS:
        size += (kernel - 1) * jump
        start -= padding * jump
        jump *= stride
        if name == layer:
            break
    return size, jump, start


def receptive_field(layer: str, y: int, x: int) -> tuple[int, int, int, int]:
    """Input window (top, left, bottom, right), exclusive ends, clipped, seen by unit (y, x).

    Fully connected layers see the whole image whatever (y, x).
    """
    height, width = INPUT_SHAPE[1:]
    if not is_spatial(layer):
        return 0, 0, height, width
    size, jump, start = receptive_field_geometry(layer)
    top, left = start + y * jump, start + x * jump
    return max(top, 0), max(left, 0), min(top + size, height), min(left + size, width)
