"""Optional Edge Manager sync (stack parameter EdgeManagerSync, off by default).

On a schedule, for the devices Dropzone knows, ask Edge Manager's dataplane what it says
about each one (GetDeviceRegistration, GetDeployments) and keep that beside Dropzone's
own view on the device record.

A run works through the devices table in scan order, from where the previous run stopped
(a cursor item in the same table), until the table ends or the invocation's time runs
short; the next run continues from there, and once the table is done the next pass starts
at its beginning. So every device is synced in turn, however many there are. Calls are
paced: devices ask the same dataplane, under the same account limits.

One device's failure never stops the run; the run fails at its end when any device could
not be synced, so the function's error alarm fires. That device is tried again on the
next pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dropzone import aws
from dropzone.adapters.sagemaker_edge import EdgeManagerRefused, SageMakerEdge
from dropzone.clock import iso, utcnow
from dropzone.errors import ConfigurationError, TransientError
from dropzone.observability import logger, metrics
from dropzone.ratelimit import Pacer
from dropzone.settings.edge import EdgeSettings
from dropzone.store.devices import Devices, device_key

# The cursor is saved every this many devices as well as at the end, so a run cut short
# (a hung call, the invocation's timeout) repeats at most this many devices.
CHECKPOINT_EVERY = 25


@dataclass(frozen=True)
class SyncSummary:
    synced: int = 0
    refused: int = 0
    failed: int = 0
    out_of_time: bool = False
    pass_complete: bool = False


@dataclass
class EdgeSync:
    devices: Devices
    edge_manager: SageMakerEdge
    pacer: Pacer | None = None
    # Seconds of the invocation kept free when a run stops for lack of time.
    reserve_seconds: float = 20.0

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeSync:
        settings = EdgeSettings.from_env()
        if not settings.sync_enabled:
            raise ConfigurationError("EdgeSync runs only with EDGE_MANAGER_SYNC=Enabled")
        return cls(
            Devices(settings.edge_devices_table, client("dynamodb")),
            SageMakerEdge(client("sagemaker-edge")),
            Pacer(settings.edge_sync_tps),
            settings.edge_sync_reserve_seconds,
        )

    def run(
        self, seconds_left: Callable[[], float] | None = None, *, now: datetime | None = None
    ) -> SyncSummary:
        """Sync devices from the saved cursor on, while `seconds_left()` (the invocation's
        remaining time) stays above the reserve."""
        synced = refused = failed = 0
        last_error: Exception | None = None
        start = self.devices.sync_cursor()
        position = start
        since_checkpoint = 0
        out_of_time = complete = False
        try:
            for fleet, device in self.devices.known_devices(after=start):
                if self._out_of_time(seconds_left):
                    out_of_time = True
                    break
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
                    view = None
                    logger.warning(
                        "could not sync a device; it is tried again on the next pass",
                        extra={"fleet": fleet, "device": device, "error": str(error)[:500]},
                    )
                else:
                    synced += 1
                if view is not None:
                    self.devices.record_service_view(
                        fleet, device, {**view, "synced_at": iso(now or utcnow())}
                    )
                position = device_key(fleet, device)
                since_checkpoint += 1
                if since_checkpoint >= CHECKPOINT_EVERY:
                    self.devices.save_sync_cursor(position)
                    since_checkpoint = 0
            else:
                complete = True
        finally:
            # Where the next run starts: past the last device handled, or over from the
            # beginning once the table is done.
            self.devices.save_sync_cursor(None if complete else position)
        summary = SyncSummary(synced, refused, failed, out_of_time, complete)
        metrics.add_metric(name="EdgeDevicesSynced", unit="Count", value=synced)
        metrics.add_metric(name="EdgeDevicesSyncFailed", unit="Count", value=failed + refused)
        logger.info("edge sync finished", extra=summary.__dict__)
        if last_error is not None:
            raise TransientError(
                f"{failed} device(s) could not be synced; last error: {last_error}"
            ) from last_error
        return summary

    def _out_of_time(self, seconds_left: Callable[[], float] | None) -> bool:
        if seconds_left is None:
            return False
        # A device takes two calls; both must fit before the reserve.
        wait = self.pacer.wait_seconds() + self.pacer.interval if self.pacer else 0.0
        return seconds_left() - wait < self.reserve_seconds

    def view_of(self, fleet: str, device: str) -> dict[str, Any]:
        self._pace()
        registration = self.edge_manager.get_device_registration(device, fleet)
        self._pace()
        deployments = self.edge_manager.get_deployments(device, fleet)
        return {
            "registration": registration.get("DeviceRegistration"),
            "cache_ttl": registration.get("CacheTTL"),
            "deployments": deployments.get("Deployments", []),
        }

    def _pace(self) -> None:
        if self.pacer is not None:
            self.pacer.acquire()
