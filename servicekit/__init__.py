"""Code shared by the three streamrec services: logging, correlation ids, gRPC bootstrap,
retry policies, settings helpers and the ffmpeg locator."""
