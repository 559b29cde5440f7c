"""Fakes and tools shared by the demo, the fault suite, the benchmarks and the tests: fake sites and
CDNs (``simlab.fakes``), the harness that starts the three services (``simlab.harness``) and
the media checks (``simlab.media_check``). Not shipped in the wheel."""
