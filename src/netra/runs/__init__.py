"""Runs: starting, supervising, cancelling and ending them. Knows nothing about HTTP or
WebSockets; calls the agents and the event log."""

from netra.runs.service import RunService
from netra.runs.supervisor import RunSupervisor, RunTicket, recover_orphaned_runs

__all__ = ["RunService", "RunSupervisor", "RunTicket", "recover_orphaned_runs"]
