"""The user's messages and the unread count of the top bar."""
from flask import Blueprint, redirect, url_for
from flask_login import current_user

from ..core.web import render
from ..extensions import db
from . import service

bp = Blueprint("notifications", __name__)


@bp.app_context_processor
def _unread():
    """The unread count for the navigation (phone and PC), computed only when a page asks for it."""
    def unread_notifications():
        if not current_user.is_authenticated:
            return 0
        return service.unread_count(current_user)

    return {"unread_notifications": unread_notifications}


@bp.route("/notifications")
def index():
    """The user's messages: new cases, assignments, urging, emergencies, week checks of one's logs."""
    return render("notifications/index.html", items=service.notifications(current_user))


@bp.route("/notifications/<int:notification_id>/open", methods=["POST"])
def open_notification(notification_id):
    """Mark a message read and go to what it is about."""
    note = service.open_notification(current_user, notification_id)
    db.session.commit()
    return redirect(service.target(current_user, note) or url_for("notifications.index"))


@bp.route("/notifications/read-all", methods=["POST"])
def read_all():
    """Mark every message read."""
    service.mark_all_read(current_user)
    db.session.commit()
    return redirect(url_for("notifications.index"))
