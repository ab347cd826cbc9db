"""Prefect flows: the order of icefloe's stages, their dependencies and what is retried."""
