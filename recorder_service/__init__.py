"""The recorder: supervises ffmpeg recording sessions and streams their events over gRPC."""

import servicekit  # noqa: F401  (first: sets gRPC core environment before grpc loads)
