"""The audit log (read only), the grid levels and kinds, and the installation's settings (admin)."""
from datetime import datetime, time, timedelta, timezone

from flask import Blueprint, current_app, flash, redirect, request, url_for
from sqlalchemy import select
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from ..accounts.permissions import require
from ..core import audit, schedules
from ..core.audit import ACTION_LABELS
from ..core.forms import ServiceError, run_form
from ..core.public import public_base_url, record_address, recorded_address
from ..core.models import AuditLog, Setting
from ..core.pagination import paginate
from ..core.timeutil import LOCAL_TZ
from ..core.validators import PAST, InvalidValue
from ..core.web import render
from ..extensions import db
from ..grids.models import GridKind, GridLevel
from ..core.forms import Form

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _local_day_to_utc(value, label):
    """A YYYY-MM-DD local date (2000 … today) as naive UTC midnight; None when empty or refused (said why)."""
    if not value:
        return None
    try:
        day = PAST.parse(value, label)
    except InvalidValue as exc:
        flash(f"{exc}该条件未使用。", "warning")
        return None
    return datetime.combine(day, time(), LOCAL_TZ).astimezone(timezone.utc).replace(tzinfo=None)


@bp.route("/audit")
@require("view_audit")
def audit_log():
    """Browse and filter the audit log: who, what, which record, when."""
    args = {k: (request.args.get(k) or "").strip() for k in ("actor", "action", "entity", "entity_id", "start", "end")}
    q = select(AuditLog).order_by(AuditLog.id.desc())
    if args["actor"]:
        q = q.where(AuditLog.actor_name.ilike(f"%{args['actor']}%"))
    if args["action"]:
        q = q.where(AuditLog.action == args["action"])
    if args["entity"]:
        q = q.where(AuditLog.entity == args["entity"])
    if args["entity_id"]:
        q = q.where(AuditLog.entity_id == args["entity_id"])
    start, end = _local_day_to_utc(args["start"], "开始日期"), _local_day_to_utc(args["end"], "结束日期")
    if start:
        q = q.where(AuditLog.at >= start)
    if end:
        q = q.where(AuditLog.at < end + timedelta(days=1))
    page = paginate(q)
    entities = db.session.scalars(select(AuditLog.entity).distinct().order_by(AuditLog.entity)).all()
    return render("admin/audit.html", "admin/_audit_rows.html", page=page, args=args,
                  actions=ACTION_LABELS, entities=[e for e in entities if e])


class LevelForm(Form):
    key = StringField("代号（英文）", validators=[DataRequired("请填写代号。"), Regexp(r"^[a-z][a-z0-9_]{1,31}$", message="代号用小写英文字母、数字和下划线。")])
    name = StringField("名称", validators=[DataRequired("请填写名称。"), Length(max=40)])
    rank = IntegerField("排序（越小越高）", validators=[NumberRange(1, 999, message="排序应在 1 到 999 之间。")])


class KindForm(Form):
    key = StringField("代号（英文）", validators=[DataRequired("请填写代号。"), Regexp(r"^[a-z][a-z0-9_]{1,31}$", message="代号用小写英文字母、数字和下划线。")])
    name = StringField("名称", validators=[DataRequired("请填写名称。"), Length(max=40)])


@bp.route("/reference", methods=["GET", "POST"])
@require("manage_reference")
def reference():
    """Grid levels and kinds: rename them or add new ones (levels and kinds are data)."""
    level_form, kind_form = LevelForm(prefix="level"), KindForm(prefix="kind")
    form, model = (level_form, GridLevel) if request.form.get("which") == "level" else (kind_form, GridKind)
    done = run_form(form, lambda: _save_reference(model, form), lambda row: f"已保存“{row.name}”。",
                    url_for("admin.reference"))
    if done:
        return done
    levels = db.session.scalars(select(GridLevel).order_by(GridLevel.rank)).all()
    kinds = db.session.scalars(select(GridKind).order_by(GridKind.id)).all()
    return render("admin/reference.html", levels=levels, kinds=kinds, level_form=level_form, kind_form=kind_form)


def _save_reference(model, form):
    """Rename the level or kind with the form's key, or add it."""
    row = db.session.scalar(select(model).where(model.key == form.key.data))
    if row is None:
        row = model(key=form.key.data)
        db.session.add(row)
    row.name = form.name.data.strip()
    if model is GridLevel:
        row.rank = form.rank.data
    return row


class InstallationForm(Form):
    public_address = StringField("本系统的访问地址", validators=[DataRequired("请填写访问地址。"), Length(max=200)],
                                 description="群众用手机扫描公示牌、联系卡、责任状上的二维码时打开的地址，"
                                             "如 https://grid.example.gov.cn 或 http://192.168.1.10:5000。")


class NameForm(Form):
    org_name = StringField("系统名称", validators=[DataRequired("请填写名称。"), Length(max=80)],
                           description="显示在每个页面左上角和浏览器标题上，如“长兴县”或“长兴县村网格”；改名不影响网格和台账。")


def _save_name(text):
    name = (text or "").strip()[:80]  # control characters are gone already (core/inputs.py)
    if not name:
        raise ServiceError("请填写名称。", "org_name")
    old = Setting.get("org_name", "")
    Setting.put("org_name", name)
    audit.record("update", "setting", "org_name", f"系统名称：{old or '未设置'} → {name}")
    return name


@bp.route("/settings/name", methods=["POST"])
@require("manage_installation")
def rename():
    """Change the installation's name (shown on every page), set at set-up."""
    form = NameForm()
    done = run_form(form, lambda: _save_name(form.org_name.data), "已修改系统名称。", url_for("admin.settings"))
    if done is not None:
        return done
    flash("；".join(e for errs in form.errors.values() for e in errs) or "未保存。", "error")
    return redirect(url_for("admin.settings"))


def _save_address(text):
    old = recorded_address()
    new = record_address(text)
    audit.record("update", "setting", "public_base_url", f"访问地址：{old or '未设置'} → {new}")
    return new


@bp.route("/settings", methods=["GET", "POST"])
@require("manage_installation")
def settings():
    """The installation's public address (printed in QR codes), the host names it answers to, the schedules."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    form = InstallationForm(data={"public_address": recorded_address()} if request.method == "GET" else None)
    done = None if configured else run_form(form, lambda: _save_address(form.public_address.data),
                                            "已保存访问地址；此后打印的二维码使用新地址。", url_for("admin.settings"))
    name_form = NameForm(data={"org_name": Setting.get("org_name", "")})
    return done or render("admin/settings.html", form=form, name_form=name_form, configured=configured,
                          in_use=public_base_url(),
                          trusted_hosts=current_app.config.get("TRUSTED_HOSTS"),
                          schedules=schedules.overview(current_app), first_run=schedules.first_run(current_app),
                          schedules_enabled=current_app.config.get("SCHEDULES_ENABLED"))
