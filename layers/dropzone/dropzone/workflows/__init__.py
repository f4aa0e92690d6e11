"""Workflow logic, one module per workflow; each takes its adapters as arguments."""
