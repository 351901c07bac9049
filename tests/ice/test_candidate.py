"""Tests of candidate priorities and the RFC 8839 §5.1 candidate attribute."""

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voice.ice import Candidate, IceParseError, candidate_priority, host_candidate


def test_priority_formula() -> None:
    # RFC 8445 §5.1.2.1 with the host type preference of 126 (§5.1.2.2).
    assert candidate_priority(126, 65535, 1) == 2130706431
    assert candidate_priority(126, 65535, 2) == 2130706430
    assert candidate_priority(0, 0, 256) == 0
    assert candidate_priority(100, 1, 1) == (100 << 24) + (1 << 8) + 255
    for bad in ((127, 0, 1), (0, 65536, 1), (0, 0, 0), (0, 0, 257)):
        with pytest.raises(ValueError):
            candidate_priority(*bad)


def test_host_candidate() -> None:
    assert host_candidate("203.0.113.7", 3478) == "1 1 udp 2130706431 203.0.113.7 3478 typ host"
    assert host_candidate("2001:db8::1", 9, component=2, foundation="ab+/", local_preference=1) == (
        f"ab+/ 2 udp {(126 << 24) + 256 + 254} 2001:db8::1 9 typ host"
    )


def test_host_candidate_parses_back() -> None:
    value = host_candidate("198.51.100.1", 50000)
    candidate = Candidate.parse(value)
    assert candidate == Candidate("1", 1, "udp", 2130706431, "198.51.100.1", 50000, "host")
    assert candidate.encode() == value


@pytest.mark.parametrize(
    ("host", "port", "foundation"),
    [("example.org", 1, "1"), ("192.0.2.1", 0, "1"), ("192.0.2.1", 1, "a b"), ("192.0.2.1", 1, "")],
)
def test_host_candidate_refuses_bad_input(host: str, port: int, foundation: str) -> None:
    with pytest.raises(ValueError):
        host_candidate(host, port, foundation=foundation)


CHROME_HOST = "3738444404 1 udp 2122194687 127.0.0.1 40384 typ host generation 0 network-id 3"


@pytest.mark.parametrize(
    "line",
    [
        # The shapes browsers send (RFC 8839 §5.1 plus extensions).
        CHROME_HOST,
        "candidate:842163049 1 udp 1677729535 198.51.100.9 54321 typ srflx raddr 0.0.0.0 "
        "rport 0 generation 0 ufrag abcd network-cost 999",
        "2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 203.0.113.141 rport 8998",
        "a=candidate:1 1 UDP 2122260223 192.0.2.44 61000 typ host",
        "2 1 tcp 1518280447 192.0.2.44 9 typ host tcptype active",
        "3 1 udp 2122262783 2001:db8::44 61001 typ host generation 0",
        "4 1 udp 25108223 203.0.113.3 30000 typ relay raddr 198.51.100.9 rport 54321",
        "5 1 udp 2122260223 8b1f5a0c-4b3f-4c1e-9b9f-2f7f0a1b2c3d.local 61000 typ host",
    ],
)
def test_real_candidates_encode_back_unchanged(line: str) -> None:
    candidate = Candidate.parse(line)
    assert candidate.type in {"host", "srflx", "relay"}
    # Only the optional "a=candidate:" or "candidate:" prefix is lost.
    assert line.endswith(candidate.encode())
    assert str(candidate) == candidate.encode()
    assert Candidate.parse(candidate.encode()) == candidate


def test_parsed_fields() -> None:
    candidate = Candidate.parse(
        "candidate:842163049 1 udp 1677729535 198.51.100.9 54321 typ srflx raddr 0.0.0.0 "
        "rport 0 generation 0"
    )
    assert candidate.foundation == "842163049"
    assert candidate.priority == 1677729535
    assert (candidate.address, candidate.port) == ("198.51.100.9", 54321)
    assert (candidate.related_address, candidate.related_port) == ("0.0.0.0", 0)
    assert candidate.extensions == (("generation", "0"),)


def test_unknown_extensions_are_kept_in_order() -> None:
    # RFC 8839 §5.1: a receiver ignores extensions it does not know; keeping them lets the
    # candidate encode back as it came.
    candidate = Candidate.parse(CHROME_HOST)
    assert candidate.foundation == "3738444404"
    assert (candidate.component, candidate.transport, candidate.priority) == (1, "udp", 2122194687)
    assert (candidate.address, candidate.port, candidate.type) == ("127.0.0.1", 40384, "host")
    assert (candidate.related_address, candidate.related_port) == (None, None)
    assert candidate.extensions == (("generation", "0"), ("network-id", "3"))
    assert Candidate.parse("candidate:" + CHROME_HOST) == candidate  # JSEP's form
    # raddr/rport are only read right after the type; later, a pair of that name is an
    # extension like any other.
    late = Candidate.parse("1 1 udp 1 192.0.2.1 9 typ host generation 0 raddr 192.0.2.2")
    assert late.related_address is None
    assert late.extensions == (("generation", "0"), ("raddr", "192.0.2.2"))


