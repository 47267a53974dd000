"""联系户 screens: the worker's own households, assigning a household's worker, the leader's view per grid."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from wtforms import SelectField, SelectMultipleField

from ..accounts.permissions import can, require
from ..core import panels
from ..core.forms import Form, ServiceError, run_form
from ..core.pagination import paginate
from ..grids.scope import get_grid_or_404
from ..core.web import render
from ..extensions import db
from . import contacts
from ..units.service import get_unit_or_404
from .models import ContactLink
from .service import get_household_or_404

bp = Blueprint("contacts", __name__)


class ContactForm(Form):
    user_id = SelectField("联系网格员", coerce=int, validate_choice=False)


class OtherContactForm(Form):
    """Another contact (住村干部, 党员, 村民代表 …): an account, or a person registered in the village."""

    role = SelectField("联系身份", choices=list(contacts.OTHER_ROLES.items()))
    user_id = SelectField("有账号的人员", coerce=int, validate_choice=False)
    resident_id = SelectField("或：本村在册人员（无需账号）", coerce=int, validate_choice=False)


class BulkAssignForm(Form):
    household_ids = SelectMultipleField("要安排的户", coerce=int, validate_choice=False)
    user_id = SelectField("安排给", coerce=int, validate_choice=False)


def _label(user):
    return f"{user.full_name}（{user.role_name}）"


def _contact_choices(household):
    """(choices, {id: user}) for one household: nobody, or an active worker/leader covering its grid."""
    allowed = {u.id: u for u in contacts.candidates(household.grid)}
    choices = [(0, "（不安排联系人）")] + [(uid, _label(u)) for uid, u in allowed.items()]
    link = household.contact
    if link is not None and link.user_id not in allowed:
        choices.insert(1, (link.user_id, f"{link.user.full_name}（现联系人，已不在岗或不负责本网格）"))
    return choices, allowed


@panels.panel("household", "contact")
def _contact_form(household):
    """The assign form shown on a household's page, or None when the user may not assign."""
    if not can(current_user, "assign_contacts") or household.status != "active":
        return {"contact_form": None}
    form = ContactForm(formdata=None)
    form.user_id.choices, _ = _contact_choices(household)
    form.user_id.data = household.contact.user_id if household.contact else 0
    return {"contact_form": form}


def _other_form(target):
    """The 添加其他联系人 form for a household or unit page, or None when the user may not assign."""
    if not can(current_user, "assign_contacts") or target.status != "active":
        return None
    form = OtherContactForm(formdata=None)
    _other_choices(form, target.grid)
    return form


@panels.panel("household", "other_contacts")
def _household_other_contacts(household):
    return {"other_contact_form": _other_form(household)}


@panels.panel("unit", "other_contacts")
def _unit_other_contacts(unit):
    return {"other_contact_form": _other_form(unit)}


def _other_choices(form, grid):
    accounts = {u.id: u for u in contacts.account_choices(grid)}
    people = {r.id: r for r in contacts.person_choices(grid)}
    form.user_id.choices = [(0, "（不选）")] + [(uid, _label(u)) for uid, u in accounts.items()]
    form.resident_id.choices = [(0, "（不选）")] + [(rid, contacts.person_label(r)) for rid, r in people.items()]
    return accounts, people


@bp.route("/households/<int:household_id>/contacts/add", methods=["POST"])
@bp.route("/units/<int:unit_id>/contacts/add", methods=["POST"])
@require("assign_contacts")
def add_other(household_id=None, unit_id=None):
    """Add another contact to a household or a unit (a second add of the same person is refused, never doubled)."""
    if household_id is not None:
        target = get_household_or_404(current_user, household_id)
        back = url_for("households.show", household_id=target.id, _anchor="contacts")
    else:
        target = get_unit_or_404(current_user, unit_id)
        back = url_for("units.show", unit_id=target.id, _anchor="contacts")
    form = OtherContactForm()
    accounts, people = _other_choices(form, target.grid)
    if not form.validate_on_submit():
        abort(400)
    try:
        if form.user_id.data and form.user_id.data not in accounts:
            raise ServiceError("所选账号不负责这里的网格或已停用，请从列表中选择。")
        if form.resident_id.data and form.resident_id.data not in people:
            raise ServiceError("所选人员不是本村在册的人员，请从列表中选择。")
        link = contacts.add_contact(target, form.role.data, user=accounts.get(form.user_id.data),
                                    resident=people.get(form.resident_id.data))
    except ServiceError as exc:
        db.session.rollback()
        flash(f"未添加联系人：{exc}", "error")
    else:
        db.session.commit()
        flash(f"已添加{link.role_name} {link.person_name}。", "success")
    return redirect(back)


