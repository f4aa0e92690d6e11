"""The job ledger: one DynamoDB table, forward-only transitions by conditional writes.

Every status change lands in the table stream; the status publisher turns each one into
a `Dropzone Job Status Change` event, so a transition is never recorded without its
event (and no event is ever sent for a transition that did not happen).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from dropzone import aws
from dropzone.clock import iso, utcnow
from dropzone.models.jobs import Job, JobKind, JobStatus, Transition
from dropzone.store.dynamo_items import CONDITION_FAILED, attribute_value, set_clauses
from dropzone.store.job_items import job_from_item, job_to_item, state_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from dropzone.settings import Settings

BY_SERVICE_REF_INDEX = "by-service-ref"
BY_STATE_INDEX = "by-state"


@dataclass(frozen=True)
class CreateResult:
    created: bool
    job: Job


@dataclass(frozen=True)
class TransitionResult:
    """`applied` is False for a late, duplicate or out-of-order change; `job` is then the
    record as it stands (None when there is no such job)."""

    applied: bool
    job: Job | None


class Ledger:
    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        retention_days: int = 90,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.table_name = table_name
        self._client = client or aws.client("dynamodb")
        self._retention = timedelta(days=retention_days)
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, client: DynamoDBClient | None = None) -> Ledger:
        """The container's ledger, as a function's settings describe it."""
        return cls(settings.jobs_table, client, retention_days=settings.job_retention_days)

    # -- reads ---------------------------------------------------------------------------

    def get(self, job_id: str) -> Job | None:
        response = self._client.get_item(
            TableName=self.table_name, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        item = response.get("Item")
        return job_from_item(item) if item else None

    def find_by_service_ref(self, service_ref: str) -> list[Job]:
        response = self._client.query(
            TableName=self.table_name,
            IndexName=BY_SERVICE_REF_INDEX,
            KeyConditionExpression="service_ref = :ref",
            ExpressionAttributeValues={":ref": {"S": service_ref}},
        )
        return [job_from_item(item) for item in response.get("Items", [])]

    def by_state(
        self,
        kind: JobKind,
        status: JobStatus,
        *,
        updated_before: datetime | None = None,
        page_size: int = 50,
    ) -> Iterator[Job]:
        """Jobs of one kind in one status, oldest update first, read a page at a time."""
        for page in self._state_pages(kind, status, updated_before, page_size, None):
            for item in page:
                yield job_from_item(item)

    def refs_by_state(
        self, kind: JobKind, status: JobStatus, *, page_size: int = 100
    ) -> Iterator[tuple[str, str]]:
        """(job_id, target) of the jobs in one status, oldest update first: a light read
        for callers that look at most jobs only to pass them by."""
        projection = "job_id, target"
        for page in self._state_pages(kind, status, None, page_size, projection):
            for item in page:
                yield item["job_id"]["S"], item["target"]["S"]

    def _state_pages(
        self,
        kind: JobKind,
        status: JobStatus,
        updated_before: datetime | None,
        page_size: int,
        projection: str | None,
    ) -> Iterator[list[dict[str, Any]]]:
        condition = "state_key = :sk"
        values: dict[str, Any] = {":sk": {"S": state_key(kind, status)}}
        if updated_before is not None:
            condition += " AND updated_at < :before"
            values[":before"] = {"S": iso(updated_before)}
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": BY_STATE_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "PaginationConfig": {"PageSize": page_size},
        }
        if projection:
            request["ProjectionExpression"] = projection
        for page in self._client.get_paginator("query").paginate(**request):
            yield page.get("Items", [])

    # -- writes --------------------------------------------------------------------------

    def create(
        self, job: Job, *, lease_owner: str | None = None, lease_seconds: int = 0
    ) -> CreateResult:
        """Record a new job, optionally holding a lease on it. Exactly one of racing
        creators wins."""
        now = self._clock()
        job = job.model_copy(
            update={
                "created_at": iso(now),
                "updated_at": iso(now),
                "history": [Transition(status=job.status, at=iso(now), message=job.message)],
            }
        )
        item = job_to_item(job)
        if lease_owner:
            item["lease_owner"] = {"S": lease_owner}
            item["lease_until"] = {"N": str(int(now.timestamp()) + lease_seconds)}
        try:
            self._client.put_item(
                TableName=self.table_name,
                Item=item,
                ConditionExpression="attribute_not_exists(job_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise
            existing = cast(dict[str, Any] | None, error.response.get("Item"))
            current = job_from_item(existing) if existing else self.get(job.job_id)
            if current is None:  # deleted between the two calls: treat as a fresh race
                raise
            return CreateResult(created=False, job=current)
        return CreateResult(created=True, job=job)

    def acquire_lease(
        self,
        job_id: str,
        *,
        owner: str,
        lease_seconds: int,
        status: JobStatus = JobStatus.ACCEPTED,
    ) -> bool:
        """Hold a job in `status` for a while; fails while another holder's lease runs."""
        now = int(self._clock().timestamp())
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                ConditionExpression=(
                    "#status = :status AND "
                    "(attribute_not_exists(lease_until) OR lease_until < :now)"
                ),
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":owner": {"S": owner},
                    ":until": {"N": str(now + lease_seconds)},
                    ":now": {"N": str(now)},
                    ":status": {"S": status},
                },
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                return False
            raise
        return True

    def release_lease(self, job_id: str, *, owner: str) -> None:
        try:
            self._client.update_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="REMOVE lease_owner, lease_until",
                ConditionExpression="lease_owner = :owner",
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise

    def transition(
        self,
        job_id: str,
        kind: JobKind,
        new_status: JobStatus,
        *,
        service_status: str | None = None,
        message: str | None = None,
        updates: dict[str, Any] | None = None,
    ) -> TransitionResult:
        """Move a job forward, or record the attempt and leave the job as it is."""
        now = self._clock()
        entry = Transition(
            status=new_status, at=iso(now), service_status=service_status, message=message
        )
        fields: dict[str, Any] = dict(updates or {})
        fields.update(
            status=new_status,
            service_status=service_status,
            message=message,
            updated_at=iso(now),
        )
        names = {"#history": "history", "#status": "status", "#kind": "kind"}
        values: dict[str, Any] = {
            ":entry": attribute_value([entry]),
            ":empty": {"L": []},
        }
        assignments = ["#history = list_append(if_not_exists(#history, :empty), :entry)"]
        assignments += set_clauses(fields, names, values)
        values[":sk"] = {"S": state_key(kind, new_status)}
        values[":kind"] = {"S": kind}
        assignments.append("state_key = :sk")
        if new_status.is_terminal:
            values[":expires"] = {"N": str(int((now + self._retention).timestamp()))}
            assignments.append("expires_at = :expires")
        predecessors = new_status.predecessors()
        for index, status in enumerate(predecessors):
            values[f":p{index}"] = {"S": status}
        condition = "#kind = :kind AND #status IN ({})".format(
            ", ".join(f":p{index}" for index in range(len(predecessors)))
        )
        expression = "SET " + ", ".join(assignments)
        if new_status is not JobStatus.ACCEPTED:
            expression += " REMOVE lease_owner, lease_until"
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if aws.error_code(error) != CONDITION_FAILED:
                raise
            current = cast(dict[str, Any] | None, error.response.get("Item"))
            if not current:
                return TransitionResult(applied=False, job=None)
            self._record_ignored(job_id, entry)
            return TransitionResult(applied=False, job=job_from_item(current))
        return TransitionResult(applied=True, job=job_from_item(response["Attributes"]))

    def annotate(
        self,
        job_id: str,
        kind: JobKind,
        status: JobStatus,
        *,
        service_status: str | None = None,
        updates: dict[str, Any] | None = None,
    ) -> Job | None:
        """Update a job's details without a transition (no status event), if it is still
        in `status`; returns the updated job, or None when it has moved on."""
        fields: dict[str, Any] = dict(updates or {})
        fields.update(service_status=service_status, updated_at=iso(self._clock()))
        names = {"#status": "status", "#kind": "kind"}
        values: dict[str, Any] = {":status": {"S": status}, ":kind": {"S": kind}}
        assignments = set_clauses(fields, names, values)
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET " + ", ".join(assignments),
                ConditionExpression="#kind = :kind AND #status = :status",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                return None
            raise
        return job_from_item(response["Attributes"])

    def record_entry(
        self,
        job_id: str,
        kind: JobKind,
        statuses: Iterable[JobStatus],
        *,
        attribute: str,
        key: str,
        entry: dict[str, Any],
        order_field: str = "order",
    ) -> Job | None:
        """Set one entry of a map attribute (e.g. one device's result), without a
        transition, while the job is in one of `statuses`. Entries are time-ordered: an
        entry replaces the one under the same key only if its `order_field` sorts later,
        so duplicated or reordered reports never move it back. Writers of different keys
        never overwrite each other. Returns the updated job, or None when nothing changed
        (an older or duplicate entry, a job that moved on, or no such job)."""
        allowed = list(statuses)
        names = {
            "#status": "status",
            "#kind": "kind",
            "#map": attribute,
            "#key": key,
            "#order": order_field,
            "#updated": "updated_at",
        }
        values: dict[str, Any] = {
            ":kind": {"S": kind},
            ":entry": attribute_value(entry),
            ":order": attribute_value(entry[order_field]),
            ":now": {"S": iso(self._clock())},
        }
        for index, status in enumerate(allowed):
            values[f":s{index}"] = {"S": status}
        condition = (
            "#kind = :kind AND #status IN ({}) AND attribute_exists(#map) AND "
            "(attribute_not_exists(#map.#key) OR #map.#key.#order < :order)"
        ).format(", ".join(f":s{index}" for index in range(len(allowed))))
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET #map.#key = :entry, #updated = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if aws.error_code(error) == CONDITION_FAILED:
                return None
            raise
        return job_from_item(response["Attributes"])

    def get_many(self, job_ids: Iterable[str]) -> list[Job]:
        """The jobs that exist among `job_ids` (consistent reads, 100 keys a request)."""
        wanted = list(dict.fromkeys(job_ids))
        found: list[Job] = []
        for start in range(0, len(wanted), 100):
            keys: list[dict[str, Any]] = [
                {"job_id": {"S": job_id}} for job_id in wanted[start : start + 100]
            ]
            while keys:
                response = self._client.batch_get_item(
                    RequestItems={self.table_name: {"Keys": keys, "ConsistentRead": True}}
                )
                found.extend(
                    job_from_item(item)
                    for item in response.get("Responses", {}).get(self.table_name, [])
                )
                unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
                keys = list(unprocessed["Keys"]) if unprocessed else []
        return found

    def _record_ignored(self, job_id: str, entry: Transition) -> None:
        self._client.update_item(
            TableName=self.table_name,
            Key={"job_id": {"S": job_id}},
            UpdateExpression="ADD ignored_events :one SET last_ignored = :entry",
            ConditionExpression="attribute_exists(job_id)",
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":entry": attribute_value(entry),
            },
        )
