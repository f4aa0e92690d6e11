"""Edge deployments: Edge Manager-shaped records settled by heartbeats, and Greengrass roll-outs."""

from dropzone.models.jobs import JobKind

# The kind of job every edge workflow records.
KIND = JobKind.EDGE_DEPLOYMENT
