"""Dropzone: event-driven ML inference and model delivery from an S3 drop zone."""

__version__ = "0.1.0"
