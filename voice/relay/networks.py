"""Which peers may speak the shim: an allowlist of IP networks, cheap to ask per packet.

The shim header is trusted: a shim packet makes the relay send its payload to the client
address it names (VOICE-SHIM §7). So the relay accepts shim packets only from transceivers
(the networks given with ``--transceiver-network``, and the addresses its directory knows),
and a transceiver accepts them only from its relays' networks. The same class serves both.

:mod:`ipaddress` is slow for a per-packet test, so answers are memoised per source IP; the
memo is bounded (cleared when full) because an attacker on the internal network could send
from many addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class NetworkAllowlist:
    """A set of networks plus optional extra hosts; ``allows(ip)`` is memoised."""

    def __init__(
        self,
        networks: Iterable[str | IPNetwork] = (),
        *,
        extra_hosts: Callable[[], set[str]] | None = None,
        memo_size: int = 4096,
    ) -> None:
        self.networks: tuple[IPNetwork, ...] = tuple(
            n if not isinstance(n, str) else ipaddress.ip_network(n, strict=False) for n in networks
        )
        self._extra_hosts = extra_hosts
        self._memo: dict[str, bool] = {}
        self._memo_size = memo_size

    def invalidate(self) -> None:
        """Forgets memoised answers (call when the extra hosts changed)."""
        self._memo.clear()

    def allows(self, ip: str) -> bool:
        answer = self._memo.get(ip)
        if answer is None:
            answer = self._decide(ip)
            if len(self._memo) >= self._memo_size:
                self._memo.clear()
            self._memo[ip] = answer
        return answer

    def _decide(self, ip: str) -> bool:
        if self._extra_hosts is not None and ip in self._extra_hosts():
            return True
        try:
            address = ipaddress.ip_address(ip.partition("%")[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