def test_ip_tells_addresses_from_mdns_names() -> None:
    assert str(Candidate.parse(CHROME_HOST).ip) == "127.0.0.1"
    v6 = Candidate.parse("1 1 udp 2113937151 fd00::2 46638 typ host")
    assert v6.ip is not None and v6.ip.version == 6
    mdns = Candidate.parse("1 1 udp 2113937151 5c7c6230-15d7.local 46638 typ host")
    assert mdns.ip is None


def test_accepts_the_limits_of_the_grammar() -> None:
    foundation = "a+/" + "x" * 29  # 32 ice-chars
    candidate = Candidate.parse(f"{foundation} 256 udp 2147483647 192.0.2.1 65535 typ host")
    assert (candidate.foundation, candidate.component) == (foundation, 256)
    assert (candidate.priority, candidate.port) == (2**31 - 1, 65535)


@pytest.mark.parametrize(
    "line",
    [
        "1 1 udp 2130706431 192.0.2.1 3478",  # too few fields
        "1 1 udp 2130706431 192.0.2.1 3478 host",  # no "typ"
        "1 1 udp 2130706431 192.0.2.1 3478 typ",  # no type
        "1 1  udp 2130706431 192.0.2.1 3478 typ host",  # two spaces: an empty field
        "1 1 udp 2130706431 192.0.2.1 3478 typ host ",  # trailing space
        "1 0 udp 2130706431 192.0.2.1 3478 typ host",  # component ids start at 1
        "1 257 udp 2130706431 192.0.2.1 3478 typ host",  # and end at 256
        "1 1000 udp 2130706431 192.0.2.1 3478 typ host",  # 4-digit component
        "1 1 udp 0 192.0.2.1 3478 typ host",  # priority 0
        "1 1 udp 2147483648 192.0.2.1 3478 typ host",  # priority 2**31
        "1 1 udp 99999999999 192.0.2.1 3478 typ host",  # 11 digits
        "1 1 udp 2130706431 192.0.2.1 65536 typ host",  # port
        "1 1 udp 2130706431 192.0.2.1 ٣٤ typ host",  # Arabic-Indic digits are not DIGIT
        "1 1 udp 2130706431 192.0.2.1 3478 typ srflx rport x",  # related port
        "1 1 udp 2130706431 192.0.2.1 3478 typ srflx raddr a(b rport 9",  # related address
        "1 1 udp 2130706431 192.0(2.1 3478 typ host",  # connection address
        "f@o 1 udp 2130706431 192.0.2.1 3478 typ host",  # foundation not ice-char
        "x" * 33 + " 1 udp 2130706431 192.0.2.1 3478 typ host",  # foundation too long
        "1 1 u(p 2130706431 192.0.2.1 3478 typ host",  # transport not a token
        "1 1 udp 2130706431 192.0.2.1 3478 typ h@st",  # type not a token
        "1 1 udp 2130706431 192.0.2.1 3478 typ host generation",  # dangling extension
        "1 1 udp 2130706431 192.0.2.1 3478 typ host a(b c",  # extension name not a token
        "1 1 udp 2130706431 192.0.2.1 3478 typ host generation ٣",  # value is not VCHAR
    ],
)
def test_rejects_bad_candidates(line: str) -> None:
    with pytest.raises(IceParseError):
        Candidate.parse(line)


NOISE = st.text(st.sampled_from(list(" :/.-+@0123456789abcdefhostyprxudpUDP٣\x00\t")), max_size=8)


@st.composite
def mutated_candidate(draw: st.DrawFn) -> str:
    """A real candidate with a slice replaced by noise, to reach past the first checks."""
    line = draw(st.sampled_from([CHROME_HOST, host_candidate("2001:db8::1", 9)]))
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, min(len(line), start + 6)))
    return line[:start] + draw(NOISE) + line[end:]


@settings(max_examples=2000)
@given(st.text(max_size=120) | mutated_candidate())
def test_garbage_raises_only_candidate_parse_error(text: str) -> None:
    with contextlib.suppress(IceParseError):
        Candidate.parse(text)
