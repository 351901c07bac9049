"""RTP and RTCP (RFC 3550): packets, statistics and the jitter buffer, sans-IO."""
