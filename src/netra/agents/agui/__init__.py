"""AG-UI: Netra's runs in the Agent User Interaction protocol's wire format.

`translate` maps persisted agent events to AG-UI events; `service` turns a
`RunAgentInput` into a Netra run and follows that run's events. The engine is
the same one the WebSocket drives: AG-UI is a second wire format, not a second
agent loop.
"""
