"""Fixtures and helpers shared by every test module."""

from __future__ import annotations

import os
import shutil

import pytest


def require_program(name: str, path: str | None = None) -> str:
    """Returns the path of an external peer program (openssl, chromium), or skips the test.

    Under ``./dev test`` (which sets ``VOICE_REQUIRE_PEERS=1`` after installing the peers)
    a missing peer fails the test instead: conformance tests must not pass by not running.
    """
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed (./dev test installs it)"
    if os.environ.get("VOICE_REQUIRE_PEERS") == "1":
        pytest.fail(message)
    pytest.skip(message)
