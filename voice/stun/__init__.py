"""STUN (RFC 8489): messages, attributes, integrity and fingerprint, sans-IO.

Also the first-byte demultiplexer of RFC 7983 and the cheap USERNAME peek the relay uses.

A Binding request as ICE sends it, and the check a responder makes::

    from voice.stun import (Message, MessageClass, Method, Username, new_transaction_id,
                            parse_message)

    request = Message(MessageClass.REQUEST, Method.BINDING, new_transaction_id(),
                      (Username("server:client"),))
    data = request.encode(integrity_key=b"server-password", fingerprint=True)

    received = parse_message(data)          # StunParseError on any malformed input
    assert received.check_integrity(b"server-password")
"""

from voice.stun.attributes import (
    Attribute,
    ErrorCodeAttribute,
    Fingerprint,
    IceControlled,
    IceControlling,
    MappedAddress,
    MessageIntegrity,
    MessageIntegritySha256,
    Nonce,
    Priority,
    Realm,
    Software,
    UnknownAttribute,
    UnknownAttributes,
    UseCandidate,
    Username,
    XorMappedAddress,
)
from voice.stun.credentials import long_term_key, opaque_string, saslprep, short_term_key
from voice.stun.demux import PacketKind, classify
from voice.stun.errors import StunError, StunParseError, StunUsageError
from voice.stun.message import (
    Message,
    message_type,
    new_transaction_id,
    parse_message,
    split_message_type,
)
from voice.stun.peek import peek_username
from voice.stun.registry import AttributeType, ErrorCode, MessageClass, Method

__all__ = [
    "Attribute",
    "AttributeType",
    "ErrorCode",
    "ErrorCodeAttribute",
    "Fingerprint",
    "IceControlled",
    "IceControlling",
    "MappedAddress",
    "Message",
    "MessageClass",
    "MessageIntegrity",
    "MessageIntegritySha256",
    "Method",
    "Nonce",
    "PacketKind",
    "Priority",
    "Realm",
    "Software",
    "StunError",
    "StunParseError",
    "StunUsageError",
    "UnknownAttribute",
    "UnknownAttributes",
    "UseCandidate",
    "Username",
    "XorMappedAddress",
    "classify",
    "long_term_key",
    "message_type",
    "new_transaction_id",
    "opaque_string",
    "parse_message",
    "peek_username",
    "saslprep",
    "short_term_key",
    "split_message_type",
]
