"""The committed Python stubs must match protos/ (regenerate with `make proto`)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_stubs_are_in_sync_with_the_proto_files():
    result = subprocess.run(
        [sys.executable, "-m", "tools.genproto", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, f"stubs are stale, run `make proto`:\n{result.stderr}"


def test_stub_check_detects_a_stale_stub(tmp_path, monkeypatch):
    import tools.genproto as genproto

    stub = ROOT / "streamrec" / "v1" / "quality_pb2.pyi"
    original = stub.read_bytes()
    try:
        stub.write_bytes(original + b"\n# edited by hand\n")
        monkeypatch.setattr(sys, "argv", ["genproto", "--check"])
        assert genproto.main() == 1
    finally:
        stub.write_bytes(original)
