"""HTTP API: the create_app() factory and the REST routes."""
