"""The one error service discovery raises."""


class ServiceUnavailable(RuntimeError):
    """No way to get the service; the message says what to install or set."""
