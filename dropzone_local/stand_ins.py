"""The stand-ins the local cloud holds for the services moto lacks (SageMaker endpoints,
Bedrock batch and on-demand inference, Lookout for Vision, Greengrass, edge devices, the
Price List), and
what a user does with them: set them up, make them fail, slow them down, and make their
events unreliable."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC
from typing import Any

from dropzone_local.bedrock import FakeBedrock
from dropzone_local.bedrock_runtime import FakeBedrockRuntime
from dropzone_local.edge_devices import DeploymentSource, FakeEdgeDevice
from dropzone_local.event_delivery import Deliver, PutEventsDelivery, UnreliableDelivery
from dropzone_local.greengrass import FakeGreengrass
from dropzone_local.lookoutvision import FakeLookoutVision
from dropzone_local.price_list import FakePriceList
from dropzone_local.record_faults import RecordFaults
from dropzone_local.sagemaker import FakeSageMakerRuntime


class StandIns:
    """The fakes, each checked against botocore's service model, moved on a step at a time."""

    def __init__(self, *, region: str, account: str) -> None:
        self.sagemaker = FakeSageMakerRuntime(region=region, account=account)
        # One record-fault policy for batch jobs and on-demand calls, so that a record is
        # recognised, and its runs counted, wherever it runs.
        self.record_faults = RecordFaults()
        self.bedrock = FakeBedrock(account=account, region=region, record_faults=self.record_faults)
        self.bedrock_runtime = FakeBedrockRuntime(
            account=account, region=region, record_faults=self.record_faults
        )
        self.bedrock_peak_in_flight = 0  # the most batch jobs Bedrock held at once
        self.greengrass = FakeGreengrass(account=account, region=region)
        self.lookoutvision = FakeLookoutVision(
            account=account, region=region, greengrass=self.greengrass
        )
        self.price_list = FakePriceList(region)  # the Price List, for the price refresh
        self.devices: list[FakeEdgeDevice] = []
        self.unreliable: UnreliableDelivery | None = None

    def client(self, service: str) -> Any:
        """moto's client for a service."""
        raise NotImplementedError

    # -- model packaging and the edge ----------------------------------------------------

    def add_packaging_project(self, name: str, model_versions: tuple[int, ...] = (1,)) -> None:
        """A Lookout for Vision project with trained model versions that can be packaged."""
        self.lookoutvision.add_project(name, model_versions)

    def add_core_devices(self, target_arn: str, things: list[str]) -> None:
        """Greengrass core devices behind a thing or thing-group ARN."""
        self.greengrass.add_core_devices(target_arn, things)

    def add_device(self, fleet: str, name: str) -> FakeEdgeDevice:
        """An edge device whose agent asks Dropzone for its deployments on every round of
        `run_until_idle()`, installs them and reports back with heartbeats. `fail(handle,
        reason)` on the returned device makes installing that model fail."""
        device = FakeEdgeDevice(fleet, name)
        self.devices.append(device)
        return device

    # -- faults --------------------------------------------------------------------------

    def inject_faults(self, service: str, *error_codes: str) -> None:
        """The next calls Dropzone makes to a stood-in service fail with these error codes,
        one call each, in order: e.g. `("bedrock", "ServiceQuotaExceededException")`,
        `("sagemaker-runtime", "ThrottlingException", "ServiceUnavailable")`."""
        fakes: dict[str, Any] = {
            "sagemaker-runtime": self.sagemaker,
            "bedrock": self.bedrock,
            "bedrock-runtime": self.bedrock_runtime,
            "lookoutvision": self.lookoutvision,
            "greengrassv2": self.greengrass,
        }
        if service not in fakes:
            raise ValueError(f"no stand-in for {service!r}; one of {sorted(fakes)}")
        fakes[service].inject_faults(*error_codes)

    def slow(self, service: str, rounds: int, *, name: str = "*") -> None:
        """Keep a stood-in service's jobs running for `rounds` more steps: Bedrock batch jobs
        and Lookout for Vision packaging jobs by job name, Greengrass deployments by core
        device thing name ("*": all). `run_until_idle()` returns once nothing else moves, with
        such a job still running; each further call moves it on. For slowness in time, set
        `cloud.lookoutvision.run_time` (a timedelta) and move the clock with `advance()`."""
        if rounds < 0:
            raise ValueError("rounds must be 0 or more")
        slow: dict[str, dict[str, int]] = {
            "bedrock": self.bedrock.slow_jobs,
            "lookoutvision": self.lookoutvision.slow_jobs,
            "greengrassv2": self.greengrass.slow_devices,
        }
        if service not in slow:
            raise ValueError(f"no jobs to slow down in {service!r}; one of {sorted(slow)}")
        slow[service][name] = rounds

    def unreliable_events(
        self, *, seed: int = 0, drop: float = 0.0, hold: float = 0.0, duplicate: float = 0.0
    ) -> UnreliableDelivery:
        """Make the services' events best effort, as EventBridge is: Bedrock job state
        changes, Greengrass deployment status changes and device heartbeats are dropped,
        held back (and delivered late and reordered once everything else is idle) or
        delivered twice, with these probabilities, reproducibly from `seed`."""
        self.unreliable = UnreliableDelivery(
            PutEventsDelivery(self.client("events")),
            seed=seed,
            drop=drop,
            hold=hold,
            duplicate=duplicate,
        )
        self.bedrock.deliver = self.unreliable
        self.greengrass.deliver = self.unreliable
        return self.unreliable

    # -- moving on -----------------------------------------------------------------------

    def _advance_services(self) -> int:
        """One step of every stood-in service's own work; the number of changes."""
        self.bedrock_peak_in_flight = max(self.bedrock_peak_in_flight, self.bedrock.in_flight)
        moved = len(self.bedrock.advance()) if self.bedrock.in_flight else 0
        moved += len(self.lookoutvision.advance()) if self.lookoutvision.in_flight else 0
        moved += len(self.greengrass.advance()) if self.greengrass.in_flight else 0
        return moved

    def _poll_devices(self, answers: Callable[[], DeploymentSource]) -> int:
        """Each device agent asks for its deployments; those with news report back."""
        if not self.devices:
            return 0
        source, sent = answers(), 0
        for device in self.devices:
            acted_on = len(device.applied)
            details = device.poll(source)
            if len(device.applied) > acted_on:
                sent += self._send_heartbeats(device, details)
        return sent

    def _send_heartbeats(self, device: FakeEdgeDevice, details: list[dict[str, Any]]) -> int:
        deliver: Deliver = self.unreliable or PutEventsDelivery(self.client("events"))
        for entry in device.entries(details):
            deliver(
                {
                    "source": entry["Source"],
                    "detail-type": entry["DetailType"],
                    "detail": json.loads(entry["Detail"]),
                    "resources": [],
                    "time": entry["Time"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            )
        return len(details)
