"""Shared helpers for the DTLS tests: certificates are slow to make, so a few are made once."""

from __future__ import annotations

import pytest

from voice.dtls import Certificate


@pytest.fixture(scope="session")
def certs() -> tuple[Certificate, Certificate]:
    return Certificate.generate(), Certificate.generate()
