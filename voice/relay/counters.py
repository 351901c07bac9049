"""Per-worker counters of the relay, as a log line and as a ``prometheus_client`` collector.

A relay that drops packets silently is impossible to operate: every packet it does not
forward is counted under the reason it was dropped (VOICE-RELAY §7), next to the packets and
bytes it moved in each direction, the admissions it granted, and the size of its table.
The counters are plain integers bumped by the driver's hot loop; exporting them is the
only thing that formats strings, and ``prometheus_client`` does that (with its escaping):
:class:`RelayCollector` turns any number of workers' counters into metric families when a
scrape asks, one family per metric with a ``worker`` label on every sample.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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


#: One sample of a family: its labels (besides ``worker``) and its value.
_Sample = tuple[dict[str, str], int]


def _families(c: RelayCounters) -> list[tuple[str, str, str, list[_Sample]]]:
    return [
        (
            "voice_relay_received_packets_total",
            "counter",
            "Datagrams received, by socket (public: from clients; internal: from transceivers).",
            [({"side": "public"}, c.client_packets), ({"side": "internal"}, c.transceiver_packets)],
        ),
        (
            "voice_relay_received_bytes_total",
            "counter",
            "Bytes received, by socket.",
            [({"side": "public"}, c.client_bytes), ({"side": "internal"}, c.transceiver_bytes)],
        ),
        (
            "voice_relay_sent_packets_total",
            "counter",
            "Datagrams sent, by socket (public: to clients; internal: to transceivers).",
            [
                ({"side": "public"}, c.to_client_packets),
                ({"side": "internal"}, c.to_transceiver_packets),
            ],
        ),
        (
            "voice_relay_sent_bytes_total",
            "counter",
            "Bytes sent, by socket.",
            [
                ({"side": "public"}, c.to_client_bytes),
                ({"side": "internal"}, c.to_transceiver_bytes),
            ],
        ),
        (
            "voice_relay_dropped_packets_total",
            "counter",
            "Datagrams not forwarded, by reason.",
            [({"reason": r.value}, n) for r, n in c.drops.items()],
        ),
        (
            "voice_relay_admissions_total",
            "counter",
            "New client addresses admitted by a verified routing token.",
            [({}, c.admissions)],
        ),
        (
            "voice_relay_table_entries",
            "gauge",
            "Entries in the worker's client -> transceiver table.",
            [({}, c.table_size)],
        ),
        (
            "voice_relay_table_removed_total",
            "counter",
            "Table entries removed, by cause.",
            [({"cause": "expired"}, c.table_expired), ({"cause": "evicted"}, c.table_evicted)],
        ),
        (
            "voice_relay_dns_lookups_total",
            "counter",
            "Transceiver DNS lookups finished, by result.",
            [({"result": "ok"}, c.dns_resolutions), ({"result": "failed"}, c.dns_failures)],
        ),
        (
            "voice_relay_fleet_repointed_total",
            "counter",
            "Calls moved to another relay of their cluster after the fleet view changed.",
            [({}, c.fleet_repointed)],
        ),
    ]


class RelayCollector(Collector):
    """The counters of the workers ``workers()`` returns (index -> counters), read at scrape
    time: ``voice serve`` passes its one embedded worker, the relay supervisor's exporter the
    rows of shared memory every worker copies its counters into."""

    def __init__(self, workers: Callable[[], Mapping[int, RelayCounters]]) -> None:
        self._workers = workers

    def collect(self) -> Iterator[Metric]:
        per_worker = {w: _families(c) for w, c in sorted(self._workers().items())}
        for index, (name, kind, help_text, samples) in enumerate(_families(RelayCounters())):
            labels = ["worker", *samples[0][0]]
            family = (CounterMetricFamily if kind == "counter" else GaugeMetricFamily)(
                name, help_text, labels=labels
            )
            for worker, families in per_worker.items():
                for sample_labels, value in families[index][3]:
                    family.add_metric([str(worker), *sample_labels.values()], value)
            yield family

    def describe(self) -> Iterator[Metric]:
        """Nothing: the registry then calls :meth:`collect` only on a scrape."""
        return iter(())
