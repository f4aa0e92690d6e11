"""Keep a local cloud's outcome on disk, so the CLI can read it after the run.

moto holds everything in memory, so a LocalCloud's ledger, status events and buckets
vanish with the process. `save` writes them to one JSON file in a directory (by default
`.dropzone/local/` under the project root); `load` reads them back, with no moto needed.

Saved: every item of the jobs table as DynamoDB stores it, every status event
published, and the listing of each bucket (key, size, ETag, last modified), with the
bodies of objects up to SMALL_OBJECT_BYTES, and of Bedrock result files up to
RESULT_FILE_BYTES (what `dropzone jobs result --local` reads). With them, for `dropzone
budget --local`: the admission slots table's items (the daily budget's window among
them), the stack's parameter values, and the local cloud's clock (a run may move it on).
For `dropzone dashboard --local`: every metric datapoint the run recorded (`metrics`), and
the stack's dashboards as deployed, their DashboardBody resolved against the local stack.
For the edge endpoint (`dropzone edge serve --local`, `dropzone edge credentials --local`):
the edge device records, and once a credential is issued, the credential items and the
local HMAC key's material (`edge`), which `update_edge` rewrites in place.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dropzone.clock import iso, utcnow
from dropzone.models.jobs import Job
from dropzone.store.job_items import job_from_item
from dropzone_local.metrics import Datapoint

if TYPE_CHECKING:
    from dropzone_local.cloud import LocalCloud

FORMAT_VERSION = 1
STATE_FILE = "state.json"
SMALL_OBJECT_BYTES = 64 * 1024
RESULT_FILE_BYTES = 16 * 1024 * 1024
RESULT_FILES = "bedrock-batch/results/"
_BUCKET_OUTPUTS = ("DropZoneBucketName", "ResultsBucketName")


def default_state_dir(root: Path | None = None) -> Path:
    """`.dropzone/local/` under `root`, or under the source checkout."""
    return (root or Path(__file__).resolve().parents[1]) / ".dropzone" / "local"


class StateError(Exception):
    """No saved state, or a file this version cannot read."""


@dataclass(frozen=True)
class SavedObject:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: str
    body: bytes | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class LocalState:
    """A saved local cloud: read-only."""

    directory: Path
    saved_at: str
    stack_name: str
    region: str
    outputs: dict[str, str]
    items: list[dict[str, Any]]
    status_events: list[dict[str, Any]]
    objects: list[SavedObject] = field(default_factory=list)
    parameters: dict[str, str] = field(default_factory=dict)
    slot_items: list[dict[str, Any]] = field(default_factory=list)
    clock: str = ""  # the local cloud's time when it was saved (ISO 8601)
    metrics: list[Datapoint] = field(default_factory=list)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # logical id → properties
    device_items: list[dict[str, Any]] = field(default_factory=list)
    credential_items: list[dict[str, Any]] = field(default_factory=list)
    edge_key_material: bytes | None = None  # the local HMAC key's, once a credential exists

    def jobs(self) -> list[Job]:
        return [job_from_item(item) for item in self.items]

    def job(self, job_id: str) -> Job | None:
        for item in self.items:
            if item.get("job_id", {}).get("S") == job_id:
                return job_from_item(item)
        return None

    def object(self, uri: str) -> SavedObject | None:
        for saved in self.objects:
            if saved.uri == uri:
                return saved
        return None


def save(cloud: LocalCloud, directory: Path | None = None) -> Path:
    """Write the cloud's ledger, status events and buckets; return the file written."""
    directory = directory or default_state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    table = cloud.output("JobsTableName")
    items: list[dict[str, Any]] = []
    for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        items.extend(page.get("Items", []))
    items.sort(key=lambda item: item["job_id"]["S"])
    outputs = {name: cloud.deployed_output(name) for name in cloud.template.get("Outputs", {})}
    slot_items: list[dict[str, Any]] = []
    if outputs.get("AdmissionSlotsTableName"):
        for page in (
            cloud.client("dynamodb")
            .get_paginator("scan")
            .paginate(TableName=outputs["AdmissionSlotsTableName"])
        ):
            slot_items.extend(page.get("Items", []))
    document = {
        "format": FORMAT_VERSION,
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "stack_name": cloud.stack_name,
        "region": cloud.region,
        "outputs": outputs,
        "parameters": {name: cloud.parameter(name) for name in cloud.template["Parameters"]},
        "clock": iso(utcnow()),
        "jobs_table": {"name": table, "items": items},
        "slots_table": {"items": slot_items},
        "devices_table": {"items": scan_table(cloud, "EdgeDevicesTableName")},
        "status_events": cloud.status_events,
        "metrics": cloud.metrics.to_json(),
        "dashboards": cloud.resources("AWS::CloudWatch::Dashboard"),
        "objects": [
            _object_record(cloud, outputs[name], listed)
            for name in _BUCKET_OUTPUTS
            if name in outputs
            for listed in _listing(cloud, outputs[name])
        ],
    }
    path = directory / STATE_FILE
    partial = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    partial.replace(path)
    return path


