"""``voice serve`` as a function: signaling and transceiver (and the relay, when asked) in one
``trio.run``, each service under its own nursery.

Tests start exactly what a person starts with ``./dev serve``: they call :func:`run_server`
in their nursery and get the URLs back through ``task_status``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve

from voice.signaling.app import SignalingConfig, create_app
from voice.transceiver.service import Transceiver, TransceiverConfig
from voice.types import Address

log = logging.getLogger(__name__)


@dataclass
class ServerConfig:
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    transceiver: TransceiverConfig = field(default_factory=TransceiverConfig)
    signaling: SignalingConfig = field(default_factory=SignalingConfig)


@dataclass(frozen=True, slots=True)
class ServerInfo:
    url: str
    media: Address
    transceiver: Transceiver


async def run_server(
    config: ServerConfig, *, task_status: trio.TaskStatus[ServerInfo] = trio.TASK_STATUS_IGNORED
) -> None:
    transceiver = Transceiver(config.transceiver)
    app = create_app(transceiver, config.signaling)
    hconfig = HypercornConfig()
    hconfig.bind = [f"{config.http_host}:{config.http_port}"]
    hconfig.accesslog = None
    hconfig.errorlog = logging.getLogger("hypercorn.error")
    hconfig.graceful_timeout = 1.0
    async with trio.open_nursery() as nursery:
        media = await nursery.start(transceiver.run)
        binds = await nursery.start(hypercorn_serve, app, hconfig)
        url = binds[0].replace("0.0.0.0", "127.0.0.1") + "/"
        task_status.started(ServerInfo(url=url, media=media, transceiver=transceiver))
