"""The four sample messages of RFC 5769 §2, byte for byte, with what they were built from.

Shared by the codec tests, the relay-peek tests and the benchmark. The first three use the
short-term password below and pad with spaces (0x20); the long-term request pads with zeros.
"""

# RFC 5769 §2.1-§2.3: the short-term password (ICE style) of the first three vectors.
PASSWORD = "VOkJxbRl1RmTxUk/WvJxBt"
TRANSACTION_ID = bytes.fromhex("b7e7a701bc34d686fa87dfae")

# RFC 5769 §2.1: a Binding request with SOFTWARE, PRIORITY, ICE-CONTROLLED, USERNAME,
# MESSAGE-INTEGRITY and FINGERPRINT.
REQUEST = bytes.fromhex(
    "00010058 2112a442 b7e7a701 bc34d686 fa87dfae"
    "80220010 5354554e 20746573 7420636c 69656e74"  # SOFTWARE "STUN test client"
    "00240004 6e0001ff"  # PRIORITY 0x6e0001ff
    "80290008 932ff9b1 51263b36"  # ICE-CONTROLLED
    "00060009 6576746a 3a683676 59202020"  # USERNAME "evtj:h6vY", space padding
    "00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2"  # MESSAGE-INTEGRITY
    "80280004 e57a3bcf"  # FINGERPRINT
)

# RFC 5769 §2.2: a success response with XOR-MAPPED-ADDRESS 192.0.2.1:32853.
RESPONSE_IPV4 = bytes.fromhex(
    "0101003c 2112a442 b7e7a701 bc34d686 fa87dfae"
    "8022000b 74657374 20766563 746f7220"  # SOFTWARE "test vector", space padding
    "00200008 0001a147 e112a643"  # XOR-MAPPED-ADDRESS
    "00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7"  # MESSAGE-INTEGRITY
    "80280004 c07d4c96"  # FINGERPRINT
)

# RFC 5769 §2.3: the same with XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853.
RESPONSE_IPV6 = bytes.fromhex(
    "01010048 2112a442 b7e7a701 bc34d686 fa87dfae"
    "8022000b 74657374 20766563 746f7220"
    "00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9"
    "00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41"
    "80280004 c8fb0b4c"
)
MAPPED_PORT = 32853
MAPPED_IPV4 = "192.0.2.1"
MAPPED_IPV6 = "2001:db8:1234:5678:11:2233:4455:6677"
SOFTWARE_CLIENT = "STUN test client"
SOFTWARE_SERVER = "test vector"
PRIORITY = 0x6E0001FF
TIE_BREAKER = 0x932FF9B151263B36
USERNAME = "evtj:h6vY"

# RFC 5769 §2.4: a request with long-term credentials: USERNAME, NONCE, REALM and
# MESSAGE-INTEGRITY keyed with MD5(username ":" realm ":" SASLprep(password)).
LONG_TERM_REQUEST = bytes.fromhex(
    "00010060 2112a442 78ad3433 c6ad72c0 29da412e"
    "00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000"  # USERNAME, zero padding
    "0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341"  # NONCE
    "0014000b 6578616d 706c652e 6f726700"  # REALM "example.org"
    "00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666"  # MESSAGE-INTEGRITY
)
LONG_TERM_TRANSACTION_ID = bytes.fromhex("78ad3433c6ad72c029da412e")
LONG_TERM_USERNAME = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"
LONG_TERM_PASSWORD = "The\u00adM\u00aatr\u2168"  # SASLprep: "TheMatrIX"
LONG_TERM_NONCE = "f//499k954d6OL34oL9FSTvy64sA"
LONG_TERM_REALM = "example.org"
