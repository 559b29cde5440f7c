"""The HTTP gateway: REST, server-sent events and file serving over the gRPC services.

It holds no state and no business logic: it validates the shape of requests, translates them
to gRPC, and maps gRPC status codes back to HTTP."""

import servicekit  # noqa: F401  (first: sets gRPC core environment before grpc loads)
