"""Job status changes: the ledger's stream → `Dropzone Job Status Change` events."""