def load(directory: Path | None = None) -> LocalState:
    directory = directory or default_state_dir()
    path = directory / STATE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise StateError(
            f"no saved local state in {directory} (run `dropzone demo --keep` first)"
        ) from error
    except (OSError, json.JSONDecodeError) as error:
        raise StateError(f"{path}: unreadable local state: {error}") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT_VERSION:
        raise StateError(f"{path}: not a local state file of format {FORMAT_VERSION}")
    return LocalState(
        directory=directory,
        saved_at=str(document.get("saved_at", "")),
        stack_name=str(document.get("stack_name", "")),
        region=str(document.get("region", "")),
        outputs=dict(document.get("outputs", {})),
        items=list(document.get("jobs_table", {}).get("items", [])),
        status_events=list(document.get("status_events", [])),
        objects=[_saved_object(record) for record in document.get("objects", [])],
        parameters=dict(document.get("parameters", {})),
        slot_items=list(document.get("slots_table", {}).get("items", [])),
        clock=str(document.get("clock", "")),
        metrics=[Datapoint.from_json(record) for record in document.get("metrics", [])],
        dashboards=dict(document.get("dashboards", {})),
        device_items=list(document.get("devices_table", {}).get("items", [])),
        credential_items=list(document.get("edge", {}).get("credential_items", [])),
        edge_key_material=_key_material(document.get("edge", {}).get("key_material")),
    )


def update_edge(
    directory: Path,
    *,
    job_items: list[dict[str, Any]] | None = None,
    device_items: list[dict[str, Any]] | None = None,
    credential_items: list[dict[str, Any]] | None = None,
    key_material: bytes | None = None,
) -> None:
    """Rewrite the sections given (the ledger, the device records, the credentials, the
    local HMAC key's material), leaving the rest of the saved run as it was."""
    path = directory / STATE_FILE
    document = json.loads(path.read_text(encoding="utf-8"))
    if job_items is not None:
        document["jobs_table"]["items"] = sorted(job_items, key=lambda item: item["job_id"]["S"])
    if device_items is not None:
        document["devices_table"] = {"items": device_items}
    edge = document.setdefault("edge", {})
    if credential_items is not None:
        edge["credential_items"] = credential_items
    if key_material is not None:
        edge["key_material"] = base64.b64encode(key_material).decode("ascii")
    partial = directory / f".{STATE_FILE}.{os.getpid()}.tmp"
    partial.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    partial.replace(path)


def seed(cloud: LocalCloud, state: LocalState) -> None:
    """Put a saved run into `cloud`: its ledger, its admission slots (the daily budget's
    window among them), its edge device records and credentials, and the objects it kept
    the bodies of, each in the bucket of this cloud that has the same role."""
    dynamodb, s3 = cloud.client("dynamodb"), cloud.client("s3")
    tables = (
        ("JobsTableName", state.items),
        ("AdmissionSlotsTableName", state.slot_items),
        ("EdgeDevicesTableName", state.device_items),
        ("EdgeCredentialsTableName", state.credential_items),
    )
    for output, items in tables:
        table = cloud.deployed_output(output)
        for item in items if table else []:
            dynamodb.put_item(TableName=table, Item=item)
    buckets = {
        state.outputs[name]: cloud.output(name)
        for name in _BUCKET_OUTPUTS
        if state.outputs.get(name)
    }
    for saved in state.objects:
        if saved.body is not None and saved.bucket in buckets:
            s3.put_object(Bucket=buckets[saved.bucket], Key=saved.key, Body=saved.body)


def scan_table(cloud: LocalCloud, output: str) -> list[dict[str, Any]]:
    """Every item of the table an output names; none when the stack has no such table."""
    table = cloud.deployed_output(output)
    if not table:
        return []
    items: list[dict[str, Any]] = []
    for page in cloud.client("dynamodb").get_paginator("scan").paginate(TableName=table):
        items.extend(page.get("Items", []))
    return items


def _key_material(text: Any) -> bytes | None:
    return base64.b64decode(text) if isinstance(text, str) and text else None


def _listing(cloud: LocalCloud, bucket: str) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = []
    for page in cloud.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed.extend(page.get("Contents", []))
    return listed


def _object_record(cloud: LocalCloud, bucket: str, listed: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "bucket": bucket,
        "key": listed["Key"],
        "size": int(listed.get("Size", 0)),
        "etag": str(listed.get("ETag", "")).strip('"'),
        "last_modified": str(listed.get("LastModified", "")),
    }
    limit = RESULT_FILE_BYTES if record["key"].startswith(RESULT_FILES) else SMALL_OBJECT_BYTES
    if record["size"] <= limit:
        body = cloud.client("s3").get_object(Bucket=bucket, Key=listed["Key"])["Body"].read()
        try:
            record["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            record["body_base64"] = base64.b64encode(body).decode("ascii")
    return record


def _saved_object(record: dict[str, Any]) -> SavedObject:
    body: bytes | None = None
    if "body" in record:
        body = str(record["body"]).encode("utf-8")
    elif "body_base64" in record:
        body = base64.b64decode(record["body_base64"])
    return SavedObject(
        bucket=str(record["bucket"]),
        key=str(record["key"]),
        size=int(record.get("size", 0)),
        etag=str(record.get("etag", "")),
        last_modified=str(record.get("last_modified", "")),
        body=body,
    )
