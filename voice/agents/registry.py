"""The conversing agents, by name, for :data:`voice.transceiver.agents.AGENTS`.

Each factory imports its module only when a call asks for it, so a transceiver that never
runs ``talk`` never loads pocketsphinx, and ``voice --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice.transceiver.agents import AgentFunction


def make_bridge(params: Mapping[str, str]) -> AgentFunction:
    from voice.agents.bridge import make_bridge

    return make_bridge(params)


def make_talk(params: Mapping[str, str]) -> AgentFunction:
    from voice.agents.talk import make_talk

    return make_talk(params)
