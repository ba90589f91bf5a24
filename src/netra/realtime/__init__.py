"""Realtime: the event contract, the event bus, connections and the /ws endpoint."""
