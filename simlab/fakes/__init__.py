"""Fakes of the outside world (CDN origin, site APIs) for tests and for the demo."""
