"""The signaling endpoint: a WHIP-shaped session resource (RFC 9725) on Quart-Trio.

A browser POSTs its SDP offer and receives the answer; the session it creates lives at the
URL in ``Location`` until the browser DELETEs it or the call ends by itself:

=================================  =======================================================
``POST /v1/sessions``              offer in (``application/sdp``), ``201 Created`` with the
                                   answer and the session URL (with its key) in Location
``DELETE /v1/sessions/<id>?key=``  ends the call (``200``); ``404`` for no such session
``GET /healthz``                   liveness (public), with the session count
``GET /metrics``                   counters in the Prometheus text format
``GET /``                          the demo page: a Talk button, hang-up, state and level
``GET /spec/<name>``               a spec/ table as HTML, an anchor per row and section
                                   (public; 404 without a source tree); ``/spec/index.json``
                                   maps each cited section to its rows, for the ladder
=================================  =======================================================

Agents are chosen per call with the query string (``?agent=tone&frequency=440``); every
other query parameter is handed to the agent, which validates it. Every refusal is a 4xx
or 5xx with a plain-text reason a person can act on.

Signaling shares the event loop with every call's media, so no request may take much of
it: state-changing requests are rate-limited per client and offers also globally
(:mod:`voice.signaling.ratelimit`, ``429`` with ``Retry-After``), refused before their body
is read; an offer's shape is bounded before it is parsed (:mod:`voice.sdp.limits`); a body
must arrive within ``body_timeout``; sessions that never connect are bounded and time out
early (:class:`voice.transceiver.service.TransceiverConfig`).

Authorisation: with a bearer token configured, POST and ``/metrics`` need it; DELETE and
PATCH on a session need the session's key (the ``key`` in its URL) or the bearer token,
and without a token configured they still need the key. The demo page, its static files,
``/healthz`` and CORS preflights stay public (see :func:`create_app`).
"""

from __future__ import annotations

import hmac
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from voice import __version__
from voice.agents.transcript import blueprint as transcript_blueprint
from voice.errors import RemoteProtocolError
from voice.signaling.ratelimit import ClientBuckets, TokenBucket, client_key
from voice.signaling.spec import SpecLibrary, find_spec_dir
from voice.transceiver.agents import AgentError
from voice.transceiver.service import (
    CapacityError,
    ClientLimitError,
    Transceiver,
    UnknownIngressError,
)

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True, slots=True)
class SignalingConfig:
    #: When set, every route that changes or reveals state needs
    #: ``Authorization: Bearer <token>`` (a session's own URL key also works on that session).
    bearer_token: str | None = None
    #: Largest offer accepted; real audio offers are 2-6 KiB.
    max_offer_bytes: int = 64 * 1024
    #: Seconds a client is told to wait (Retry-After) when the transceiver is full.
    retry_after: int = 5
    #: Requests that change state (POST, DELETE, PATCH), per client address: a sustained
    #: rate per second and a burst.
    client_rate: float = 5.0
    client_burst: float = 20.0
    #: Offers (POST) per second from everyone together, and their burst: the bound on the
    #: event loop's time that signaling can take from the calls, whatever the sources.
    global_rate: float = 40.0
    global_burst: float = 40.0
    #: Seconds a client has to send a request's whole body; a slower one gets 408.
    body_timeout: float = 10.0
    #: Origins allowed to call the API from a browser page served elsewhere (CORS);
    #: empty: none (same-origin only), "*": any.
    cors_origins: tuple[str, ...] = ()
    #: The spec/ tables served at /spec/ (the ladder links its arrows to their rows); None
    #: when the package runs without its source tree (then the ladder links the RFC only).
    spec_dir: Path | None = field(default_factory=find_spec_dir)


#: Response headers a cross-origin page may read: WHIP's (the session URL, ETag and Link
#: for extensions) and the ones that say when to retry or how to authenticate.
EXPOSED_HEADERS = "Location, ETag, Link, Retry-After, WWW-Authenticate"
#: Request headers a cross-origin page may send (If-Match is WHIP's, for PATCH).
ALLOWED_HEADERS = "Authorization, Content-Type, If-Match"
#: Paths are echoed in 404/405 reasons only this far: a reason is for a person to read, not
#: a mirror for whatever an attacker sends.
MAX_ECHOED_PATH = 64
#: Ingress names one offer may ask for (VOICE-STEER §4): a steering front names two.
MAX_INGRESSES = 4


