"""The transceiver: the stateful Trio service that terminates a caller's media."""
