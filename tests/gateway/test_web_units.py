"""The dashboard's pure modules (status vocabulary, target parsing, state, views, formats),
tested by Node's own test runner: milliseconds, no browser."""

from __future__ import annotations

import shutil
import subprocess

from simlab.harness import ROOT


def test_the_dashboards_pure_modules_pass_their_node_tests() -> None:
    node = shutil.which("node")
    assert node, "Node.js is needed to build and test the dashboard (make web)"
    done = subprocess.run(
        [node, "--test", "gateway/web/test/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout
