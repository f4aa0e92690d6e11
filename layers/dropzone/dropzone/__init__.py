"""Dropzone: event-driven ML inference and model delivery from an S3 drop zone."""

from dropzone import cold_start as _cold_start

# First, before anything else is imported: in Lambda, init runs with the collector paused
# until the handler's first call (dropzone.cold_start).
_cold_start.hold()

from dropzone.botocore_data import register as _register_service_models  # noqa: E402

__version__ = "0.1.0"

# Service models current botocore no longer ships (Lookout for Vision), found through
# botocore's own data path.
_register_service_models()
