"""Helpers for the relay's Trio tests: a fake client, relay start-up, tokens."""

from __future__ import annotations

import socket

import trio

from tests.support.relay import binding_request
from voice.relay.token import TokenKey, TokenMinter
from voice.types import Address

KEY = TokenKey(1, b"relay test key, not a secret....")
#: Guards against a hang; never a timing assertion.
HANG = 10


def token(transceiver: int, cluster: int = 0, key: TokenKey = KEY) -> bytes:
    import time

    return TokenMinter(key, cluster, transceiver).mint(time.time()).encode()


def check(transceiver: int, cluster: int = 0, key: TokenKey = KEY) -> bytes:
    """A STUN Binding request whose server ufrag routes to ``transceiver``."""
    return binding_request(token(transceiver, cluster, key) + b":cli1")


class Client:
    """A UDP client on loopback: what a browser's ICE agent looks like to the relay."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = trio.socket.socket(family, socket.SOCK_DGRAM)
        self.host = host
        self.address: Address = (host, 0)

    async def open(self) -> Client:
        await self.sock.bind((self.host, 0))
        self.address = self.sock.getsockname()[:2]
        return self

    async def send(self, data: bytes, relay: Address) -> None:
        await self.sock.sendto(data, relay)

    async def receive(self) -> tuple[bytes, Address]:
        data, source = await self.sock.recvfrom(4096)
        return data, source[:2]

    def close(self) -> None:
        self.sock.close()
