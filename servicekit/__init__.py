"""Code shared by the three streamrec services: logging, correlation ids, gRPC bootstrap,
retry policies, settings helpers and the ffmpeg locator."""

import os

# gRPC's C core reads these when it loads: keep its own (non-JSON) lines off stderr, and skip
# its fork handlers, which the recorder does not need (it spawns ffmpeg, never forks Python).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
