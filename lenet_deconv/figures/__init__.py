"""Figures of the network and its deconvnet, and the index.html that shows them."""

from .gallery import make_gallery

__all__ = ["make_gallery"]
