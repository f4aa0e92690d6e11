"""Dropzone: event-driven ML inference and model delivery from an S3 drop zone."""

from dropzone.botocore_data import register as _register_service_models

__version__ = "0.1.0"

# Service models current botocore no longer ships (Lookout for Vision), found through
# botocore's own data path.
_register_service_models()
