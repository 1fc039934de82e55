"""The HTTP service: FastAPI app, routes, micro-batching, inference in its own process, operations."""
