"""AG-UI: Netra's runs in the Agent User Interaction protocol's wire format.

`translate` maps persisted agent events to AG-UI events; `service` turns a
`RunAgentInput` into a Netra run and follows that run's events. The engine is
the same one the WebSocket drives: AG-UI is a second wire format, not a second
agent loop. It lives in `api` because it is a transport: it calls down into runs,
the event log and the follower, as the WebSocket endpoint does.
"""
