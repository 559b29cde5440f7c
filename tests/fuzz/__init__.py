"""The bad input suite: the REST API fuzzed from its OpenAPI schema, every gRPC method fed
random and hostile messages, and explicit path traversal, protocol injection and oversized
bodies. Every module runs the three real services (simlab/harness.py) against closed local
ports, so nothing reaches the internet."""
