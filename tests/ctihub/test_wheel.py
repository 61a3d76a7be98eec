"""The built wheel, installed into a fresh virtual environment outside the source tree, runs
the demo hub and serves the panel, the admin page and the API from inside the package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh venv with the wheel built from this tree; and the build's output."""
    where = tmp_path_factory.mktemp("wheel")
    build = _run(
        sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "-w", where, ROOT, cwd=where
    )
    (wheel,) = where.glob("ctihub-*.whl")
    venv = where / "venv"
    _run(sys.executable, "-m", "venv", venv, cwd=where)
    # Dependencies from the machine's configured indexes (local mirrors first).
    _run(venv / "bin" / "pip", "install", "-q", wheel, cwd=where)
    return venv, build


def test_the_package_metadata_builds_without_the_licence_deprecation(
    installed: tuple[Path, str],
) -> None:
    _, build = installed
    assert "project.license" not in build and "License classifiers are deprecated" not in build
    assert "Building wheel for ctihub" in build or "Created wheel for ctihub" in build


def test_the_installed_demo_serves_the_panel_from_the_package(
    installed: tuple[Path, str], tmp_path: Path
) -> None:
    venv, _ = installed
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CTIHUB_")},
        "CTIHUB_HTTP__PORT": "0",
        "CTIHUB_AGI__PORT": "0",
        "CTIHUB_SIMULATOR__PORT": "0",
        "CTIHUB_DATABASE__URL": f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3",
        "CTIHUB_CRM__SPOOL_DIR": str(tmp_path / "spool"),
    }
    # Run from an empty folder: nothing may be found beside a source checkout.
    process = subprocess.Popen(
        [str(venv / "bin" / "ctihub"), "run", "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url, seen = None, []
        deadline = time.monotonic() + 120
        assert process.stdout is not None
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"agent panel:\s+(http://\S+/)", line)
            url = found.group(1) if found else None
        assert url, "".join(seen[-40:])
        for path, expected in (
            ("", "/static/panel.js"),
            ("admin", "/static/admin.js"),
            ("static/admin.js", "I18n.extend"),
            ("api/v1/openapi.json", '"/admin/people"'),
        ):
            with urllib.request.urlopen(url + path, timeout=10) as response:
                assert response.status == 200
                assert expected in response.read().decode()
        assert str(ROOT) not in "".join(seen)
    finally:
        process.terminate()
        process.wait(timeout=30)
