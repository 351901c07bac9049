"""Counters: the periodic log line and the Prometheus text exposition."""

from __future__ import annotations

import re

from voice.relay.counters import DropReason, RelayCounters, prometheus_text

SAMPLE = re.compile(r'^[a-z_]+\{worker="\d+"(,[a-z]+="[a-z-]+")*\} \d+$')


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


def test_prometheus_lines_are_samples_for_one_worker() -> None:
    lines = busy().prometheus_lines(1)
    assert all(SAMPLE.match(line) for line in lines), lines
    assert 'voice_relay_dropped_packets_total{worker="1",reason="not-stun"} 2' in lines
    assert 'voice_relay_admissions_total{worker="1"} 2' in lines
    assert 'voice_relay_table_entries{worker="1"} 2' in lines
    assert 'voice_relay_received_packets_total{worker="1",side="public"} 10' in lines


def test_prometheus_text_groups_each_metric_under_one_header() -> None:
    text = prometheus_text({0: busy(), 1: RelayCounters()})
    lines = text.splitlines()
    names = [line.split()[2] for line in lines if line.startswith("# TYPE")]
    assert len(names) == len(set(names))
    current = None
    for line in lines:
        if line.startswith("# TYPE"):
            current = line.split()[2]
        elif not line.startswith("#"):
            assert line.startswith(current + "{")  # every sample sits under its own header
    assert 'voice_relay_admissions_total{worker="0"} 2' in lines
    assert 'voice_relay_admissions_total{worker="1"} 0' in lines
    assert prometheus_text({}) == ""
