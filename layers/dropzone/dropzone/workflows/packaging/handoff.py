"""Model packaging, hand-off: a job that succeeded records its edge deployment (`Edge`)
and starts its Greengrass roll-out (`GreengrassDeployment`) before it is marked SUCCEEDED;
after `max_handoff_attempts` failed attempts those records are FAILED with a report and
the job is SUCCEEDED anyway, its message saying the hand-off failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from dropzone import aws
from dropzone.adapters.s3 import S3
from dropzone.clock import iso, utcnow
from dropzone.models.edge import EdgeSection
from dropzone.models.greengrass import GreengrassDeploymentSection
from dropzone.models.jobs import Job, JobKind, JobStatus
from dropzone.observability import logger, metrics
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge.greengrass_rules import deployment_job_id
from dropzone.workflows.edge.rollout import GreengrassDeployer, PackagedComponent
from dropzone.workflows.edge.rules import job_id_for_packaging
from dropzone.workflows.packaging.rules import find_artifact
from dropzone.workflows.rejection import report_key


class EdgeRecorder(Protocol):
    def record_from_packaging(
        self, packaging_job: Job, edge: EdgeSection, artifact_uri: str, component: dict[str, str]
    ) -> Job: ...


@dataclass
class PackagingHandoff:
    """What a succeeded job's request asks for next. Every step is idempotent: the poller
    repeats the whole hand-off until it has completed once."""

    ledger: Ledger
    s3: S3
    edge: Callable[[], EdgeRecorder]
    greengrass: Callable[[], GreengrassDeployer]
    results_bucket: str = ""

    @staticmethod
    def wanted(job: Job) -> bool:
        """Whether the job's request asks for anything after packaging."""
        return bool(job.options.get("edge") or job.options.get("greengrass_deployment"))

    def run(self, job: Job, component: PackagedComponent) -> list[str]:
        """The ids of the jobs the hand-off created (or found)."""
        children: list[str] = []
        if job.options.get("edge"):
            children.append(self._edge(job, component).job_id)
        if job.options.get("greengrass_deployment"):
            section = GreengrassDeploymentSection.model_validate(
                job.options["greengrass_deployment"]
            )
            children.append(self.greengrass().deploy(job, section, component).job_id)
        return children

    def abandon(self, job: Job, reason: str, attempts: int) -> list[str]:
        """Give up on the hand-off: each record it should have made and did not get going
        (missing, or still ACCEPTED) is FAILED with a report; the ids of all of them."""
        message = f"the hand-off from packaging job {job.job_id} failed {attempts} times: {reason}"
        children: list[str] = []
        if job.options.get("edge"):
            edge = EdgeSection.model_validate(job.options["edge"])
            record_id = job_id_for_packaging(job.job_id)
            children.append(self._fail_child(job, record_id, edge.device_fleet_name, message))
        if job.options.get("greengrass_deployment"):
            section = GreengrassDeploymentSection.model_validate(
                job.options["greengrass_deployment"]
            )
            rollout_id = deployment_job_id(job.job_id)
            children.append(self._fail_child(job, rollout_id, section.target_arn, message))
        metrics.add_metric(name="PackagingHandoffsAbandoned", unit="Count", value=1)
        logger.error(
            "hand-off abandoned",
            extra={"job_id": job.job_id, "attempts": attempts, "reason": reason},
        )
        return children

    def _fail_child(self, job: Job, child_id: str, target: str, message: str) -> str:
        child = self.ledger.create(
            Job(
                job_id=child_id,
                kind=JobKind.EDGE_DEPLOYMENT,
                status=JobStatus.ACCEPTED,
                source=job.source,
                target=target,
                parent_id=job.job_id,
                options={"handoff_failed": True},
                created_at="",
                updated_at="",
            )
        ).job
        if child.status is not JobStatus.ACCEPTED:
            return child_id  # under way or ended: it keeps its own course
        updates: dict[str, Any] = {}
        if self.results_bucket:
            report = {
                "job_id": child_id,
                "kind": JobKind.EDGE_DEPLOYMENT,
                "status": JobStatus.FAILED,
                "parent_id": job.job_id,
                "source": job.source.model_dump(exclude_none=True),
                "target": target,
                "reason": message,
                "failed_at": iso(utcnow()),
            }
            updates["report_location"] = self.s3.put_json(
                self.results_bucket, report_key(child), report
            )
        self.ledger.transition(
            child_id, JobKind.EDGE_DEPLOYMENT, JobStatus.FAILED, message=message, updates=updates
        )
        return child_id

    def _edge(self, job: Job, component: PackagedComponent) -> Job:
        edge = EdgeSection.model_validate(job.options["edge"])
        bucket = str(job.options["output_bucket"])
        prefix = str(job.options.get("output_prefix") or "")
        keys = list(self.s3.list_keys(bucket, prefix))
        artifact = find_artifact(keys, prefix, component)
        if artifact is None:
            return self._no_artifact(job, edge, f"s3://{bucket}/{prefix}", len(keys))
        return self.edge().record_from_packaging(
            job, edge, f"s3://{bucket}/{artifact}", component.as_dict()
        )

    def _no_artifact(self, job: Job, edge: EdgeSection, location: str, found: int) -> Job:
        """The edge record fails, with the reason, when the model cannot be found."""
        record_id = job_id_for_packaging(job.job_id)
        reason = (
            f"no packaged model under {location} ({found} files there)"
            if found == 0
            else f"cannot tell the packaged model among the {found} files under {location}"
        )
        record = self.ledger.create(
            Job(
                job_id=record_id,
                kind=JobKind.EDGE_DEPLOYMENT,
                status=JobStatus.ACCEPTED,
                source=job.source,
                target=edge.device_fleet_name,
                parent_id=job.job_id,
                options={"missing_artifact": location},
                created_at="",
                updated_at="",
            )
        ).job
        if record.status is not JobStatus.ACCEPTED or not record.options.get("missing_artifact"):
            return record  # recorded earlier, or by the edge workflow itself
        failed = self.ledger.transition(
            record_id, JobKind.EDGE_DEPLOYMENT, JobStatus.FAILED, message=reason
        )
        logger.warning("edge record failed", extra={"job_id": job.job_id, "reason": reason})
        metrics.add_metric(name="PackagingArtifactsMissing", unit="Count", value=1)
        return failed.job or record


def edge_from_env(client: aws.ClientSource) -> EdgeRecorder:
    """The edge workflow's recorder; its module loads only when a hand-off records an edge
    deployment."""
    from dropzone.workflows.edge.deployment_submit import EdgeDeployments

    return EdgeDeployments.from_env(client)
