"""Admin pages of the case area: categories with their time limits, departments, and the
working-day calendar that amends the official one."""
from datetime import date

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user
from sqlalchemy import select

from ..accounts.permissions import require
from ..core.forms import ServiceError, run_form
from ..core.timeutil import local_today
from ..core.web import render
from ..core.workdays import CalendarDay, library_years, year_is_known
from ..extensions import db
from ..grids.models import Grid, GridLevel
from ..grids.scope import grid_clause
from . import service
from .forms import CalendarDayForm, CategoryForm, DepartmentForm
from .models import CaseCategory, Department

bp = Blueprint("case_settings", __name__)


def _unique(model, name, row):
    other = db.session.scalar(select(model).where(model.name == name))
    if other is not None and other is not row:
        raise ServiceError(f"已有名为“{name}”的{'类别' if model is CaseCategory else '部门'}。", "name")


def _save_category(form, row):
    name = form.name.data.strip()
    _unique(CaseCategory, name, row)
    if row is None:
        row = CaseCategory()
        db.session.add(row)
    dept = db.session.get(Department, form.department_id.data) if form.department_id.data else None
    row.name, row.department = name, dept
    row.accept_hours, row.handle_workdays = form.accept_hours.data, form.handle_workdays.data
    row.follow_up_workdays, row.active = form.follow_up_workdays.data, form.active.data
    if (form.approval_level.data or "") not in {key for key, _ in form.approval_level.choices}:
        raise ServiceError("请选择审批层级。", "approval_level")
    row.approval_level = form.approval_level.data or ""
    db.session.flush()
    return row


def _level_choices():
    """The township and county grids the user may give a department to (an admin also: every level)."""
    town = db.session.scalar(select(GridLevel.rank).where(GridLevel.key == "town"))
    rows = db.session.scalars(select(Grid).join(GridLevel, GridLevel.id == Grid.level_id)
                              .where(grid_clause(current_user), GridLevel.rank <= (town or 0))
                              .order_by(Grid.path)).all()
    first = [(None, "不限层级（各乡镇通用）")] if current_user.is_admin else []
    return first + [(g.id, g.name) for g in rows]


def _department_form(row=None):
    form = DepartmentForm(obj=row, prefix="dept")
    form.grid_id.choices = _level_choices()
    if row is None and not form.is_submitted() and not current_user.is_admin and len(form.grid_id.choices) == 1:
        form.grid_id.data = form.grid_id.choices[0][0]
    return form


def _save_department(form, row):
    name = form.name.data.strip()
    if form.grid_id.data not in {gid for gid, _ in form.grid_id.choices}:
        raise ServiceError("请选择部门所属的乡镇或县。", "grid_id")
    _unique(Department, name, row)
    if row is None:
        row = Department()
        db.session.add(row)
    row.name, row.phone, row.active = name, (form.phone.data or "").strip(), form.active.data
    row.grid_id = form.grid_id.data
    db.session.flush()
    return row


def _category_form(row=None):
    form = CategoryForm(obj=row, prefix="cat")
    form.approval_level.choices = [("", "上一级（有受理人员的上级）")] + [
        (lv.key, lv.name) for lv in db.session.scalars(select(GridLevel).order_by(GridLevel.rank))]
    form.department_id.choices = [(None, "（无）")] + [
        (d.id, d.name) for d in db.session.scalars(select(Department).order_by(Department.id))]
    return form


def _settings_page(cat_form=None, dept_form=None):
    departments = db.session.scalars(select(Department).order_by(Department.grid_id.is_not(None), Department.grid_id,
                                                                  Department.id)).all()
    return render("cases/settings.html",
                  categories=db.session.scalars(select(CaseCategory).order_by(CaseCategory.id)).all(),
                  departments=departments, editable={d.id for d in departments if service.may_edit_department(current_user, d)},
                  cat_form=cat_form or _category_form(), dept_form=dept_form or _department_form())


@bp.route("/cases/settings")
@require("manage_case_settings")
def settings():
    """Case categories (default department, time limit per step) and departments."""
    return _settings_page()


@bp.route("/cases/settings/categories/new", methods=["POST"])
@require("manage_case_settings")
def new_category():
    """Add a category."""
    form = _category_form()
    done = run_form(form, lambda: _save_category(form, None), lambda r: f"已添加类别“{r.name}”。",
                    url_for("case_settings.settings"))
    return done or _settings_page(cat_form=form)


@bp.route("/cases/settings/categories/<int:category_id>", methods=["GET", "POST"])
@require("manage_case_settings")
def edit_category(category_id):
    """Change a category's name, department, limits or whether it is offered."""
    row = db.session.get(CaseCategory, category_id) or abort(404)
    form = _category_form(row)
    done = run_form(form, lambda: _save_category(form, row), "已保存。", url_for("case_settings.settings"))
    return done or render("cases/settings_item.html", form=form, title=f"修改类别“{row.name}”")


@bp.route("/cases/settings/departments/new", methods=["POST"])
@require("manage_case_settings")
def new_department():
    """Add a department cases can be transferred to."""
    form = _department_form()
    done = run_form(form, lambda: _save_department(form, None), lambda r: f"已添加部门“{r.name}”。",
                    url_for("case_settings.settings"))
    return done or _settings_page(dept_form=form)


@bp.route("/cases/settings/departments/<int:department_id>", methods=["GET", "POST"])
@require("manage_case_settings")
def edit_department(department_id):
    """Rename a department, change its phone, or stop offering it."""
    row = service.get_department_or_404(current_user, department_id)
    form = _department_form(row)
    done = run_form(form, lambda: _save_department(form, row), "已保存。", url_for("case_settings.settings"))
    return done or render("cases/settings_item.html", form=form, title=f"修改部门“{row.name}”")


def _save_day(form):
    row = db.session.scalar(select(CalendarDay).where(CalendarDay.day == form.day.data))
    if row is None:
        row = CalendarDay(day=form.day.data)
        db.session.add(row)
    row.is_workday = form.is_workday.data == "1"
    row.name = (form.name.data or "").strip()
    db.session.flush()
    return row


@bp.route("/admin/workdays", methods=["GET", "POST"])
@require("manage_calendar")
def workdays():
    """The admin's calendar entries that override or extend the official holidays."""
    form = CalendarDayForm()
    done = run_form(form, lambda: _save_day(form),
                    lambda r: f"已保存：{r.day.isoformat()} {'上班' if r.is_workday else '放假'}。",
                    url_for("case_settings.workdays"))
    if done:
        return done
    this_year = local_today().year
    years = [(y, year_is_known(y), y in library_years()) for y in (this_year, this_year + 1)]
    rows = db.session.scalars(select(CalendarDay).where(CalendarDay.day >= date(this_year - 1, 1, 1))
                              .order_by(CalendarDay.day)).all()
    return render("cases/workdays.html", form=form, rows=rows, years=years, library=library_years())


@bp.route("/admin/workdays/<int:day_id>/delete", methods=["POST"])
@require("manage_calendar")
def delete_day(day_id):
    """Remove an entry (the official calendar applies to that date again)."""
    row = db.session.get(CalendarDay, day_id) or abort(404)
    db.session.delete(row)
    db.session.commit()
    flash(f"已删除 {row.day.isoformat()} 的设置。", "success")
    return redirect(url_for("case_settings.workdays"))
