"""The signaling endpoint: a WHIP-shaped session resource (RFC 9725) on Quart-Trio.

A browser POSTs its SDP offer and receives the answer; the session it creates lives at the
URL in ``Location`` until the browser DELETEs it or the call ends by itself:

=======================  =================================================================
``POST /v1/sessions``    offer in (``application/sdp``), ``201 Created`` with the answer
``DELETE /v1/sessions/<id>``  ends the call (``200``), ``404`` when it does not exist
``GET /healthz``         liveness, with the session count
``GET /metrics``         counters in the Prometheus text format
``GET /``                the demo page: a Talk button, hang-up, state and audio level
=======================  =================================================================

Agents are chosen per call with the query string (``?agent=tone&frequency=440``); every
other query parameter is handed to the agent, which validates it. Every refusal is a 4xx
or 5xx with a plain-text reason a person can act on.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path

from quart import Response, request
from quart_trio import QuartTrio

from voice import __version__
from voice.agents.transcript import blueprint as transcript_blueprint
from voice.sdp import SdpError
from voice.transceiver.agents import AgentError
from voice.transceiver.service import CapacityError, Transceiver

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


@dataclass(frozen=True, slots=True)
class SignalingConfig:
    #: When set, POST /v1/sessions needs ``Authorization: Bearer <token>``.
    bearer_token: str | None = None
    #: Largest offer accepted; real audio offers are 2-6 KiB.
    max_offer_bytes: int = 64 * 1024
    #: Seconds a client is told to wait (Retry-After) when the transceiver is full.
    retry_after: int = 5


def _text(status: int, message: str, **headers: str) -> Response:
    return Response(
        message.rstrip() + "\n", status=status, content_type="text/plain", headers=headers
    )


def create_app(transceiver: Transceiver, config: SignalingConfig | None = None) -> QuartTrio:
    cfg = config or SignalingConfig()
    app = QuartTrio(__name__, static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_offer_bytes
    app.register_blueprint(transcript_blueprint())  # GET /v1/sessions/<id>/transcript

    @app.get("/")
    async def index() -> Response:
        return Response((STATIC / "index.html").read_text(), content_type="text/html")

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"status": "ok", "version": __version__, "sessions": len(transceiver.sessions)}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(
            transceiver.registry.render(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @app.post("/v1/sessions")
    async def create_session() -> Response:
        if cfg.bearer_token is not None:
            supplied = request.headers.get("Authorization", "")
            expected = f"Bearer {cfg.bearer_token}"
            if not hmac.compare_digest(supplied.encode(), expected.encode()):
                return _text(
                    401, "a valid bearer token is required", **{"WWW-Authenticate": "Bearer"}
                )
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
        params = {k: v for k, v in request.args.items() if k != "agent"}
        try:
            session, answer = transceiver.create_session(offer, request.args.get("agent"), params)
        except CapacityError as exc:
            return _text(503, f"{exc}; try again later", **{"Retry-After": str(cfg.retry_after)})
        except SdpError as exc:
            transceiver.m_rejected.inc(reason="bad_offer")
            return _text(400, f"cannot serve this offer: {exc}")
        except AgentError as exc:
            transceiver.m_rejected.inc(reason="bad_agent")
            return _text(400, str(exc))
        return Response(
            answer,
            status=201,
            content_type="application/sdp",
            headers={"Location": f"/v1/sessions/{session.id}"},
        )

    @app.delete("/v1/sessions/<session_id>")
    async def delete_session(session_id: str) -> Response:
        if not transceiver.end_session(session_id, "deleted by signaling"):
            return _text(404, f"no session {session_id}")
        return _text(200, "session ended")

    @app.route("/v1/sessions/<session_id>", methods=["PATCH"])
    async def patch_session(session_id: str) -> Response:
        # RFC 9725 §4.3.1: a server without trickle ICE answers PATCH with 405. An ICE-lite
        # server never needs the client's candidates: the client's checks reveal them.
        return _text(405, "trickle ICE is not needed: this server is ICE-lite", Allow="DELETE")

    @app.errorhandler(413)
    async def too_large(_: Exception) -> Response:
        return _text(413, f"the offer is larger than {cfg.max_offer_bytes} bytes")

    @app.errorhandler(404)
    async def not_found(_: Exception) -> Response:
        return _text(404, f"no such resource: {request.path}")

    @app.errorhandler(405)
    async def not_allowed(_: Exception) -> Response:
        return _text(405, f"{request.method} is not allowed on {request.path}")

    return app
