"""The state table is complete and every transition it allows has a handler."""

from __future__ import annotations

from voice.dtls.client import ClientHandshake
from voice.dtls.server import ServerHandshake
from voice.dtls.state import CHANGE_CIPHER_SPEC, TRANSITIONS, DtlsState


def test_every_state_is_in_the_table() -> None:
    assert set(TRANSITIONS) == set(DtlsState)


def test_targets_are_states_and_handlers_exist() -> None:
    for state, moves in TRANSITIONS.items():
        handlers = (
            ServerHandshake.HANDLERS
            if state.name.startswith("SERVER")
            else ClientHandshake.HANDLERS
        )
        for incoming, targets in moves.items():
            assert targets and all(isinstance(t, DtlsState) for t in targets)
            if incoming != CHANGE_CIPHER_SPEC:
                assert incoming in handlers, (state, incoming)


def test_every_handler_is_reachable_through_the_table() -> None:
    """The roles' handler tables add no message the state table does not allow: a handler
    the table never reaches would be dead code, or a transition missing from the table."""
    for role, prefix in ((ClientHandshake, "CLIENT"), (ServerHandshake, "SERVER")):
        allowed = {
            incoming
            for state, moves in TRANSITIONS.items()
            if state.name.startswith(prefix)
            for incoming in moves
        }
        assert set(role.HANDLERS) <= allowed, role
        assert role.INITIAL_STATE.name.startswith(prefix)


def test_established_is_reachable_for_both_roles() -> None:
    for start in (DtlsState.CLIENT_WAIT_SERVER_HELLO, DtlsState.SERVER_WAIT_CLIENT_HELLO):
        seen, todo = {start}, [start]
        while todo:
            for targets in TRANSITIONS[todo.pop()].values():
                for target in targets:
                    if target not in seen:
                        seen.add(target)
                        todo.append(target)
        assert DtlsState.ESTABLISHED in seen
