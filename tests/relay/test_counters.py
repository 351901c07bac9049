"""Counters: the periodic log line and the Prometheus text exposition."""

from __future__ import annotations

from tests.support.server import metric_value, samples
from voice.metrics import new_registry, render
from voice.relay.counters import DropReason, RelayCollector, RelayCounters


def busy() -> RelayCounters:
    counters = RelayCounters()
    counters.client_packets = 10
    counters.to_transceiver_packets = 8
    counters.admissions = 2
    counters.table_size = 2
    counters.drop(DropReason.BAD_TOKEN)
    counters.drop(DropReason.NOT_STUN)
    counters.drop(DropReason.NOT_STUN)
    return counters


def test_log_line_names_every_nonzero_drop() -> None:
    line = busy().log_line(3)
    assert line.startswith("relay worker 3: ")
    assert "client->transceiver 10 in/8 out" in line
    assert "drops not-stun=2 bad-token=1" in line
    assert "drops none" in RelayCounters().log_line(0)
    assert busy().dropped == 3


def scrape(workers: dict[int, RelayCounters]) -> str:
    registry = new_registry()
    registry.register(RelayCollector(lambda: workers))
    return render(registry)


def test_collector_labels_every_sample_with_its_worker() -> None:
    text = scrape({1: busy()})
    got = samples(text)  # the library's parser: the exposition is valid
    assert all(labels["worker"] == "1" for _, labels, _ in got)
    assert (
        metric_value(text, 'voice_relay_dropped_packets_total{worker="1",reason="not-stun"}') == 2
    )
    assert metric_value(text, 'voice_relay_admissions_total{worker="1"}') == 2
    assert metric_value(text, 'voice_relay_table_entries{worker="1"}') == 2
    assert metric_value(text, 'voice_relay_received_packets_total{worker="1",side="public"}') == 10


def test_collector_groups_each_metric_under_one_header() -> None:
    text = scrape({0: busy(), 1: RelayCounters()})
    names = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    assert "# TYPE voice_relay_admissions_total counter" in text
    assert "# TYPE voice_relay_table_entries gauge" in text
    assert metric_value(text, 'voice_relay_admissions_total{worker="0"}') == 2
    assert metric_value(text, 'voice_relay_admissions_total{worker="1"}') == 0
    assert metric_value(text, "voice_relay_admissions_total") == 2
    assert samples(scrape({})) == []
