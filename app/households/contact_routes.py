"""联系户 screens: the worker's own households, assigning a household's worker, the leader's view per grid."""
from flask import Blueprint, request, url_for
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
from .service import get_household_or_404

bp = Blueprint("contacts", __name__)


class ContactForm(Form):
    user_id = SelectField("联系网格员", coerce=int, validate_choice=False)


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
