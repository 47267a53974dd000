"""联系户 screens: the worker's own households, assigning a household's worker, the leader's view per grid."""
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import SelectField, SelectMultipleField

from ..accounts.permissions import can, require
from ..core import idempotency, panels
from ..core.idempotency import KeyedForm
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


class OtherContactForm(KeyedForm, Form):
    """Another contact (住村干部, 党员, 村民代表 …): an account, or a person registered in the village."""

    # Ids of their own: the household page also shows the 联系网格员 form, whose select is user_id.
    role = SelectField("联系身份", choices=list(contacts.OTHER_ROLES.items()), id="other-role")
    user_id = SelectField("有账号的人员", coerce=int, validate_choice=False, id="other-user_id")
    # The registered person comes from the person picker (radio buttons named resident_id).


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
    """The 添加其他联系人 form for a household or unit page with the person picker's matches for
    ``?person_q=`` (the search without JavaScript), or None when the user may not assign."""
    if not can(current_user, "assign_contacts") or target.status != "active":
        return None
    form = OtherContactForm(formdata=None)
    form.user_id.choices = _account_choices(target.grid)[0]
    return form


def person_query():
    """What the person picker's search box holds on this page (``?person_q=``)."""
    return (request.args.get("person_q") or "").strip()[:20]


def _people_panel(target):
    form = _other_form(target)
    q = person_query() if form is not None else ""
    return {"other_contact_form": form, "person_q": q,
            "people_found": contacts.find_people(current_user, target.grid, q) if q else None}


@panels.panel("household", "other_contacts")
def _household_other_contacts(household):
    return _people_panel(household)


@panels.panel("unit", "other_contacts")
def _unit_other_contacts(unit):
    return _people_panel(unit)


def _account_choices(grid):
    """(choices, {id: user}) of the accounts that may be another contact in ``grid``."""
    accounts = {u.id: u for u in contacts.account_choices(grid)}
    return [(0, "（不选）")] + [(uid, _label(u)) for uid, u in accounts.items()], accounts


@bp.route("/grids/<int:grid_id>/people")
def people(grid_id):
    """Fragment: the people registered in the grid's village, within the user's grids, whose name
    matches the person picker's search (``person_q``), as radio buttons named ``field``."""
    grid = get_grid_or_404(current_user, grid_id)
    name = request.args.get("field", "resident_id")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]{0,40}", name):
        abort(400)
    q = person_query()
    return render_template("contacts/_people.html", field=name, q=q,
                           found=contacts.find_people(current_user, grid, q) if q else None)


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
    form.user_id.choices, accounts = _account_choices(target.grid)
    if not form.validate_on_submit():
        abort(400)
    resident_id = request.form.get("resident_id", type=int)
    try:
        if form.user_id.data and form.user_id.data not in accounts:
            raise ServiceError("所选账号不负责这里的网格或已停用，请从列表中选择。")
        person = contacts.person_in_reach(current_user, target.grid, resident_id)
        if resident_id and person is None:
            raise ServiceError("所选人员不是本村在册的人员，请重新查找后点选。")
        link, again = idempotency.once(form.form_key.data, current_user.id, request.endpoint, lambda: contacts.add_contact(
            target, form.role.data, user=accounts.get(form.user_id.data), resident=person))
    except ServiceError as exc:
        db.session.rollback()
        flash(f"未添加联系人：{exc}", "error")
    else:
        db.session.commit()
        if again:
            idempotency.flash_already_saved()
        else:
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
