"""Steering a client to one worker: a reuseport group and a classic BPF program.

(Also the plain socket helpers the supervisor and the workers share; nothing here imports
Trio, so the supervisor can bind every socket before the heavy imports.)

N relay workers share the public port with ``SO_REUSEPORT``. Each keeps its own soft table,
so every packet of one client must reach the *same* worker, before and after restarts. The
kernel picks the socket of a reuseport group for each datagram; we replace its choice with a
small classic BPF program (``SO_ATTACH_REUSEPORT_CBPF``) that returns the socket's index::

    index = ((source_ip XOR source_port) * 0x9E3779B1 mod 2^32 >> 16) mod N

(the IPv6 source address is first folded to 32 bits by XOR of its four words). The program
reads the IP and UDP headers through ``SKF_NET_OFF`` loads, because the kernel runs it with
the packet's data pointer already past the UDP header. :func:`steering_index` is the same
function in Python: tests check the kernel against it, and anyone else (a transceiver, a
load generator) can compute which worker serves a client.

Why a program rather than the kernel's own choice: the kernel's default also hashes the
4-tuple, but with a per-boot secret, through an algorithm that has changed between versions,
and into whatever order the group's sockets happen to be in. Ours is documented, stable
across kernels, and identical on every host. The index is a position in the group, which is
the order the sockets joined it; when a socket leaves, the kernel moves the *last* socket
into its slot. So the supervisor creates all N sockets in index order and keeps them open for
its whole life: a worker that dies and is respawned inherits the same socket, the group never
reshuffles, and a restarted relay builds the same group in the same order.

If the kernel refused the program (an old kernel, a seccomp filter), the relay still runs:
with the group fixed for the supervisor's life the default hash is also stable per client,
just not computable outside the kernel (see :func:`attach_steering`).
"""

from __future__ import annotations

import ctypes
import socket
import struct

from voice.relay.errors import RelayUsageError
from voice.types import Address

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>
SKF_NET_OFF = -0x100000  # <linux/filter.h>: a negative offset relative to the IP header
GOLDEN = 0x9E3779B1

# <linux/bpf_common.h> and <linux/filter.h> opcodes, only the ones the program uses.
_LD, _LDX, _ST, _ALU, _JMP, _RET, _MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
_W, _H, _B = 0x00, 0x08, 0x10
_ABS, _IND, _MEM, _MSH = 0x20, 0x40, 0x60, 0xA0
_K, _X, _A = 0x00, 0x08, 0x10
_MUL, _RSH, _XOR, _MOD = 0x20, 0x70, 0xA0, 0x90
_JEQ = 0x10
_TAX = 0x00

_INSN = struct.Struct("=HBBI")  # struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}


def _insn(code: int, k: int = 0, jt: int = 0, jf: int = 0) -> bytes:
    return _INSN.pack(code, jt, jf, k & 0xFFFFFFFF)


def steering_program(workers: int) -> bytes:
    """The classic BPF program that returns a client's socket index in a group of N."""
    if not 1 <= workers <= 0xFFFF:
        raise RelayUsageError("1..65535 workers")
    net = SKF_NET_OFF
    ipv4 = [
        _insn(_LD | _W | _ABS, net + 12),  # A = IPv4 source address
        _insn(_ST, 0),  # M[0] = A
        _insn(_LDX | _B | _MSH, net),  # X = 4 * IHL, the offset of the UDP header
        _insn(_LD | _H | _IND, net),  # A = UDP source port
    ]
    ipv6 = [
        _insn(_LD | _W | _ABS, net + 8),  # A = source address, word 0
        _insn(_TAX),
        _insn(_LD | _W | _ABS, net + 12),
        _insn(_ALU | _XOR | _X),
        _insn(_TAX),
        _insn(_LD | _W | _ABS, net + 16),
        _insn(_ALU | _XOR | _X),
        _insn(_TAX),
        _insn(_LD | _W | _ABS, net + 20),
        _insn(_ALU | _XOR | _X),  # A = the four words XORed together
        _insn(_ST, 0),
        _insn(_LD | _H | _ABS, net + 40),  # UDP source port, right after the fixed header
    ]
    tail = [
        _insn(_MISC | _TAX),  # X = port
        _insn(_LD | _MEM, 0),  # A = folded address
        _insn(_ALU | _XOR | _X),
        _insn(_ALU | _MUL | _K, GOLDEN),
        _insn(_ALU | _RSH | _K, 16),
        _insn(_ALU | _MOD | _K, workers),
        _insn(_RET | _A),
    ]
    head = [
        _insn(_LD | _B | _ABS, net),  # A = first byte of the IP header
        _insn(_ALU | _RSH | _K, 4),  # A = IP version
        # IPv6 skips the IPv4 block and the jump that ends it.
        _insn(_JMP | _JEQ | _K, 6, jt=len(ipv4) + 1, jf=0),
    ]
    jump_over_ipv6 = [_insn(_JMP | 0x00 | _K, len(ipv6))]  # BPF_JA
    return b"".join(head + ipv4 + jump_over_ipv6 + ipv6 + tail)


def steering_index(client: Address, workers: int) -> int:
    """Which socket index the program picks for ``client`` (the kernel's answer, in Python)."""
    host, port = client
    if ":" in host:
        packed = socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
        folded = 0
        for word in range(0, 16, 4):
            folded ^= int.from_bytes(packed[word : word + 4], "big")
    else:
        folded = int.from_bytes(socket.inet_aton(host), "big")
    mixed = ((folded ^ port) * GOLDEN) & 0xFFFFFFFF
    return (mixed >> 16) % workers


def attach_steering(sock: socket.socket, workers: int) -> None:
    """Attaches the program to ``sock``'s reuseport group; raises OSError if refused."""
    program = steering_program(workers)
    count = len(program) // _INSN.size
    buffer = ctypes.create_string_buffer(program, len(program))
    # struct sock_fprog {unsigned short len; struct sock_filter *filter;}; the kernel copies
    # the instructions during the call, so the buffer only has to outlive it.
    fprog = struct.pack("HL", count, ctypes.addressof(buffer))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def open_reuseport_group(host: str, port: int, workers: int) -> list[socket.socket]:
    """N UDP sockets on ``host:port`` in one reuseport group, in index order.

    With port 0 the first socket picks a free port and the others join it.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    group: list[socket.socket] = []
    try:
        for _ in range(workers):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            group.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind((host, group[0].getsockname()[1] if len(group) > 1 else port))
    except OSError:
        for sock in group:
            sock.close()
        raise
    return group


def bind_udp(address: Address) -> socket.socket:
    """A non-blocking UDP socket bound to ``address`` (IPv6 sockets are IPv6-only)."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock
