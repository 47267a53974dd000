"""Home, first-run set-up and the health check."""
from types import SimpleNamespace

from flask import Blueprint, abort, current_app, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy import text

from ..accounts.permissions import can
from ..cases import service as cases_service
from ..core import form_stash
from ..core.forms import run_form
from ..core.web import public, render
from ..extensions import db
from ..grids.scope import top_grids
from ..households import contacts
from ..visits import service as visits
from . import service
from .forms import SetupForm

bp = Blueprint("main", __name__)


@bp.route("/")
def home():
    """The start page: the user's grids and the tasks of their role."""
    due, total = None, 0
    if can(current_user, "record_visits"):
        items = visits.my_due(current_user)
        overdue, this_week, _ = visits.split_due(items)
        due, total = SimpleNamespace(overdue=overdue, this_week=this_week), len(items)

    if current_user.is_department:
        # A department answers the cases handed to it; it has no grids, households or visits.
        return render("main/home.html", department=cases_service.department_summary(current_user),
                      kept_forms=form_stash.pending(current_user))
    return render("main/home.html", roots=top_grids(current_user), due=due if total else None, due_total=total,
                  kept_forms=form_stash.pending(current_user), contact_count=contacts.my_count(current_user))


@bp.route("/me")
def me():
    """The user's own account page (the phone menu's 我的)."""
    return render("main/me.html")


@bp.route("/manage")
def manage():
    """Every link, the administration ones included (the top bar and the phone's bottom bar link here)."""
    return render("main/manage.html")


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    """One-time set-up: name the county or township and create the first admin."""
    if service.is_set_up():
        abort(404)
    form = SetupForm()
    if not form.is_submitted():
        # The address this administrator reached the server by: printed in QR codes unless changed.
        form.public_address.data = request.host_url.rstrip("/")
    done = run_form(form, lambda: service.run_setup(
        org_name=form.org_name.data.strip(), org_level=form.org_level.data,
        division_code=(form.division_code.data or "").strip(), username=form.username.data.strip(),
        full_name=form.full_name.data.strip(), phone=(form.phone.data or "").strip(),
        password=form.password.data, min_length=current_app.config["PASSWORD_MIN_LENGTH"],
        public_address=form.public_address.data,
    ), "初始化完成，请用刚才设置的管理员账号登录。", url_for("accounts.login"))
    return done or render("main/setup.html", form=form, min_length=current_app.config["PASSWORD_MIN_LENGTH"])


@bp.route("/healthz")
@public
def healthz():
    """200 when the database answers: ``ok`` for anyone; the schema revision and database kind only
    for a logged-in user (they tell an outsider which version, and so which weaknesses, to try)."""
    revision = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    if not current_user.is_authenticated:
        return jsonify(status="ok")
    return jsonify(status="ok", schema_revision=revision, database=db.engine.dialect.name)
