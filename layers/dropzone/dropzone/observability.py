"""Logger, tracer and metrics: built once, imported everywhere."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# Only botocore is patched: the other integrations cost cold-start time for libraries
# Dropzone does not use.
tracer = Tracer(patch_modules=["botocore"])
metrics = Metrics()
