"""Runs: starting, supervising, leasing, cancelling and ending them. Knows nothing about
HTTP or WebSockets; calls the agents and the event log."""

from netra.runs.leases import RunLeases
from netra.runs.service import RunService
from netra.runs.supervisor import RunSupervisor, RunTicket

__all__ = ["RunLeases", "RunService", "RunSupervisor", "RunTicket"]
