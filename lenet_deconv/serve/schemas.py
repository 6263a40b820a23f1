"""What a request to the explorer may hold: checked by pydantic before any computation.

Every field is named, typed and bounded here; unknown fields are refused, so
no request can smuggle in anything else (a file path, an option). Pixels are
28 rows of 28 finite numbers in [0, 1]; layer, mode and rule names come from
the architecture's own tables; channel and unit indices are checked against
the chosen layer's shape.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, SELECTION_MODES
from numpy_lenet.rules import DEFAULT_RULE, RULES

#: The largest request body accepted, in bytes: a 28x28 image written out with
#: 17 significant digits per pixel is ~16 KiB; four times that is plenty.
MAX_BODY_BYTES = 64 * 1024

Pixel = Annotated[float, Field(strict=True, ge=0.0, le=1.0, allow_inf_nan=False)]
Row = Annotated[list[Pixel], Field(min_length=28, max_length=28)]
Layer = Literal[LAYER_NAMES]  # type: ignore[valid-type]
Mode = Literal[SELECTION_MODES]  # type: ignore[valid-type]
Rule = Literal[RULES]  # type: ignore[valid-type]
Index = Annotated[int, Field(strict=True, ge=0)]
#: An index in a URL (query or path), which arrives as text: "3" is read as 3, "3.5" refused.
UrlIndex = Annotated[int, Field(ge=0)]


class ExploreRequest(BaseModel):
    """One interaction: an image, the chosen layer, and optionally one channel or unit."""

    model_config = ConfigDict(extra="forbid")

    image: Annotated[list[Row], Field(min_length=28, max_length=28)]
    layer: Layer = "conv2"
    mode: Mode = "max"
    rule: Rule = DEFAULT_RULE
    channel: Index | None = None
    unit: Annotated[list[Index], Field(min_length=2, max_length=2)] | None = None

    @model_validator(mode="after")
    def _fits_the_layer(self) -> ExploreRequest:
        check_channel(self.layer, self.channel)
        shape = LAYER_SHAPES[self.layer]
        if self.mode == "unit" and self.channel is not None and len(shape) == 3:
            if self.unit is None:
                raise ValueError(f"mode 'unit' on {self.layer} needs unit [y, x] with the channel")
            for axis, i, n in zip(("y", "x"), self.unit, shape[1:], strict=True):
                if i >= n:
                    raise ValueError(f"unit {axis} {i} out of range for {self.layer} (0..{n - 1})")
        elif self.unit is not None:
            raise ValueError("unit [y, x] goes with mode 'unit', a channel and a conv/pool layer")
        return self


def check_channel(layer: str, channel: int | None) -> None:
    """Raise ValueError unless ``channel`` is None or a channel (or unit) of ``layer``."""
    count = LAYER_SHAPES[layer][0]
    if channel is not None and channel >= count:
        raise ValueError(f"channel {channel} out of range for {layer} (0..{count - 1})")
