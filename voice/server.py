"""``voice serve`` as a function: the relay, the transceiver and signaling in one ``trio.run``,
each service under its own nursery.

By default the path is the one the design teaches: the browser's datagrams reach the
**relay** on the advertised public port, which routes them by the session's ufrag (a routing
token minted here, at signaling time) to the **transceiver** behind it, over the shim. With
``relay=None`` (``voice serve --direct``) the transceiver faces the client itself.

Tests start exactly what a person starts with ``./dev serve``: they call :func:`run_server`
in their nursery and get the URLs back through ``task_status``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from voice.relay.config import RelayConfig
from voice.relay.counters import RelayCollector
from voice.relay.token import TokenMinter
from voice.relay.worker import RelayWorker
from voice.signaling.app import SignalingConfig, create_app
from voice.transceiver.service import Transceiver, TransceiverConfig
from voice.types import Address

log = logging.getLogger(__name__)

#: The id this process's transceiver has in the embedded relay's directory.
EMBEDDED_TRANSCEIVER_ID = 0


@dataclass
class ServerConfig:
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    transceiver: TransceiverConfig = field(default_factory=TransceiverConfig)
    signaling: SignalingConfig = field(default_factory=SignalingConfig)
    #: The embedded relay (its ``public`` address is what clients send to), or None for
    #: direct mode. Its directory is filled in here with the transceiver's relay input.
    relay: RelayConfig | None = None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    #: Where clients send media: the relay's public address, or the transceiver's.
    media: Address
    transceiver: Transceiver
    relay: RelayWorker | None = None
    #: Set it to stop the server gracefully (what Ctrl-C does).
    stop: trio.Event = field(default_factory=trio.Event)


async def run_server(
    config: ServerConfig, *, task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED
) -> None:
    tconfig = config.transceiver
    relay_config = config.relay
    if relay_config is not None:
        minter = TokenMinter(
            relay_config.keys[0], cluster=relay_config.cluster, transceiver=EMBEDDED_TRANSCEIVER_ID
        )
        # VOICE-RELAY §9: the embedded relay and transceiver are one host, so their shim
        # link is loopback whatever the public address. On an interface address, or on a
        # wildcard, each side would otherwise see the other's datagrams come from an
        # address it was not told to trust (VOICE-SHIM §7) and drop them all.
        link = _loopback_for(relay_config.public[0])
        relay_config = dataclasses.replace(relay_config, internal=(link, 0))
        tconfig = dataclasses.replace(
            tconfig,
            ufrag_factory=lambda: minter.mint(time.time()),
            relay_input=(link, 0),
            relay_networks=(f"{link}/{32 if link == '127.0.0.1' else 128}",),
        )
    transceiver = Transceiver(tconfig)
    app = create_app(transceiver, config.signaling)
    hconfig = HypercornConfig()
    hconfig.bind = [f"{config.http_host}:{config.http_port}"]
    hconfig.accesslog = None
    hconfig.errorlog = logging.getLogger("hypercorn.error")
    hconfig.graceful_timeout = 1.0
    # A connection that sends nothing for this long is closed, whatever it was doing; a
    # body that trickles in more slowly than that is cut by Quart's BODY_TIMEOUT (408).
    hconfig.read_timeout = max(1, round(config.signaling.body_timeout))
    relay: RelayWorker | None = None
    async with trio.open_nursery() as nursery:
        media = await nursery.start(transceiver.run)
        if relay_config is not None:
            assert transceiver.relay_input is not None
            relay = RelayWorker(
                dataclasses.replace(
                    relay_config,
                    static_directory={EMBEDDED_TRANSCEIVER_ID: transceiver.relay_input},
                )
            )
            # The relay is a nursery tree of its own: it shares nothing with the
            # transceiver but the addresses, exactly as when it runs in another process.
            media = await nursery.start(relay.run)
            if not tconfig.advertised:
                transceiver.config.advertised = (media,)
            worker = relay
            transceiver.registry.register(RelayCollector(lambda: {0: worker.counters}))
        binds = await nursery.start(hypercorn_serve, app, hconfig)
        url = binds[0].replace("0.0.0.0", "127.0.0.1") + "/"
        info = ServerInfo(url=url, media=media, transceiver=transceiver, relay=relay)
        task_status.started(info)
        await info.stop.wait()
        # Calls first, while the relay still forwards their goodbyes (RTCP BYE, DTLS
        # close_notify); then everything else.
        await transceiver.end_all("shutdown", grace=2.0)
        nursery.cancel_scope.cancel()


def _loopback_for(host: str) -> str:
    """The loopback address of ``host``'s family: the embedded shim link's address."""
    return "::1" if ":" in host else "127.0.0.1"
