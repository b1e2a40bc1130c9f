"""Keras callbacks for multi-task training (one callback per file)."""

__all__: list[str] = []
