"""Greengrass V2 roll-out of a packaged component, tracked as an `edge_deployment` job.

deploy   a succeeded packaging job whose request has `GreengrassDeployment` →
         CreateDeployment (clientToken = the deployment job's id) → SUBMITTED,
         service_ref "greengrass:<deploymentId>"

Its core devices' statuses then settle the job (dropzone.workflows.edge.greengrass_state).
A target Greengrass refuses (while Dropzone reads its current components, or on
CreateDeployment) ends the roll-out job REJECTED with a report, and so does a roll-out the
stack does not allow (a target GreengrassTargets does not list, or replacing the target's
components without GreengrassReplaceComponents): intake rejects those requests already,
this refuses one that reaches the deployer anyway, before any Greengrass call.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from dropzone.adapters.greengrass import Greengrass
from dropzone.adapters.s3 import S3
from dropzone.errors import InvalidInput
from dropzone.leases import GuardedCall, LeaseGuard
from dropzone.models.greengrass import GreengrassDeploymentSection, RolloutPolicy
from dropzone.models.jobs import Job, JobStatus
from dropzone.observability import metrics
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.greengrass_rules import (
    DEVICES_ATTRIBUTE,
    deployment_job_id,
    service_ref,
)
from dropzone.workflows.intake import claim
from dropzone.workflows.rejection import rejected

# What the roll-out's lease guards (as in dropzone.settings' workflow modules): the claim,
# CreateDeployment, then SUBMITTED, or a report and REJECTED; a request that could not be
# built, only the report and REJECTED.
ROLLOUT_LEASE = (
    LeaseGuard(
        "dropzone.workflows.edge.rollout.GreengrassDeployer.deploy",
        (
            GuardedCall("dynamodb:PutItem"),
            GuardedCall("greengrassv2:CreateDeployment"),
            GuardedCall("s3:PutObject"),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
    LeaseGuard(
        "dropzone.workflows.edge.rollout.GreengrassDeployer._refuse",
        (
            GuardedCall("dynamodb:PutItem"),
            GuardedCall("s3:PutObject"),
            GuardedCall("dynamodb:UpdateItem"),
        ),
    ),
)


@dataclass(frozen=True)
class PackagedComponent:
    name: str
    version: str
    arn: str | None = None

    def as_dict(self) -> dict[str, str]:
        values = {"ComponentName": self.name, "ComponentVersion": self.version}
        if self.arn:
            values["ComponentVersionArn"] = self.arn
        return values


@dataclass
class GreengrassDeployer:
    """Starts the roll-out of a packaged component: idempotent, safe to call again."""

    ledger: Ledger
    greengrass: Greengrass
    s3: S3
    results_bucket: str
    # GreengrassTargets and GreengrassReplaceComponents: checked before every call.
    policy: RolloutPolicy
    lease_seconds: int = 180
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    def deploy(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
    ) -> Job:
        job_id = deployment_job_id(packaging_job.job_id)
        existing = self.ledger.get(job_id)
        if existing is not None and existing.status is not JobStatus.ACCEPTED:
            return existing  # started (or refused) already
        # The request is frozen in the first record: a retry sends exactly the same one,
        # which CreateDeployment recognises by its clientToken.
        try:
            self.policy.check(section)
            draft = existing or self._draft(packaging_job, section, component, job_id)
        except InvalidInput as invalid:  # not allowed, or a target ListDeployments refuses
            return self._refuse(packaging_job, section, component, job_id, invalid)
        taken = claim(self.ledger, draft, owner=self.owner, lease_seconds=self.lease_seconds)
        if not taken.claimed:
            return taken.job
        job = taken.job
        request = dict(job.options["request"])
        try:
            created = self.greengrass.create_deployment(**request)
        except InvalidInput as invalid:
            return rejected(
                job, invalid, ledger=self.ledger, s3=self.s3, results_bucket=self.results_bucket
            )
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise
        deployment_id = created["deploymentId"]
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            service_status="ACTIVE",
            message=f"deploying {component.name} {component.version} to {section.target_arn}",
            updates={
                "service_ref": service_ref(deployment_id),
                "deployment_id": deployment_id,
                "iot_job_id": created.get("iotJobId"),
                "iot_job_arn": created.get("iotJobArn"),
            },
        )
        metrics.add_metric(name="GreengrassDeploymentsCreated", unit="Count", value=1)
        return result.job or job

    def _refuse(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
        job_id: str,
        invalid: InvalidInput,
    ) -> Job:
        """The roll-out's request could not even be built: record the job without one and
        reject it with a report, so the hand-off completes and the packaging job settles."""
        draft = Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=section.target_arn,
            parent_id=packaging_job.job_id,
            options={"channel": "greengrass", "component": component.as_dict()},
            created_at="",
            updated_at="",
            **{DEVICES_ATTRIBUTE: {}},
        )
        taken = claim(self.ledger, draft, owner=self.owner, lease_seconds=self.lease_seconds)
        if not taken.claimed:
            return taken.job
        return rejected(
            taken.job, invalid, ledger=self.ledger, s3=self.s3, results_bucket=self.results_bucket
        )

    def _draft(
        self,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
        job_id: str,
    ) -> Job:
        return Job(
            job_id=job_id,
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=section.target_arn,
            parent_id=packaging_job.job_id,
            options={
                "channel": "greengrass",
                "request": self.request(job_id, packaging_job, section, component),
                "expected_core_devices": section.expected_core_devices(),
                "component": component.as_dict(),
            },
            created_at="",
            updated_at="",
            **{DEVICES_ATTRIBUTE: {}},
        )

    def request(
        self,
        job_id: str,
        packaging_job: Job,
        section: GreengrassDeploymentSection,
        component: PackagedComponent,
    ) -> dict[str, Any]:
        """CreateDeployment's request. A deployment replaces the target's previous one, so
        the components already deployed there are kept unless the request says not to."""
        components: dict[str, Any] = {}
        if section.keep_existing_components:
            components.update(self.greengrass.current_components(section.target_arn))
        spec: dict[str, Any] = {"componentVersion": component.version}
        update = section.component_configuration_update
        if update is not None:
            spec["configurationUpdate"] = update.model_dump(by_alias=False, exclude_none=True)
        components[component.name] = spec
        request: dict[str, Any] = {
            "targetArn": section.target_arn,
            "deploymentName": section.deployment_name
            or f"dropzone {component.name} {component.version}"[:256],
            "components": components,
            "clientToken": job_id,
            "tags": {"dropzone:job-id": job_id, "dropzone:parent-id": packaging_job.job_id},
        }
        if section.deployment_policies is not None:
            request["deploymentPolicies"] = section.deployment_policies.as_api()
        return request
