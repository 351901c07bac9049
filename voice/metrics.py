"""Metrics through ``prometheus_client``: one registry per service, the library's exposition.

Every service instance (a transceiver with its signaling, a relay supervisor's exporter)
owns a :class:`~prometheus_client.CollectorRegistry` of its own, made by
:func:`new_registry`, never the library's global default: tests and ``voice serve`` run
several services in one process, and two of them registering ``voice_sessions_active`` in
one registry would collide. The exposition (escaping of label values and HELP text included:
a newline in either must not split a sample line) is the library's
:func:`~prometheus_client.generate_latest`, not ours.

Durations are Histograms, not Summaries: a summary's quantiles cannot be added across the
pods of a fleet, a histogram's buckets can (``histogram_quantile(0.99, sum by (le) ...)``).

What is computed only when read (the media figures of the calls in progress, the relay's
per-worker rows) is a custom collector (:class:`prometheus_client.registry.Collector`)
registered in the same registry, so that counting on the media path stays a plain attribute
update and only a scrape formats anything.
"""

from __future__ import annotations

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest

__all__ = ["CONTENT_TYPE", "SETUP_BUCKETS", "new_registry", "render", "sample_value"]

#: The Content-Type of :func:`render`'s text (the version the library writes).
CONTENT_TYPE: str = prometheus_client.CONTENT_TYPE_LATEST

#: Buckets, in seconds, for call set-up times (offer to DTLS connected): a browser on a LAN
#: connects in tens of milliseconds, one across an ocean in a few hundred, and one that
#: needs retransmitted flights (RFC 6347 §4.2.4.1, 1 s first timer) in seconds.
SETUP_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# A ``<name>_created`` series beside every counter and histogram would double the series a
# scrape returns for a timestamp nothing here reads; the process start time says as much.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


def new_registry() -> CollectorRegistry:
    """A registry for one service instance (not the library's process-wide default)."""
    return CollectorRegistry(auto_describe=True)


def render(registry: CollectorRegistry) -> str:
    """The text exposition of everything ``registry`` holds."""
    return generate_latest(registry).decode()


def sample_value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """One sample's value now (0 if the series does not exist yet): for tests and logs."""
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value
