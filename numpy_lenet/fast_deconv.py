"""Fast path (in progress)."""

from .deconv import project_live

__all__ = ["project_live"]
