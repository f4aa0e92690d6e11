"""The edge functions' settings: deployment intake, heartbeats, the Edge Manager sync, the
endpoint, Greengrass deployment status and the edge reconciler; and what intake's leases
guard."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.settings import CLAIM, HEADS, Settings


class EdgeSettings(Settings):
    """Shared by the edge functions: deployment intake, heartbeats, Edge Manager sync."""

    results_bucket: str = Field(min_length=3)
    edge_devices_table: str = Field(min_length=3)
    # A dropped document's S3Url may name an object under this bucket's edge artifacts
    # prefix (or the results bucket's packaging outputs; workflows.edge.rules.artifact_places).
    dropzone_bucket: str = ""
    edge_deployments_prefix: str = "edge-deployments/"
    edge_manager_sync: Literal["Enabled", "Disabled"] = "Disabled"
    edge_cache_ttl_seconds: int = Field(default=3600, ge=1, le=10**9)
    lease_seconds: int = Field(default=960, ge=10)
    # The sync's own pace, in dataplane calls a second: devices share the account's limits.
    edge_sync_tps: float = Field(default=10.0, gt=0, le=100)
    # Seconds of the sync's invocation kept free when a run stops for lack of time.
    edge_sync_reserve_seconds: float = Field(default=20.0, ge=0)

    @property
    def sync_enabled(self) -> bool:
        return self.edge_manager_sync == "Enabled"


class EdgeEndpointSettings(Settings):
    """The edge endpoint's: the device records and credentials, and the region signatures
    name. (Heartbeats it takes go through the heartbeat path, which reads EdgeSettings.)"""

    edge_devices_table: str = Field(min_length=3)
    edge_credentials_table: str = ""
    edge_credentials_key_id: str = ""  # the HMAC key's ARN
    aws_region: str = ""
    edge_cache_ttl_seconds: int = Field(default=3600, ge=1, le=10**9)


# Up to 20 definitions (models.edge.MAX_DEFINITIONS), each object's SHA-1 (hashed as it is
# read when S3 has none), then up to 100 devices (models.edge.MAX_DEVICES), then SUBMITTED.
EDGE_LEASE = (
    LeaseGuard(
        "dropzone.workflows.edge.deployment_submit.EdgeDeployments.submit",
        (
            CLAIM,
            HEADS,
            GuardedCall("s3:GetObject"),  # the document, at most 256 KiB
            GuardedCall("s3:HeadObject", count=20),
            GuardedCall("s3:GetObject", count=20, data_bound=True),
            GuardedCall("dynamodb:UpdateItem", count=100),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
    LeaseGuard(
        "dropzone.workflows.edge.deployment_submit.EdgeDeployments.record_from_packaging",
        (
            CLAIM,
            GuardedCall("s3:HeadObject"),
            GuardedCall("s3:GetObject", data_bound=True),
            GuardedCall("dynamodb:UpdateItem", count=100),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
)


class GreengrassSettings(Settings):
    """The Greengrass deployment status function."""

    results_bucket: str = Field(min_length=3)
    # Deliveries of an event for an unknown deployment id before it is dropped (the event
    # can arrive before the deployment is recorded).
    unknown_deployment_max_receives: int = Field(default=3, ge=1)


class EdgeReconcileSettings(Settings):
    """The edge reconciler: quiet Greengrass roll-outs, and edge deployments that never end."""

    # A roll-out with no news for this long is asked about (GetDeployment and the core
    # devices' effective deployments).
    reconcile_grace_minutes: int = Field(default=30, ge=1)
    # A deployment still SUBMITTED or RUNNING this long after it was recorded is EXPIRED.
    edge_deployment_timeout_hours: int = Field(default=72, ge=1)
    # Jobs looked at a run, and seconds of the invocation kept free after the last one.
    reconcile_batch_limit: int = Field(default=500, ge=1)
    reconcile_reserve_seconds: float = Field(default=20.0, ge=0)
    # Core devices of one roll-out asked about a run (ListEffectiveDeployments each).
    max_device_checks: int = Field(default=10, ge=0, le=100)
