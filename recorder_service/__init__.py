"""The recorder: supervises ffmpeg recording sessions and streams their events over gRPC."""
