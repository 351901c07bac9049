"""Per-worker counters of the relay, as a log line and as Prometheus text.

A relay that drops packets silently is impossible to operate: every packet it does not
forward is counted under the reason it was dropped (VOICE-RELAY §7), next to the packets and
bytes it moved in each direction, the admissions it granted, and the size of its table.
The counters are plain integers bumped by the driver's hot loop; exporting them is the
only thing that formats strings.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from voice.counters import Counters


class DropReason(enum.StrEnum):
    """Why a datagram was not forwarded; the value is the ``reason`` label in metrics."""

    NOT_STUN = "not-stun"  # unknown client address and the datagram is not STUN
    NOT_ROUTABLE = "not-routable"  # STUN, but not a Binding request with USERNAME+FINGERPRINT
    BAD_TOKEN = "bad-token"  # the server ufrag is not a valid, unexpired routing token
    OTHER_CLUSTER = "other-cluster"  # a valid token naming another cluster's transceiver
    ADMISSION_LIMIT = "admission-limit"  # the source IP's admission bucket is empty
    DIRECTORY_UNKNOWN = "directory-unknown"  # no static entry and no DNS pattern for the id
    DIRECTORY_FAILED = "directory-failed"  # DNS lookup failed (negatively cached)
    DIRECTORY_BACKLOG = "directory-backlog"  # too many packets already wait for DNS
    SHIM_SOURCE = "shim-source"  # a shim datagram from a host that is not a transceiver
    SHIM_MALFORMED = "shim-malformed"  # a shim header VOICE-SHIM §5 says to drop
    SEND_FAILED = "send-failed"  # the kernel refused the send (buffer full, unreachable)
    BAD_SOURCE = "bad-source"  # a client address no shim header can name (source port 0)
    INTERNAL_ERROR = "internal-error"  # handling the datagram raised: a bug, counted, not fatal
    ADMISSION_GLOBAL = "admission-global"  # the worker's admission bucket is empty
    RATE_LIMIT = "rate-limit"  # a known client sent faster than its packet budget
    BACKBONE_SOURCE = "backbone-source"  # a version 2 datagram from (or to) a non-fleet host
    FLEET_FAILED = "fleet-failed"  # no relay address for the token's cluster (DNS failed)


class RelayCounters:
    """The counters of one relay worker."""

    __slots__ = (
        "admissions",
        "client_bytes",
        "client_packets",
        "dns_failures",
        "dns_resolutions",
        "drops",
        "fleet_repointed",
        "table_evicted",
        "table_expired",
        "table_size",
        "to_client_bytes",
        "to_client_packets",
        "to_transceiver_bytes",
        "to_transceiver_packets",
        "transceiver_bytes",
        "transceiver_packets",
    )

    def __init__(self) -> None:
        self.client_packets = 0  # received on the public socket
        self.client_bytes = 0
        self.to_transceiver_packets = 0  # sent on the internal socket (shim included)
        self.to_transceiver_bytes = 0
        self.transceiver_packets = 0  # received on the internal socket (shim included)
        self.transceiver_bytes = 0
        self.to_client_packets = 0  # sent on the public socket
        self.to_client_bytes = 0
        self.admissions = 0
        self.table_size = 0  # a gauge, set by the driver before exporting
        self.table_expired = 0
        self.table_evicted = 0
        self.dns_resolutions = 0
        self.dns_failures = 0
        self.fleet_repointed = 0  # calls moved to another relay of their cluster (§12)
        self.drops: Counters[DropReason] = Counters(DropReason)

    def drop(self, reason: DropReason) -> None:
        self.drops[reason] += 1

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    def log_line(self, worker: int) -> str:
        """One line for the periodic log: totals, then every non-zero drop reason."""
        drops = " ".join(f"{r.value}={n}" for r, n in self.drops.items() if n) or "none"
        return (
            f"relay worker {worker}: "
            f"client->transceiver {self.client_packets} in/{self.to_transceiver_packets} out, "
            f"transceiver->client {self.transceiver_packets} in/{self.to_client_packets} out, "
            f"table {self.table_size}, admissions {self.admissions}, drops {drops}"
        )

    def prometheus_lines(self, worker: int) -> list[str]:
        """The samples of this worker in Prometheus text format, without HELP/TYPE lines.

        Use :func:`prometheus_text` to export several workers: the format wants every
        sample of one metric grouped under a single HELP/TYPE header.
        """
        lines: list[str] = []
        for name, _, _, samples in _families(self):
            for labels, value in samples:
                label_text = ",".join([f'worker="{worker}"', *labels])
                lines.append(f"{name}{{{label_text}}} {value}")
        return lines


_Sample = tuple[list[str], int]


def _families(c: RelayCounters) -> list[tuple[str, str, str, list[_Sample]]]:
    return [
        (
            "voice_relay_received_packets_total",
            "counter",
            "Datagrams received, by socket (public: from clients; internal: from transceivers).",
            [(['side="public"'], c.client_packets), (['side="internal"'], c.transceiver_packets)],
        ),
        (
            "voice_relay_received_bytes_total",
            "counter",
            "Bytes received, by socket.",
            [(['side="public"'], c.client_bytes), (['side="internal"'], c.transceiver_bytes)],
        ),
        (
            "voice_relay_sent_packets_total",
            "counter",
            "Datagrams sent, by socket (public: to clients; internal: to transceivers).",
            [
                (['side="public"'], c.to_client_packets),
                (['side="internal"'], c.to_transceiver_packets),
            ],
        ),
        (
            "voice_relay_sent_bytes_total",
            "counter",
            "Bytes sent, by socket.",
            [(['side="public"'], c.to_client_bytes), (['side="internal"'], c.to_transceiver_bytes)],
        ),
        (
            "voice_relay_dropped_packets_total",
            "counter",
            "Datagrams not forwarded, by reason.",
            [([f'reason="{r.value}"'], n) for r, n in c.drops.items()],
        ),
        (
            "voice_relay_admissions_total",
            "counter",
            "New client addresses admitted by a verified routing token.",
            [([], c.admissions)],
        ),
        (
            "voice_relay_table_entries",
            "gauge",
            "Entries in the worker's client -> transceiver table.",
            [([], c.table_size)],
        ),
        (
            "voice_relay_table_removed_total",
            "counter",
            "Table entries removed, by cause.",
            [(['cause="expired"'], c.table_expired), (['cause="evicted"'], c.table_evicted)],
        ),
        (
            "voice_relay_dns_lookups_total",
            "counter",
            "Transceiver DNS lookups finished, by result.",
            [(['result="ok"'], c.dns_resolutions), (['result="failed"'], c.dns_failures)],
        ),
        (
            "voice_relay_fleet_repointed_total",
            "counter",
            "Calls moved to another relay of their cluster after the fleet view changed.",
            [([], c.fleet_repointed)],
        ),
    ]


def prometheus_text(workers: Mapping[int, RelayCounters]) -> str:
    """The Prometheus text exposition of several workers' counters, grouped by metric."""
    out: list[str] = []
    per_worker = {w: _families(c) for w, c in sorted(workers.items())}
    if not per_worker:
        return ""
    template = next(iter(per_worker.values()))
    for index, (name, kind, help_text, _) in enumerate(template):
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        for worker, families in per_worker.items():
            for labels, value in families[index][3]:
                label_text = ",".join([f'worker="{worker}"', *labels])
                out.append(f"{name}{{{label_text}}} {value}")
    return "\n".join(out) + "\n"
