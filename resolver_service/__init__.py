"""The resolver's domain core: turns a target (a username or an HLS URL) into a playable stream.

Nothing in this package knows about gRPC; the servicer adapts it. ``targets`` validates and
classifies what the user typed, ``playlist`` parses m3u8 text, ``quality`` picks a variant, and
``sources`` holds one plugin per site behind a registry.
"""

import servicekit  # noqa: F401  (first: sets gRPC core environment before grpc loads)
