"""Generate the Python stubs (messages, gRPC, and .pyi type stubs) for protos/streamrec/v1.

Used by ``make proto`` and by the test that checks the committed stubs are in sync.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE = Path("streamrec") / "v1"
log = logging.getLogger("genproto")


def generate(out_dir: Path) -> list[Path]:
    """Run protoc into ``out_dir``; return the generated files relative to it."""
    import grpc_tools

    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    bindir = Path(sys.executable).parent
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *protos,
    ]
    subprocess.run(cmd, check=True, cwd=PROTO_ROOT)
    return sorted(p.relative_to(out_dir) for p in (out_dir / PACKAGE).glob("*_pb2*"))


def main() -> int:
    """Regenerate the committed stubs under streamrec/v1 (or just compare with --check)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the stubs are stale")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = generate(out)
        target = ROOT / PACKAGE
        stale = [
            f
            for f in files
            if not (ROOT / f).exists() or (ROOT / f).read_bytes() != (out / f).read_bytes()
        ]
        extra = {p.relative_to(ROOT) for p in target.glob("*_pb2*")} - set(files)
        if args.check:
            for f in [*stale, *sorted(extra)]:
                log.error("stale: %s", f)
            return 1 if stale or extra else 0
        for f in stale:
            shutil.copyfile(out / f, ROOT / f)
            log.info("wrote %s", f)
        for f in extra:
            (ROOT / f).unlink()
            log.info("removed %s", f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
