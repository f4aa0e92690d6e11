"""What Edge Manager's dataplane would tell a device, answered from Dropzone's records.

GetDeployments: the Edge Manager-shaped deployment records of the device's fleet that
name the device. For each model handle the newest record wins, so a later UNDEPLOY (or a
later version) replaces what an older record said; a record whose every handle has been
superseded is left out. GetDeviceRegistration: the device record's registration.

Reads are two point lookups, never a scan: the device's record (GetItem) lists the ids of
the records that target it, and those are fetched with BatchGetItem.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dropzone import aws
from dropzone.models.jobs import JobKind
from dropzone.settings.edge import EdgeSettings
from dropzone.store.devices import Devices, Registration
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.rules import ANSWERED, deployment_of, devices_of, newest_per_handle


@dataclass
class EdgeAnswers:
    ledger: Ledger
    devices: Devices
    cache_ttl_seconds: int = 3600

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeAnswers:
        settings = EdgeSettings.from_env()
        return cls(
            Ledger.from_settings(settings, client("dynamodb")),
            Devices(settings.edge_devices_table, client("dynamodb")),
            settings.edge_cache_ttl_seconds,
        )

    def get_device_registration(self, device_name: str, fleet_name: str) -> dict[str, Any]:
        record = self.devices.get(fleet_name, device_name)
        registration = record.registration if record else Registration.NOT_REGISTERED
        return {"DeviceRegistration": str(registration), "CacheTTL": str(self.cache_ttl_seconds)}

    def get_deployments(self, device_name: str, fleet_name: str) -> dict[str, Any]:
        record = self.devices.get(fleet_name, device_name)
        if record is None or not record.deployment_ids:
            return {"Deployments": []}
        jobs = self.ledger.get_many(record.deployment_ids)
        found = {job.job_id for job in jobs}
        gone = [job_id for job_id in record.deployment_ids if job_id not in found]
        if gone:  # records past their retention: stop looking them up
            self.devices.forget_deployments(fleet_name, device_name, gone)
        relevant = [
            (job, deployment)
            for job in jobs
            if job.kind is JobKind.EDGE_DEPLOYMENT
            and job.status in ANSWERED
            and job.target == fleet_name
            and device_name in devices_of(job)
            and (deployment := deployment_of(job)) is not None
        ]
        return {"Deployments": [d.as_api() for d in newest_per_handle(relevant)]}
