"""``streamrec``: the command line over the recorder's gRPC API."""

import os

# As in servicekit: gRPC's C core reads these when it loads, so they are set before anything
# imports grpc (its own log lines would otherwise break the one-line error contract on stderr).
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
