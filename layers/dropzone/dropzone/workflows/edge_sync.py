"""Optional Edge Manager sync (stack parameter EdgeManagerSync, off by default).

On a schedule, for every device Dropzone knows, ask Edge Manager's dataplane what it
says about the device (GetDeviceRegistration, GetDeployments) and keep that beside
Dropzone's own view on the device record. One device's failure never stops the run;
the run fails at its end when any device could not be synced, so it is retried and the
function's error alarm fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.clock import iso, utcnow
from dropzone.devices import Devices
from dropzone.errors import ConfigurationError, TransientError
from dropzone.observability import logger, metrics
from dropzone.settings import EdgeSettings


@dataclass(frozen=True)
class SyncSummary:
    synced: int = 0
    refused: int = 0
    failed: int = 0


@dataclass
class EdgeSync:
    devices: Devices
    edge_manager: SageMakerEdge

    @classmethod
    def from_env(cls) -> EdgeSync:
        settings = EdgeSettings.from_env()
        if not settings.sync_enabled:
            raise ConfigurationError("EdgeSync runs only with EDGE_MANAGER_SYNC=Enabled")
        return cls(Devices(settings.edge_devices_table), SageMakerEdge())

    def run(self, *, now: datetime | None = None) -> SyncSummary:
        synced = refused = failed = 0
        last_error: Exception | None = None
        for fleet, device in self.devices.known_devices():
            try:
                view = self.view_of(fleet, device)
            except EdgeManagerRefused as error:
                refused += 1
                view = {"error": str(error)[:1000]}
                logger.warning(
                    "Edge Manager refused to describe a device",
                    extra={"fleet": fleet, "device": device, "error": str(error)[:500]},
                )
            except TransientError as error:
                failed += 1
                last_error = error
                logger.warning(
                    "could not sync a device; it is tried again on the next run",
                    extra={"fleet": fleet, "device": device, "error": str(error)[:500]},
                )
                continue
            else:
                synced += 1
            self.devices.record_service_view(
                fleet, device, {**view, "synced_at": iso(now or utcnow())}
            )
        summary = SyncSummary(synced, refused, failed)
        metrics.add_metric(name="EdgeDevicesSynced", unit="Count", value=synced)
        metrics.add_metric(name="EdgeDevicesSyncFailed", unit="Count", value=failed + refused)
        logger.info("edge sync finished", extra=summary.__dict__)
        if last_error is not None:
            raise TransientError(
                f"{failed} device(s) could not be synced; last error: {last_error}"
            ) from last_error
        return summary

    def view_of(self, fleet: str, device: str) -> dict[str, Any]:
        registration = self.edge_manager.get_device_registration(device, fleet)
        deployments = self.edge_manager.get_deployments(device, fleet)
        return {
            "registration": registration.get("DeviceRegistration"),
            "cache_ttl": registration.get("CacheTTL"),
            "deployments": deployments.get("Deployments", []),
        }
