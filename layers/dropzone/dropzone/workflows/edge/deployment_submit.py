"""Edge Manager-shaped deployment records, from uploaded documents and from packaging jobs.

intake     S3 Object Created under edge-deployments/<DeviceFleetName>/….json → ACCEPTED
           → validated, checksums verified or computed → devices registered → SUBMITTED
packaging  a succeeded packaging job whose request names a fleet → the same record
           (`EdgeDeployments.record_from_packaging`, idempotent)

Device heartbeats then settle the record (dropzone.workflows.edge.heartbeat).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pydantic import ValidationError

from dropzone import aws
from dropzone.adapters.s3 import S3, ObjectMissing, parse_s3_uri
from dropzone.errors import InvalidInput, Problem, TransientError
from dropzone.models.edge import (
    NAME_MAX,
    Checksum,
    Definition,
    DefinitionRequest,
    EdgeDeployment,
    EdgeSection,
    ModelState,
)
from dropzone.models.jobs import Job, JobStatus, SourceObject
from dropzone.models.s3_events import ObjectCreatedEvent, candidate_keys
from dropzone.observability import metrics
from dropzone.settings.edge import EdgeSettings
from dropzone.sqs_batch import SqsMessage
from dropzone.store.devices import Devices
from dropzone.store.ledger import Ledger
from dropzone.workflows.edge import KIND
from dropzone.workflows.edge.rules import (
    MAX_DOCUMENT_BYTES,
    RESULTS,
    artifact_places,
    deployment_of,
    devices_of,
    fleet_from_key,
    invalid_from,
    job_id_for_packaging,
    outside_artifact_places,
    parse_document,
    service_ref,
)
from dropzone.workflows.intake import claim, draft_job, head_of, with_head
from dropzone.workflows.rejection import rejected


@dataclass
class EdgeDeployments:
    """Edge deployment records, from uploaded documents and from packaging jobs."""

    settings: EdgeSettings
    ledger: Ledger
    devices: Devices
    s3: S3
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def from_env(cls, client: aws.ClientSource = aws.client) -> EdgeDeployments:
        settings = EdgeSettings.from_env()
        return cls(
            settings,
            Ledger.from_settings(settings, client("dynamodb")),
            Devices(settings.edge_devices_table, client("dynamodb")),
            S3(client("s3")),
        )

    # -- uploads

    def handle_record(self, message: SqsMessage) -> None:
        event = ObjectCreatedEvent.model_validate_json(message.body)
        self.submit(event.source_object())

    def submit(self, source: SourceObject) -> Job:
        keys = candidate_keys(source.key)
        prefix = self.settings.edge_deployments_prefix
        target = keys[0][len(prefix) :].partition("/")[0] if keys[0].startswith(prefix) else ""
        draft = draft_job(source, KIND, keys[0], target[:NAME_MAX] or "unknown", **{RESULTS: {}})
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        if not taken.claimed:
            return taken.job
        job = taken.job
        try:
            head = head_of(self.s3, job.source, keys)
            job = job.model_copy(update={"source": with_head(job.source, head)})
            fleet = fleet_from_key(head.key, prefix)
            if head.size == 0:
                raise InvalidInput.single("document", "the object is empty (0 bytes)")
            if head.size > MAX_DOCUMENT_BYTES:
                raise InvalidInput.single(
                    "document", f"is {head.size} bytes; the limit is {MAX_DOCUMENT_BYTES}"
                )
            document = parse_document(self._read(job), fleet)
            deployment = EdgeDeployment(
                deployment_name=document.deployment_name,
                failure_handling_policy=document.failure_handling_policy,
                definitions=self._definitions(document.definitions, restrict_places=True),
            )
            return self._open(job, fleet, deployment, document.device_names, options={})
        except InvalidInput as invalid:
            return self._reject(job, invalid)
        except ClientError as error:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise TransientError(f"S3 failed while reading {job.source.uri}: {error}") from error
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise

    def _read(self, job: Job) -> bytes:
        body = bytearray()
        for chunk in self.s3.iter_chunks(
            job.source.bucket,
            job.source.key,
            version_id=job.source.version_id,
            etag=job.source.etag,
        ):
            body += chunk
            if len(body) > MAX_DOCUMENT_BYTES:
                raise InvalidInput.single(
                    "document", f"is over the limit of {MAX_DOCUMENT_BYTES} bytes"
                )
        return bytes(body)

    # -- packaging

    def record_from_packaging(
        self,
        packaging_job: Job,
        edge: EdgeSection,
        artifact_uri: str,
        component: dict[str, str],
    ) -> Job:
        """The edge record of a succeeded packaging job, created once: a repeated call
        returns the same record (and repairs a device registration an earlier call left
        unfinished)."""
        fleet = edge.device_fleet_name
        draft = Job(
            job_id=job_id_for_packaging(packaging_job.job_id),
            kind=KIND,
            status=JobStatus.ACCEPTED,
            source=packaging_job.source,
            target=fleet,
            parent_id=packaging_job.job_id,
            created_at="",
            updated_at="",
            options={"component": dict(component), "artifact": artifact_uri},
            **{RESULTS: {}},
        )
        taken = claim(
            self.ledger, draft, owner=self.owner, lease_seconds=self.settings.lease_seconds
        )
        job = taken.job
        if not taken.claimed:
            if deployment_of(job) is not None and job.status is not JobStatus.REJECTED:
                self.devices.register(fleet, devices_of(job), job.job_id)
            return job
        try:
            try:
                handle = edge.model_handle_for(component.get("ComponentName", ""))
            except ValueError as error:
                raise InvalidInput.single("Edge.ModelHandle", str(error)) from error
            request = DefinitionRequest(
                model_handle=handle, s3_url=artifact_uri, state=ModelState.DEPLOY
            )
            deployment = EdgeDeployment(
                deployment_name=edge.deployment_name_for(packaging_job.job_id),
                failure_handling_policy=edge.failure_handling_policy,
                definitions=self._definitions([request], restrict_places=False),
            )
            return self._open(job, fleet, deployment, edge.device_names, options=job.options)
        except ValidationError as error:
            return self._reject(job, invalid_from(error, "artifact"))
        except InvalidInput as invalid:
            return self._reject(job, invalid)
        except ClientError as error:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise TransientError(f"S3 failed while reading {artifact_uri}: {error}") from error
        except Exception:
            self.ledger.release_lease(job.job_id, owner=self.owner)
            raise

    # -- shared

    def _definitions(
        self, requests: list[DefinitionRequest], *, restrict_places: bool
    ) -> list[Definition]:
        """Edge Manager definitions: every DEPLOY model's object must exist (for uploaded
        documents, under this stack's artifact prefixes, `rules.artifact_places`) and gets
        its SHA-1; a given Checksum must match it."""
        problems: list[Problem] = []
        definitions: list[Definition] = []
        places = artifact_places(self.settings.dropzone_bucket, self.settings.results_bucket)
        for index, request in enumerate(requests):
            where = f"Definitions[{index}]"
            if request.state is ModelState.UNDEPLOY or request.s3_url is None:
                definitions.append(Definition(**request.model_dump()))
                continue
            bucket, key = parse_s3_uri(request.s3_url)
            outside = outside_artifact_places(bucket, key, places) if restrict_places else None
            if outside is not None:
                problems.append(Problem(f"{where}.S3Url", outside))
                continue
            try:
                digest = self.s3.sha1(bucket, key)
            except ObjectMissing:
                problems.append(Problem(f"{where}.S3Url", f"{request.s3_url} does not exist"))
                continue
            if digest.size == 0:
                problems.append(Problem(f"{where}.S3Url", f"{request.s3_url} is empty"))
                continue
            if request.checksum is not None and request.checksum.sum != digest.hexdigest:
                problems.append(
                    Problem(
                        f"{where}.Checksum.Sum",
                        f"does not match the object: its SHA-1 is {digest.hexdigest}",
                    )
                )
                continue
            definitions.append(
                Definition(
                    model_handle=request.model_handle,
                    s3_url=request.s3_url,
                    checksum=Checksum(sum=digest.hexdigest),
                    state=ModelState.DEPLOY,
                )
            )
        if problems:
            raise InvalidInput(problems)
        return definitions

    def _open(
        self,
        job: Job,
        fleet: str,
        deployment: EdgeDeployment,
        devices: list[str],
        *,
        options: dict[str, Any],
    ) -> Job:
        # Devices first: a crash before the transition leaves an ACCEPTED job whose
        # delivery is retried, and answers skip records that are not yet SUBMITTED.
        self.devices.register(fleet, devices, job.job_id)
        handles = ", ".join(d.model_handle for d in deployment.definitions)
        result = self.ledger.transition(
            job.job_id,
            KIND,
            JobStatus.SUBMITTED,
            message=(
                f"{deployment.deployment_name}: {handles} for {len(devices)} device(s) of "
                f"fleet {fleet}; waiting for their heartbeats"
            ),
            updates={
                "source": job.source,
                "target": fleet,
                "service_ref": service_ref(fleet, deployment.deployment_name),
                "deployment": deployment.as_api(),
                "devices": list(devices),
                "options": {
                    **options,
                    "failure_handling_policy": deployment.failure_handling_policy,
                },
                "counts": {"devices": len(devices), "pending_devices": len(devices)},
            },
        )
        metrics.add_metric(name="EdgeDeploymentsRecorded", unit="Count", value=1)
        return result.job or job

    def _reject(self, job: Job, invalid: InvalidInput) -> Job:
        return rejected(
            job,
            invalid,
            ledger=self.ledger,
            s3=self.s3,
            results_bucket=self.settings.results_bucket,
        )
