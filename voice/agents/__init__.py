"""Agents that converse: turn detection, barge-in, a bridge to speech backends, ``talk``.

Why a package of its own, and not more of ``voice/transceiver``: turn-taking works on
decoded PCM and on the agent's output queue, never on packets, so it belongs to none of
the protocol layers (which stay sans-IO and know nothing of speech) and to no transport.
The transceiver's session only plays frames in and out at 20 ms; what those frames *mean*
(is the caller talking? should the agent stop?) is decided here, behind the same
:data:`voice.transceiver.agents.AgentFunction` interface that ``echo`` and ``tone`` use, so
a session neither knows nor pays for it unless its agent converses.

The split inside follows the rest of the project:

* :mod:`voice.agents.events` and :mod:`voice.agents.turns` are plain code with no Trio and
  no clock: a :class:`~voice.agents.turns.TurnDetector` is fed frames with explicit times
  and answers with typed events, so its tests need no sockets and no sleeping;
* :mod:`voice.agents.conversation` is the Trio driver: it runs the detector on a call's
  audio, owns the agent's output queue and drops it on barge-in;
* :mod:`voice.agents.bridge` and :mod:`voice.agents.backend` are the two ends of the
  VOICE-AGENT WebSocket protocol (``spec/voice-agent.md``);
* :mod:`voice.agents.talk` is the offline talking agent (pocketsphinx + espeak-ng).
"""
