"""Logger, tracer and metrics: built once, imported everywhere."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

from dropzone.xray import XRayDaemon


def tracing_on() -> bool:
    """Whether the tracer traces here: Powertools' own rule (in Lambda, not under SAM CLI or
    Chalice, and POWERTOOLS_TRACE_DISABLED not true)."""
    return not Tracer._is_tracer_disabled()


logger = Logger()
# The provider sends X-Ray subsegments to the daemon itself (dropzone.xray): the X-Ray SDK
# is not imported. Only botocore is patched, so every AWS call gets its subsegment. Tracing
# off is the provider's to honour (disabled=False): Powertools' own switch-off reaches for
# the X-Ray SDK.
tracer = Tracer(
    patch_modules=["botocore"], provider=XRayDaemon(enabled=tracing_on()), disabled=False
)
metrics = Metrics()
