"""voice.metrics: prometheus_client with one registry per service, parsed back by its parser."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from tests.support.server import metric_value, samples
from voice.metrics import SETUP_BUCKETS, new_registry, render, sample_value
from voice.transceiver.service import Transceiver, TransceiverConfig


def test_a_label_value_with_a_newline_keeps_the_exposition_valid() -> None:
    registry = new_registry()
    counter = Counter("demo_total", "Help with a \\ and a\nnewline.", ["reason"], registry=registry)
    hostile = 'line one\nline "two" \\ end'
    counter.labels(reason=hostile).inc()
    counter.labels(reason="plain").inc(2)
    text = render(registry)
    # Every sample and comment is one line: the newline is escaped, not written.
    assert len([line for line in text.splitlines() if line.startswith("demo_total")]) == 2
    assert "# HELP demo_total Help with a \\\\ and a\\nnewline." in text
    parsed = {labels["reason"]: value for name, labels, value in samples(text)}
    assert parsed == {hostile: 1.0, "plain": 2.0}


def test_services_in_one_process_have_registries_of_their_own() -> None:
    first, second = Transceiver(TransceiverConfig()), Transceiver(TransceiverConfig())
    first.m_started.inc()
    assert sample_value(first.registry, "voice_sessions_started_total") == 1
    assert sample_value(second.registry, "voice_sessions_started_total") == 0


def test_set_up_times_are_a_histogram_that_adds_up_across_a_fleet() -> None:
    pods = [Transceiver(TransceiverConfig()) for _ in range(2)]
    pods[0].m_setup.observe(0.04)
    pods[1].m_setup.observe(0.3)
    texts = [render(pod.registry) for pod in pods]
    assert all("# TYPE voice_dtls_connected_seconds histogram" in text for text in texts)
    # Buckets of two pods sum into the fleet's: what a summary's quantiles cannot do.
    under_half_second = sum(
        metric_value(text, 'voice_dtls_connected_seconds_bucket{le="0.5"}') for text in texts
    )
    assert under_half_second == 2
    assert sum(metric_value(text, "voice_dtls_connected_seconds_count") for text in texts) == 2
    assert isinstance(pods[0].m_setup, Histogram)
    assert tuple(sorted(SETUP_BUCKETS)) == SETUP_BUCKETS


def test_the_transceivers_names_stay_what_dashboards_and_the_autoscaler_read() -> None:
    text = render(Transceiver(TransceiverConfig()).registry)
    for name, kind in (
        ("voice_sessions_active", "gauge"),  # the HorizontalPodAutoscaler's metric
        ("voice_sessions_started_total", "counter"),
        ("voice_sessions_ended_total", "counter"),
        ("voice_sessions_rejected_total", "counter"),
        ("voice_packets_total", "counter"),
        ("voice_packets_dropped_total", "counter"),
        ("voice_jitter_frames_total", "counter"),
        ("voice_pacer_skipped_frames_total", "counter"),
    ):
        assert f"# TYPE {name} {kind}" in text
    assert "_created" not in text
