"""The transceiver with signaling, on real loopback sockets, called by our synthetic caller.

These run in one ``trio.run``: the server (signaling + transceiver) under one nursery, the
caller under another, talking over 127.0.0.1 like two machines would.
"""

from __future__ import annotations

import math
from functools import partial

import trio

from voice.loadgen.caller import Caller, http
from voice.metrics import sample_value
from voice.rtp import RtpPacket
from voice.sdp import build_offer
from voice.server import ServerConfig, ServerInfo, run_server
from voice.transceiver.service import TransceiverConfig
from voice.transceiver.session import SessionLimits


async def serve(nursery: trio.Nursery, **config: object) -> ServerInfo:
    limits = config.pop("limits", SessionLimits())
    info: ServerInfo = await nursery.start(
        run_server,
        ServerConfig(
            http_port=0,
            transceiver=TransceiverConfig(limits=limits, **config),  # type: ignore[arg-type]
        ),
    )
    return info


async def test_echo_call_round_trip_and_hang_up(nursery: trio.Nursery) -> None:
    info = await serve(nursery)
    caller = Caller(info.url)
    async with trio.open_nursery() as calls:
        calls.start_soon(caller.run, 2.5)
        await caller.connected.wait()
        [session] = info.transceiver.sessions.values()
    result = caller.result
    assert result.failed is None
    assert result.posted_at < result.answered_at <= result.ice_at <= result.dtls_at
    assert not math.isnan(result.first_audio_at)
    # Two probe bursts went out and came back through decode, echo and encode.
    assert len(result.round_trips) >= 2
    assert all(0 < rtt < 0.5 for rtt in result.round_trips)
    assert result.packets_received > 80
    with trio.fail_after(5):
        await session.ended.wait()
    assert session.end_reason == "deleted by signaling"
    assert (
        sample_value(
            info.transceiver.registry, "voice_sessions_ended_total", reason="deleted_by_signaling"
        )
        == 1
    )


async def test_session_ends_on_consent_expiry_and_sends_nothing_after(
    nursery: trio.Nursery,
) -> None:
    info = await serve(nursery, consent_timeout=1.0)
    caller = Caller(info.url)
    async with trio.open_nursery() as calls:
        calls.start_soon(partial(caller.run, 30.0, hang_up=False))
        await caller.connected.wait()
        [session] = info.transceiver.sessions.values()
        caller.muted = True  # the caller vanishes: no more checks, no media
        with trio.fail_after(5):
            await session.ended.wait()
        calls.cancel_scope.cancel()
    assert session.end_reason == "ICE consent expired"
    assert not info.transceiver.sessions


async def test_handshake_deadline_ends_a_session_nobody_joins(nursery: trio.Nursery) -> None:
    info = await serve(nursery, limits=SessionLimits(handshake_timeout=0.3))
    offer = build_offer(
        ice_ufrag="nobody",
        ice_pwd="n" * 22,
        fingerprint=("sha-256", "AB:" * 31 + "AB"),
        ssrc=1,
        cname="nobody",
    )
    status, headers, _ = await trio.to_thread.run_sync(
        http, "POST", info.url + "v1/sessions", offer.encode()
    )
    assert status == 201
    session = info.transceiver.sessions[headers["location"].split("?")[0].rsplit("/", 1)[1]]
    with trio.fail_after(5):
        await session.ended.wait()
    assert session.end_reason == "handshake timeout"
    assert (
        sample_value(
            info.transceiver.registry, "voice_sessions_ended_total", reason="handshake_timeout"
        )
        == 1
    )


async def test_server_hang_up_reaches_the_caller_as_close_notify(nursery: trio.Nursery) -> None:
    info = await serve(nursery)
    caller = Caller(info.url)
    async with trio.open_nursery() as calls:
        calls.start_soon(partial(caller.run, 30.0, hang_up=False))
        await caller.connected.wait()
        [session] = info.transceiver.sessions.values()
        info.transceiver.end_session(session.id, "deleted by signaling")
        with trio.fail_after(5):
            await caller.closed.wait()
        calls.cancel_scope.cancel()
    assert caller.result.end_reason.startswith("DTLS closed")


async def test_malformed_opus_is_concealed_and_the_call_goes_on(nursery: trio.Nursery) -> None:
    info = await serve(nursery)
    caller = Caller(info.url)
    async with trio.open_nursery() as calls:
        calls.start_soon(partial(caller.run, 30.0, hang_up=False))
        await caller.connected.wait()
        [session] = info.transceiver.sessions.values()
        assert caller.peer is not None
        # RFC 6716 §3.4 R1/R7: an empty packet, and a code-3 packet claiming 63 frames.
        for n, payload in enumerate((b"", b"\x03\xff")):
            caller.peer.send_rtp(
                RtpPacket(111, 40000 + n, 7_000_000 + n * 960, 99, payload=payload),
                trio.current_time(),
            )
        await caller._flush()  # the test sends outside the pacer
        with trio.fail_after(5):
            while session.frames_malformed < 1:
                await session.rtp_after(trio.current_time())
        await caller.rtp_after(trio.current_time())
        calls.cancel_scope.cancel()
    assert session.end_reason in ("running", "shutdown")
