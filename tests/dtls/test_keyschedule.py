"""The TLS 1.2 PRF and what is derived from it."""

from __future__ import annotations

import pytest

from voice.dtls.keyschedule import (
    SUITES,
    compute_master_secret,
    export_keying_material,
    key_block,
    nss_key_log_line,
    prf,
    verify_data,
)
from voice.dtls.registry import CipherSuite

# Published TLS 1.2 PRF test vectors (posted to the IETF TLS working group list and used by
# many implementations' test suites): secret, seed, label "test label", output.
PRF_SHA256 = (
    "9bbe436ba940f017b17652849a71db35",
    "a0ba9f936cda311827a6f796ffd5198c",
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af"
    "0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701"
    "87347b66",
)
PRF_SHA384 = (
    "b80b733d6ceefcdc71566ea48e5567df",
    "cd665cf6a8447dd6ff8b27555edb7465",
    "7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cde9ca0faa60be9fe34f82b1233c9146a0"
    "e534cb400fed2700884f9dc236f80edd8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425"
    "9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee691c8f3a26854308d5eaa3be85e099070"
    "3d73e56f",
)


@pytest.mark.parametrize(("hash_name", "vector"), [("sha256", PRF_SHA256), ("sha384", PRF_SHA384)])
def test_prf_published_vectors(hash_name: str, vector: tuple[str, str, str]) -> None:
    secret, seed, expected = vector
    out = prf(
        hash_name, bytes.fromhex(secret), b"test label", bytes.fromhex(seed), len(expected) // 2
    )
    assert out.hex() == expected


def test_prf_output_is_a_prefix_of_longer_output() -> None:
    assert prf("sha256", b"k", b"l", b"s", 10) == prf("sha256", b"k", b"l", b"s", 100)[:10]


def test_extended_master_secret_depends_on_the_session_hash() -> None:
    common = {"client_random": b"c" * 32, "server_random": b"s" * 32}
    classic = compute_master_secret("sha256", b"pms", session_hash=None, **common)
    ems1 = compute_master_secret("sha256", b"pms", session_hash=b"1" * 32, **common)
    ems2 = compute_master_secret("sha256", b"pms", session_hash=b"2" * 32, **common)
    assert len(classic) == len(ems1) == 48
    assert len({classic, ems1, ems2}) == 3
    assert classic == prf("sha256", b"pms", b"master secret", b"c" * 32 + b"s" * 32, 48)
    assert ems1 == prf("sha256", b"pms", b"extended master secret", b"1" * 32, 48)


@pytest.mark.parametrize("suite", list(SUITES))
def test_key_block_split(suite: CipherSuite) -> None:
    params = SUITES[suite]
    keys = key_block(params, b"m" * 48, b"c" * 32, b"s" * 32)
    k, iv = params.key_length, params.fixed_iv_length
    block = prf(params.hash_name, b"m" * 48, b"key expansion", b"s" * 32 + b"c" * 32, 2 * (k + iv))
    assert (
        keys.client_write_key + keys.server_write_key + keys.client_write_iv + keys.server_write_iv
        == block
    )
    assert len(keys.client_write_key) == k and len(keys.server_write_iv) == iv


def test_verify_data_labels() -> None:
    client = verify_data("sha256", b"m" * 48, client=True, handshake_hash=b"h" * 32)
    server = verify_data("sha256", b"m" * 48, client=False, handshake_hash=b"h" * 32)
    assert len(client) == len(server) == 12 and client != server
    assert client == prf("sha256", b"m" * 48, b"client finished", b"h" * 32, 12)


def test_exporter_seed() -> None:
    kwargs = {"client_random": b"c" * 32, "server_random": b"s" * 32, "label": b"L", "length": 20}
    no_context = export_keying_material("sha256", b"m" * 48, context=None, **kwargs)  # type: ignore[arg-type]
    with_context = export_keying_material("sha256", b"m" * 48, context=b"ab", **kwargs)  # type: ignore[arg-type]
    assert no_context == prf("sha256", b"m" * 48, b"L", b"c" * 32 + b"s" * 32, 20)
    assert with_context == prf("sha256", b"m" * 48, b"L", b"c" * 32 + b"s" * 32 + b"\x00\x02ab", 20)
    with pytest.raises(ValueError, match="65535"):
        export_keying_material("sha256", b"m", context=bytes(2**16), **kwargs)  # type: ignore[arg-type]


def test_nss_key_log_line() -> None:
    line = nss_key_log_line(bytes(range(32)), b"\xff" * 48)
    assert line == "CLIENT_RANDOM " + bytes(range(32)).hex() + " " + "ff" * 48
