"""Edge deployments: Edge Manager-shaped records settled by heartbeats, and Greengrass roll-outs."""
