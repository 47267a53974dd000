"""Text messages to residents who left a phone (their receipt code, the result of their case).

Off by default: without ``SMS_GATEWAY_URL`` a message is only written to the log. With it, each
message is one HTTP request to the operator's gateway: the URL is a template whose ``{phone}`` and
``{text}`` are filled in (URL-encoded); with ``SMS_GATEWAY_METHOD = "POST"`` they are sent as a form
body instead (``phone=…&text=…``), the template's placeholders then left empty. Messages are queued
on the database session and sent only after it commits, so a refused or rolled-back step never
texts anyone; a gateway that fails is logged, never an error for the user.
"""
import logging
import urllib.parse
import urllib.request

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger("villagegrid.sms")
_QUEUE = "vg_sms_outbox"
TIMEOUT_SECONDS = 5


def masked(phone):
    """138****5678: the log names the number without giving it away."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone or "") >= 7 else "****"


def queue(session, phone, text):
    """Send ``text`` to ``phone`` once the session commits."""
    if phone:
        session.info.setdefault(_QUEUE, []).append((phone, text))


def send(phone, text, config=None):
    """Send one message now (the log only, without a gateway). Returns True when it was handed over."""
    config = config if config is not None else current_app.config
    url = config.get("SMS_GATEWAY_URL") or ""
    if not url:
        log.info("SMS (no gateway set, log only) to %s: %s", masked(phone), text)
        return True
    try:
        if (config.get("SMS_GATEWAY_METHOD") or "GET").upper() == "POST":
            body = urllib.parse.urlencode({"phone": phone, "text": text}).encode()
            req = urllib.request.Request(url.format(phone="", text=""), data=body, method="POST")
        else:
            req = urllib.request.Request(url.format(phone=urllib.parse.quote(phone), text=urllib.parse.quote(text)))
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:  # noqa: S310 (the operator's URL)
            ok = 200 <= resp.status < 300
    except (OSError, ValueError) as exc:
        log.warning("SMS to %s failed: %s", masked(phone), exc)
        return False
    if not ok:
        log.warning("SMS to %s refused by the gateway (HTTP %s)", masked(phone), resp.status)
    return ok


@event.listens_for(Session, "after_commit")
def _after_commit(session):
    """Send what the committed work queued (the app's settings: the one whose context is active)."""
    outbox = session.info.pop(_QUEUE, [])
    if outbox and has_app_context():
        for phone, text in outbox:
            send(phone, text)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session):
    session.info.pop(_QUEUE, None)
