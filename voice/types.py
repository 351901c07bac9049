"""Small types shared by every layer."""

from __future__ import annotations

#: A transport address as ``(host, port)``, host in its textual form ("192.0.2.1",
#: "2001:db8::1"). Drivers normalise the 4-tuples that IPv6 sockets return to this shape
#: before handing addresses to a sans-IO layer.
Address = tuple[str, int]
