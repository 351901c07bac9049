"""ICE (RFC 8445) for a server: the ICE-lite responder, candidates, consent freshness.

``voice`` terminates ICE as a lite agent (RFC 8445 §2.5): one host candidate on the public
address, always controlled, answering the browser's checks. :class:`IceLiteAgent` is that
agent for one session; :class:`IceControllingClient` is a minimal controlling peer for tests
and load generation. Both are sans-IO: fed datagrams and the time, they return datagrams,
events and a deadline.
"""

from voice.ice.candidate import (
    TYPE_PREFERENCE,
    Candidate,
    candidate_priority,
    host_candidate,
)
from voice.ice.controlling import IceControllingClient
from voice.ice.credentials import generate_password, generate_ufrag
from voice.ice.errors import IceError, IceParseError, IceUsageError
from voice.ice.events import IceConnected, IceConsentExpired, IceEvent, IceSelectedPairChanged
from voice.ice.lite import IceLiteAgent, IceState

__all__ = [
    "TYPE_PREFERENCE",
    "Candidate",
    "IceConnected",
    "IceConsentExpired",
    "IceControllingClient",
    "IceError",
    "IceEvent",
    "IceLiteAgent",
    "IceParseError",
    "IceSelectedPairChanged",
    "IceState",
    "IceUsageError",
    "candidate_priority",
    "generate_password",
    "generate_ufrag",
    "host_candidate",
]
