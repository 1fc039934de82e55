"""The service's ASGI middlewares, one per module; `stack.install_middlewares` adds them in their order."""
