"""Chat models: the interface the agent loop talks to, and its implementations."""
