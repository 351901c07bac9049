"""The DTLS 1.2 handshake as a table: which message each state accepts, and where it leads.

Read it top to bottom as the message flow of RFC 6347 §4.2.4 (the full handshake with a
client certificate, as WebRTC always runs it)::

    client                                             server
    ClientHello                      -------->                        flight 1
                                     <--------   HelloVerifyRequest   flight 2 (optional)
    ClientHello (with cookie)        -------->                        flight 3
                                                        ServerHello   flight 4
                                                        Certificate
                                                  ServerKeyExchange
                                                 CertificateRequest
                                     <--------      ServerHelloDone
    Certificate                                                       flight 5
    ClientKeyExchange
    CertificateVerify
    ChangeCipherSpec
    Finished                         -------->
                                                   ChangeCipherSpec   flight 6
                                     <--------             Finished

Each entry maps an incoming message (or the ChangeCipherSpec record, which is not a
handshake message) to the states the handler may move to; the handler picks one and the
connection checks it is listed, so the table is both documentation and an assertion. A
message a state does not list is ``unexpected_message`` -- except ChangeCipherSpec, which
DTLS lets arrive early through reordering and is then dropped instead (RFC 6347 §4.2.5).
"""

from __future__ import annotations

import enum
from typing import Final, Literal

from voice.dtls.registry import HandshakeType as H


class DtlsState(enum.Enum):
    CLIENT_START = "client start"
    CLIENT_WAIT_SERVER_HELLO = "client waits for ServerHello"
    CLIENT_WAIT_CERTIFICATE = "client waits for server Certificate"
    CLIENT_WAIT_KEY_EXCHANGE = "client waits for ServerKeyExchange"
    CLIENT_WAIT_CERTIFICATE_REQUEST = "client waits for CertificateRequest or ServerHelloDone"
    CLIENT_WAIT_HELLO_DONE = "client waits for ServerHelloDone"
    CLIENT_WAIT_CHANGE_CIPHER_SPEC = "client waits for server ChangeCipherSpec"
    CLIENT_WAIT_FINISHED = "client waits for server Finished"

    SERVER_WAIT_CLIENT_HELLO = "server waits for ClientHello"
    SERVER_WAIT_CERTIFICATE = "server waits for client Certificate"
    SERVER_WAIT_KEY_EXCHANGE = "server waits for ClientKeyExchange"
    SERVER_WAIT_CERTIFICATE_VERIFY = "server waits for CertificateVerify"
    SERVER_WAIT_CHANGE_CIPHER_SPEC = "server waits for client ChangeCipherSpec"
    SERVER_WAIT_FINISHED = "server waits for client Finished"

    ESTABLISHED = "established"
    CLOSED = "closed"


CHANGE_CIPHER_SPEC: Final = "ChangeCipherSpec"
Input = H | Literal["ChangeCipherSpec"]

S = DtlsState
TRANSITIONS: Final[dict[DtlsState, dict[Input, tuple[DtlsState, ...]]]] = {
    # -- client --------------------------------------------------------------------------
    S.CLIENT_START: {},  # connect() sends the ClientHello; nothing is read before it
    S.CLIENT_WAIT_SERVER_HELLO: {
        H.hello_verify_request: (S.CLIENT_WAIT_SERVER_HELLO,),  # resend ClientHello + cookie
        H.server_hello: (S.CLIENT_WAIT_CERTIFICATE,),
    },
    S.CLIENT_WAIT_CERTIFICATE: {H.certificate: (S.CLIENT_WAIT_KEY_EXCHANGE,)},
    S.CLIENT_WAIT_KEY_EXCHANGE: {H.server_key_exchange: (S.CLIENT_WAIT_CERTIFICATE_REQUEST,)},
    S.CLIENT_WAIT_CERTIFICATE_REQUEST: {
        H.certificate_request: (S.CLIENT_WAIT_HELLO_DONE,),
        H.server_hello_done: (S.CLIENT_WAIT_CHANGE_CIPHER_SPEC,),  # sends flight 5
    },
    S.CLIENT_WAIT_HELLO_DONE: {H.server_hello_done: (S.CLIENT_WAIT_CHANGE_CIPHER_SPEC,)},
    S.CLIENT_WAIT_CHANGE_CIPHER_SPEC: {CHANGE_CIPHER_SPEC: (S.CLIENT_WAIT_FINISHED,)},
    S.CLIENT_WAIT_FINISHED: {H.finished: (S.ESTABLISHED,)},
    # -- server --------------------------------------------------------------------------
    S.SERVER_WAIT_CLIENT_HELLO: {
        # Stays put after answering with a HelloVerifyRequest (nothing is remembered);
        # otherwise sends flight 4.
        H.client_hello: (S.SERVER_WAIT_CLIENT_HELLO, S.SERVER_WAIT_CERTIFICATE),
    },
    S.SERVER_WAIT_CERTIFICATE: {H.certificate: (S.SERVER_WAIT_KEY_EXCHANGE,)},
    S.SERVER_WAIT_KEY_EXCHANGE: {
        # CertificateVerify follows only if the client's Certificate was not empty.
        H.client_key_exchange: (S.SERVER_WAIT_CERTIFICATE_VERIFY, S.SERVER_WAIT_CHANGE_CIPHER_SPEC)
    },
    S.SERVER_WAIT_CERTIFICATE_VERIFY: {H.certificate_verify: (S.SERVER_WAIT_CHANGE_CIPHER_SPEC,)},
    S.SERVER_WAIT_CHANGE_CIPHER_SPEC: {CHANGE_CIPHER_SPEC: (S.SERVER_WAIT_FINISHED,)},
    S.SERVER_WAIT_FINISHED: {H.finished: (S.ESTABLISHED,)},  # sends flight 6
    # -- both ----------------------------------------------------------------------------
    # Nothing new is accepted once established: a HelloRequest or a new ClientHello would
    # start a renegotiation, which we refuse with a no_renegotiation warning and without
    # closing the connection (RFC 5246 §7.4.1.1).
    S.ESTABLISHED: {},
    S.CLOSED: {},
}

#: The messages that end a peer's flight. When a message of the peer's last complete flight
#: arrives *again* after we answered it, our answer was lost and we send it again
#: (RFC 6347 §4.2.4).
FLIGHT_ENDS: Final[frozenset[H]] = frozenset(
    {H.client_hello, H.hello_verify_request, H.server_hello_done, H.finished}
)