def _text(status: int, message: str, **headers: str) -> Response:
    return Response(
        message.rstrip() + "\n", status=status, content_type="text/plain", headers=headers
    )


def _shown(path: str) -> str:
    """A path as it may appear in a reason: printable and at most MAX_ECHOED_PATH long."""
    clean = "".join(c if c.isprintable() else "?" for c in path[: MAX_ECHOED_PATH + 1])
    return clean if len(clean) <= MAX_ECHOED_PATH else clean[:MAX_ECHOED_PATH] + "..."


def create_app(transceiver: Transceiver, config: SignalingConfig | None = None) -> QuartTrio:
    cfg = config or SignalingConfig()
    app = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_offer_bytes
    # Quart's own deadline for a whole body (408 when it passes); hypercorn's read timeout
    # (voice.server) closes a connection that goes quiet.
    app.config["BODY_TIMEOUT"] = cfg.body_timeout
    per_client = ClientBuckets(cfg.client_rate, cfg.client_burst)
    everyone = TokenBucket.full(cfg.global_rate, cfg.global_burst, -math.inf)
    expected_bearer = f"Bearer {cfg.bearer_token}".encode() if cfg.bearer_token else None
    index_html = (STATIC / "index.html").read_text()

    def bearer_ok() -> bool:
        """True when no token is configured or the request carries it."""
        if expected_bearer is None:
            return True
        supplied = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(supplied, expected_bearer)

    def unauthorised() -> Response:
        return _text(401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"})

    def too_many(wait: float, who: str) -> Response:
        seconds = max(1, math.ceil(wait))
        return _text(429, f"{who}; retry in {seconds} s", **{"Retry-After": str(seconds)})

    def origin_allowed(origin: str) -> bool:
        return "*" in cfg.cors_origins or origin in cfg.cors_origins

    @app.before_request
    async def gatekeeper() -> Response | None:
        """Answers CORS preflights, and refuses over-rate clients before any other work."""
        if request.method == "OPTIONS":
            return preflight()
        if request.method in ("POST", "DELETE", "PATCH"):
            # RFC 9725 §5: rate limits on session creation and on requests to sessions.
            now = trio.current_time()
            wait = per_client.take(client_key(request.remote_addr), now)
            if wait:
                transceiver.m_rejected.inc(reason="rate_client")
                return too_many(
                    wait,
                    f"too many requests from your address (at most {cfg.client_rate:g} per "
                    f"second, bursts of {cfg.client_burst:g})",
                )
            if request.method == "POST":
                # RFC 9725 §4.7: the endpoint may require a bearer token on every request.
                # Checked before the global bucket, so that clients without the token
                # cannot spend the tokens of those who have it.
                if not bearer_ok():
                    return unauthorised()
                if wait := everyone.take(now):
                    transceiver.m_rejected.inc(reason="rate_global")
                    return too_many(wait, "the server is taking too many new sessions right now")
        return None

    def preflight() -> Response:
        origin = request.headers.get("Origin")
        if origin is None or "Access-Control-Request-Method" not in request.headers:
            # A plain OPTIONS (WHIP clients may send one): say what the resource allows.
            allow = "POST, OPTIONS" if request.path == "/v1/sessions" else "DELETE, PATCH, OPTIONS"
            return Response("", status=204, headers={"Allow": allow})
        if not origin_allowed(origin):
            return _text(
                403,
                f"cross-origin requests from {_shown(origin)} are not allowed"
                + ("" if cfg.cors_origins else " (the server allows none: see --cors-origin)"),
            )
        return Response(
            "",
            status=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": "GET, POST, DELETE, PATCH, OPTIONS",
                "Access-Control-Allow-Headers": ALLOWED_HEADERS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin",
            },
        )

    @app.after_request
    async def cors_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin is not None and cfg.cors_origins and origin_allowed(origin):
            response.headers.setdefault("Access-Control-Allow-Origin", origin)
            response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            response.headers.add("Vary", "Origin")
        return response

    # Public on purpose: the demo page and its scripts are the same for everyone and reveal
    # no state (they are this repository's files); /healthz is what liveness probes call,
    # and says no more than "up" and the version when a token is configured.
    @app.get("/")
    async def index() -> Response:
        return Response(index_html, content_type="text/html")

    spec = SpecLibrary(cfg.spec_dir)

    # Public too: the spec/ tables are this repository's files. A name is served only when
    # it is exactly one of spec/'s own *.md files (SpecLibrary.page), never a path.
    @app.get("/spec/")
    async def spec_listing() -> Response:
        if not spec.names():
            return _text(404, "the spec/ tables are not installed with this server")
        return Response(spec.listing(), content_type="text/html")

    @app.get("/spec/index.json")
    async def spec_index() -> Response:
        return Response(json.dumps(spec.index()), content_type="application/json")

    @app.get("/spec/<name>")
    async def spec_page(name: str) -> Response:
        page = spec.page(name)
        if page is None:
            return _text(404, f"no such spec page: {_shown(name)}")
        return Response(page.html, content_type="text/html")

    @app.get("/healthz")
    async def healthz() -> Response:
        # A draining transceiver answers 503, so that a readiness probe takes it out of the
        # signaling Service while its calls finish (voice transceiver --drain-timeout); a
        # liveness probe (?probe=liveness) still gets 200: draining is not being stuck.
        status = "draining" if transceiver.draining else "ok"
        health: dict[str, object] = {"status": status, "version": __version__}
        if expected_bearer is None or bearer_ok():
            health["sessions"] = len(transceiver.sessions)
        refuse = transceiver.draining and request.args.get("probe") != "liveness"
        return Response(
            json.dumps(health), status=503 if refuse else 200, content_type="application/json"
        )

    @app.get("/metrics")
    async def metrics() -> Response:
        if not bearer_ok():
            return unauthorised()
        return Response(
            transceiver.registry.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.post("/v1/sessions")
    async def create_session() -> Response:
        # The rate limits and the bearer token were checked by gatekeeper().
        content_type = (request.mimetype or "").lower()
        if content_type != "application/sdp":
            return _text(
                415, f"the offer must be sent as application/sdp, not {content_type or 'nothing'}"
            )
        body = await request.get_data(as_text=False)
        assert isinstance(body, bytes)
        if not body.strip():
            return _text(400, "the request body is empty: send the SDP offer")
        try:
            offer = body.decode("utf-8")
        except UnicodeDecodeError:
            return _text(400, "the offer is not UTF-8 text")
        params = {k: v for k, v in request.args.items() if k not in ("agent", "ingress")}
        # VOICE-STEER §4: the steering front names the relay ingresses nearest the caller;
        # only names this transceiver was configured with are taken.
        ingress = [n for n in request.args.get("ingress", "").split(",") if n]
        if len(ingress) > MAX_INGRESSES:
            return _text(400, f"at most {MAX_INGRESSES} ingress names")
        try:
            session, answer = transceiver.create_session(
                offer,
                request.args.get("agent"),
                params,
                client=client_key(request.remote_addr),
                ingress=ingress,
            )
        except ClientLimitError as exc:
            return _text(429, str(exc), **{"Retry-After": str(cfg.retry_after)})
        except CapacityError as exc:
            return _text(503, f"{exc}; try again later", **{"Retry-After": str(cfg.retry_after)})
        except UnknownIngressError as exc:
            transceiver.m_rejected.inc(reason="bad_ingress")
            return _text(400, str(exc))
        except RemoteProtocolError as exc:  # SdpParseError, UnsupportedOffer: the offer's fault
            transceiver.m_rejected.inc(reason="bad_offer")
            return _text(400, f"cannot serve this offer: {exc}")
        except AgentError as exc:
            transceiver.m_rejected.inc(reason="bad_agent")
            return _text(400, str(exc))
        key = transceiver.session_key(session.id)
        # RFC 9725 §5: the session URL is unguessable, and it carries the session's own key:
        # whoever holds the URL (the caller, from this response) may end the call; anyone
        # who learns only the session id (it is in the logs) may not.
        return Response(
            answer,
            status=201,
            content_type="application/sdp",
            headers={"Location": f"/v1/sessions/{session.id}?key={key}"},
        )

    def session_refusal(session_id: str) -> Response | None:
        """None when the request may act on the session: it carries the session's key (from
        its URL) or, when one is configured, the bearer token."""
        supplied = request.args.get("key")
        if supplied is None:
            if expected_bearer is not None and bearer_ok():
                return None if transceiver.session_key(session_id) else no_session()
            return _text(
                401,
                "this request needs the session's key: use the whole URL from the Location "
                "header of the 201 (it ends in ?key=...)"
                + (", or send the bearer token" if expected_bearer is not None else ""),
                **({"WWW-Authenticate": "Bearer"} if expected_bearer is not None else {}),
            )
        key = transceiver.session_key(session_id)
        if key is None or not hmac.compare_digest(supplied.encode(), key.encode()):
            return no_session()
        return None

    def no_session() -> Response:
        # One answer for "no such session" and "wrong key": a guess learns nothing.
        return _text(404, "no session at this URL (it ended, or the id or key is wrong)")

    # GET /v1/sessions/<id>/transcript?key=...: a conversing call's turns, for the same
    # holders as the session itself.
    app.register_blueprint(transcript_blueprint(session_refusal))

    @app.delete("/v1/sessions/<session_id>")
    async def delete_session(session_id: str) -> Response:
        if (refusal := session_refusal(session_id)) is not None:
            return refusal
        if not transceiver.end_session(session_id, "deleted by signaling"):
            return no_session()
        return _text(200, "session ended")

    @app.route("/v1/sessions/<session_id>", methods=["PATCH"])
    async def patch_session(session_id: str) -> Response:
        if (refusal := session_refusal(session_id)) is not None:
            return refusal
        # RFC 9725 §4.3.1: a server without trickle ICE answers PATCH with 405. An ICE-lite
        # server never needs the client's candidates: the client's checks reveal them.
        return _text(405, "trickle ICE is not needed: this server is ICE-lite", Allow="DELETE")

    @app.get("/v1/sessions/<session_id>/trace")
    async def session_trace(session_id: str) -> Response:
        """The session's trace as server-sent events from now until the call ends, each
        datagram decoded (:mod:`voice.trace`): what the demo page's ladder is drawn from.
        Like DELETE it needs the session's key, since it shows the call's handshake."""
        if (refusal := session_refusal(session_id)) is not None:
            return refusal
        feed = transceiver.watch(session_id)
        if feed is None:
            return _text(409, "this session cannot be watched (it ended, or has enough watchers)")

        async def events() -> AsyncIterator[bytes]:
            yield b"event: ready\ndata: {}\n\n"
            async with feed:
                async for record in feed:
                    yield b"data: " + json.dumps(record, separators=(",", ":")).encode() + b"\n\n"
            yield b"event: end\ndata: {}\n\n"

        response = Response(
            events(), content_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )
        response.timeout = None  # a call lasts as long as it lasts
        return response

    @app.errorhandler(413)
    async def too_large(_: Exception) -> Response:
        return _text(413, f"the offer is larger than {cfg.max_offer_bytes} bytes")

    @app.errorhandler(408)
    async def too_slow(_: Exception) -> Response:
        # Connection: close makes hypercorn drop the connection once the reason is sent,
        # instead of reading (and discarding) the rest of a body that trickles in for ever.
        return _text(
            408,
            f"the request body did not arrive within {cfg.body_timeout:g} s",
            Connection="close",
        )

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _text(404, f"no such resource: {_shown(request.path)}")

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return _text(405, f"{request.method} is not allowed on {_shown(request.path)}")

    app.asgi_app = _finish_sends(app.asgi_app)  # type: ignore[method-assign,assignment]
    return app


ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]


def _finish_sends(asgi_app: ASGIApp) -> ASGIApp:
    """Lets each ASGI send finish even when Quart-Trio cancels the request's tasks.

    Once a response is complete, Quart-Trio cancels the request's nursery as soon as the
    server reports the stream closed, which can land while hypercorn is still closing the
    connection from inside that very send; the close is then cancelled and the connection
    stays open. For a client whose body never finishes (408, Connection: close) that would
    hold the socket as long as the client trickles bytes. Hypercorn already shields its
    socket writes, so shielding the send call itself adds no new way to block.
    """

    async def app(scope: Any, receive: Any, send: Any) -> None:
        async def finishing_send(message: Any) -> None:
            with trio.CancelScope(shield=True):
                await send(message)

        await asgi_app(scope, receive, finishing_send if scope["type"] == "http" else send)

    return app