@bp.route("/contacts/<int:contact_id>/remove", methods=["POST"])
@require("assign_contacts")
def remove(contact_id):
    """Take a contact off a household or unit."""
    link = db.session.get(ContactLink, contact_id)
    if link is None:
        abort(404)
    if link.household_id is not None:
        get_household_or_404(current_user, link.household_id)
        back = url_for("households.show", household_id=link.household_id, _anchor="contacts")
    else:
        get_unit_or_404(current_user, link.unit_id)
        back = url_for("units.show", unit_id=link.unit_id, _anchor="contacts")
    name, role = link.person_name, link.role_name
    contacts.remove_contact(link)
    db.session.commit()
    flash(f"已移除{role} {name}。", "success")
    return redirect(back)


@bp.route("/contacts/mine")
def mine():
    """我的联系户: the households the logged-in worker links, with head, address, phone and categories."""
    rows = db.session.scalars(contacts.my_households_query(current_user)).unique().all()
    return render("contacts/mine.html", rows=rows)


@bp.route("/households/<int:household_id>/contact", methods=["GET", "POST"])
@require("assign_contacts")
def assign(household_id):
    """Set, change or remove the worker who links a household."""
    h = get_household_or_404(current_user, household_id)
    form = ContactForm()
    form.user_id.choices, allowed = _contact_choices(h)
    if request.method == "GET":
        form.user_id.data = h.contact.user_id if h.contact else 0

    def save():
        if h.status != "active":
            raise ServiceError(f"“{h.address}”已注销，不能安排联系人。")
        if not form.user_id.data:
            contacts.unassign(h)
            return None
        user = allowed.get(form.user_id.data)
        if user is None:
            raise ServiceError("所选人员不能联系本户：请从列表中选择负责本网格的在岗网格员或网格长。", "user_id")
        return contacts.assign(h, user)

    done = run_form(form, save, lambda link: f"已安排 {link.user.full_name} 联系本户。" if link else "已取消本户的联系人。",
                    url_for("households.show", household_id=h.id))
    return done or render("contacts/assign.html", form=form, h=h)


def _grid_view(grid, form):
    loads = contacts.workers_of(grid)
    choices = contacts.bulk_candidates(grid, loads)
    form.user_id.choices = [(0, "请选择")] + [(u.id, _label(u)) for u in choices]
    page = paginate(contacts.unlinked_query(current_user, grid))
    checked = set(form.household_ids.data or ())
    return render("contacts/grid.html", grid=grid, loads=loads, page=page, form=form, checked=checked,
                  rule=contacts.LINK_RULE, link_min=contacts.LINK_MIN, link_max=contacts.LINK_MAX)


@bp.route("/grids/<int:grid_id>/contacts")
@require("assign_contacts")
def grid(grid_id):
    """Per grid: each worker's number of linked households against the 20–30 rule, and households nobody links."""
    g = get_grid_or_404(current_user, grid_id)
    return _grid_view(g, BulkAssignForm(formdata=None))


@bp.route("/grids/<int:grid_id>/contacts/assign", methods=["POST"])
@require("assign_contacts")
def bulk_assign(grid_id):
    """Give the ticked households that nobody links to one worker, in one go."""
    g = get_grid_or_404(current_user, grid_id)
    form = BulkAssignForm()
    allowed = {u.id: u for u in contacts.bulk_candidates(g, contacts.workers_of(g))}

    def save():
        user = allowed.get(form.user_id.data)
        if user is None:
            raise ServiceError("请选择联系网格员。", "user_id")
        return contacts.bulk_assign(current_user, g, form.household_ids.data, user), user

    done = run_form(form, save, lambda r: f"已将 {r[0]} 户安排给 {r[1].full_name} 联系。",
                    url_for("contacts.grid", grid_id=g.id))
    return done or _grid_view(g, form)
