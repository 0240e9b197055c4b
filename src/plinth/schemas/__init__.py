"""Pydantic wire models shared by the server (request validation, responses) and the REST store.

Responses are the entities themselves wherever their JSON is plain; ``RunWire`` and
``MetricWire`` exist only because JSON has no NaN or infinity (see ``common.WireFloat``).
The REST store turns response JSON back into entities with ``common.decode``.
"""
