"""Ledger screens: search and list, a household's page, members, categories, history."""

from flask import Blueprint, abort, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..accounts.permissions import require
from ..core import audit, panels
from ..core.forms import ServiceError, run_action, run_form
from ..core.pagination import paginate
from ..grids.scope import get_grid_or_404, grid_clause, subtree_ids
from ..core.web import render
from ..extensions import db
from ..grids.models import Grid
from . import service
from .search import search
from .forms import (ArchiveForm, CategoryForm, EndTagForm, HeadForm, HouseholdForm, NewHouseholdForm, ResidentForm,
                    SplitForm, StatusForm, TagForm)
from .models import CategoryTag, Household, Resident
from ..core.timeutil import local_today
from ..grids import picker

bp = Blueprint("households", __name__)


@panels.panel("grid", "ledger")
def _grid_ledger(grid):
    """For the grid page: households and people in the grid, and in each of its children."""
    ledger, child_counts = service.counts_with_children(grid)
    return {"ledger": ledger, "ccounts": child_counts}


def leaf_grid_choices(user):
    """Lowest-level grids in scope (households live there), labelled with their village."""
    child = db.aliased(Grid)
    has_child = select(child.id).where(child.parent_id == Grid.id).exists()
    rows = db.session.scalars(select(Grid).where(grid_clause(user), ~has_child).order_by(Grid.path)).all()
    parents = {g.id: g.name for g in db.session.scalars(select(Grid).where(Grid.id.in_({r.parent_id for r in rows})))}
    return [(g.id, f"{parents.get(g.parent_id, '')} · {g.name}") for g in rows]


def ledger_filters(args=None):
    """The ledger's filters from the query string (or another mapping: the export form)."""
    args = request.args if args is None else args
    return {
        "q": (args.get("q") or "").strip(),
        "grid_id": args.get("grid_id", type=int),
        "category_id": args.get("category_id", type=int),
        "status": args.get("status") or "active",
    }


@bp.route("/households/")
def index():
    """One search box for people and households; without a query, the scoped household list."""
    filters = ledger_filters()
    # Called by the full page only; an htmx search renders just the results.
    ctx = {"filters": filters, "categories": lambda: service.categories_for(current_user),
           "grid_options": lambda: picker.filter_options(current_user, filters["grid_id"])}
    if filters["q"]:
        ctx["result"] = search(current_user, filters["q"], filters["grid_id"], filters["category_id"], filters["status"])
    else:
        q = ledger_query(current_user, filters).options(joinedload(Household.head), joinedload(Household.grid))
        ctx["page"] = paginate(q)
        ctx["sizes"] = service.member_counts([h.id for h in ctx["page"].items])
    return render("households/index.html", "households/_results.html", **ctx)


def ledger_query(user, filters):
    """The households the ledger lists for ``filters`` without a search query (the export uses it too)."""
    q = service.households_query(user)
    if filters["grid_id"]:
        g = get_grid_or_404(user, filters["grid_id"])
        q = q.where(Household.grid_id.in_(subtree_ids(g)))
    if filters["category_id"]:
        q = q.where(Household.id.in_(select(CategoryTag.household_id).where(
            CategoryTag.category_id == filters["category_id"], CategoryTag.end_date.is_(None))))
    q = q.where(Household.status == ("archived" if filters["status"] == "archived" else "active"))
    return q.order_by(Household.grid_id, Household.address, Household.id)


def _resident_data(form, prefix=""):
    get = (lambda name: getattr(form, prefix + name).data)
    return service.ResidentData(name=get("name"), id_number=get("id_number"), relation=get("relation"),
                                phone=get("phone"), political_status=get("political_status"), flags=tuple(get("flags") or ()))


@bp.route("/households/new", methods=["GET", "POST"])
@require("edit_ledger")
def new():
    """Register a household with its head."""
    form = NewHouseholdForm()
    picker.setup(form.grid_id, current_user, lambda: leaf_grid_choices(current_user), leaf_only=True)
    if request.method == "GET" and request.args.get("grid_id", type=int):
        form.grid_id.data = request.args.get("grid_id", type=int)

    def create():
        grid = get_grid_or_404(current_user, form.grid_id.data)
        head = service.ResidentData(name=form.head_name.data, id_number=form.head_id_number.data,
                                    phone=form.head_phone.data, political_status=form.head_political.data)
        try:
            return service.create_household(current_user, grid, form.address.data, head, form.phone.data, form.notes.data)
        except ServiceError as exc:
            exc.field = {"name": "head_name", "id_number": "head_id_number", "phone": "head_phone"}.get(exc.field, exc.field)
            raise

    done = run_form(form, create, "已建档。", lambda h: url_for("households.show", household_id=h.id))
    return done or render("households/form.html", form=form, title="新建户", household=None)


def _tag_form(h):
    """The 纳入类别 form with the categories usable for this household (shared ones and its village's own)."""
    cats = [c for c in service.categories_for(current_user) if c.grid_id is None or h.grid.path.startswith(
        db.session.get(Grid, c.grid_id).path)]
    form = TagForm()
    form.category_id.choices = [(0, "请选择类别")] + [(c.id, f"{c.name}（{c.group}）") for c in cats]
    return form


def _show_page(h, **ctx):
    """A household's page, with the panels other areas add to it (its visits)."""
    return render("households/show.html", h=h, today=local_today(), **ctx, **panels.context("household", h))


@bp.route("/households/<int:household_id>")
def show(household_id):
    """A household: members (ID numbers masked), categories with history, contact worker, events."""
    h = service.get_household_or_404(current_user, household_id)
    tag_form = _tag_form(h)
    return _show_page(h, tag_form=tag_form, end_form=EndTagForm())


@bp.route("/households/<int:household_id>/edit", methods=["GET", "POST"])
@require("edit_ledger")
def edit(household_id):
    """Change address, phone and notes (an address change is kept in the history)."""
    h = service.get_household_or_404(current_user, household_id)
    form = HouseholdForm(obj=h)
    form.grid_id.choices = [(h.grid_id, h.grid.name)]
    done = run_form(form, lambda: service.update_household(h, form.address.data, form.phone.data, form.notes.data),
                    "已保存。", url_for("households.show", household_id=h.id))
    return done or render("households/form.html", form=form, title=f"修改 {h.address}", household=h)


@bp.route("/households/<int:household_id>/members/new", methods=["GET", "POST"])
@require("edit_ledger")
def member_new(household_id):
    """Add a member to a household."""
    h = service.get_household_or_404(current_user, household_id)
    form = ResidentForm()
    if request.method == "GET":
        form.relation.data = "子"
    done = run_form(form, lambda: service.add_resident(h, _resident_data(form)),
                    lambda r: f"已添加成员 {r.name}。", url_for("households.show", household_id=h.id))
    return done or render("households/member_form.html", form=form, h=h, resident=None)


@bp.route("/residents/<int:resident_id>/edit", methods=["GET", "POST"])
@require("edit_ledger")
def member_edit(resident_id):
    """Edit a member; the ID number field starts masked and keeps the stored number unless retyped."""
    r = service.get_resident_or_404(current_user, resident_id)
    form = ResidentForm(obj=r)
    if request.method == "GET":
        form.id_number.data = r.masked_id
        form.flags.data = r.flag_list
    data = lambda: _resident_data(form)  # noqa: E731

    def save():
        d = data()
        if "*" in (d.id_number or ""):
            d.id_number = r.id_number  # unchanged: the form showed the masked number
        return service.update_resident(r, d)

    done = run_form(form, save, "已保存。", url_for("households.show", household_id=r.household_id))
    return done or render("households/member_form.html", form=form, h=r.household, resident=r)


@bp.route("/residents/<int:resident_id>/status", methods=["GET", "POST"])
@require("edit_ledger")
def member_status(resident_id):
    """Register moving out or death (or back on the ledger), with date and note."""
    r = service.get_resident_or_404(current_user, resident_id)
    form = StatusForm()
    if request.method == "GET":
        form.status_date.data = local_today()
    done = run_form(form, lambda: service.change_status(r, form.status.data, form.status_date.data, form.note.data),
                    "已登记。", url_for("households.show", household_id=r.household_id))
    return done or render("households/simple_form.html", form=form, h=r.household, title=f"{r.name}：迁出 / 死亡登记")


@bp.route("/residents/<int:resident_id>/reveal", methods=["POST"])
@require("reveal_id")
def reveal(resident_id):
    """Show one full ID number; every reveal is audited (who, when, whose)."""
    r = service.get_resident_or_404(current_user, resident_id)
    audit.record("reveal", "resident", r.id, f"查看 {r.name}（{r.masked_id}）的完整身份证号")
    db.session.commit()
    return render("households/_revealed.html", "households/_revealed.html", r=r)


def _active_members(h):
    """Choices of a household's members still on the ledger."""
    return [(r.id, f"{r.name}（{r.relation}）") for r in h.residents if r.status == "active"]


@bp.route("/households/<int:household_id>/head", methods=["GET", "POST"])
@require("edit_ledger")
def head(household_id):
    """Change the head of household (the old head stays a member)."""
    h = service.get_household_or_404(current_user, household_id)
    form = HeadForm()
    form.head_id.choices = _active_members(h)
    done = run_form(form, lambda: service.change_head(h, db.session.get(Resident, form.head_id.data), form.reason.data),
                    "户主已变更。", url_for("households.show", household_id=h.id))
    return done or render("households/simple_form.html", form=form, h=h, title="变更户主")


@bp.route("/households/<int:household_id>/split", methods=["GET", "POST"])
@require("edit_ledger")
def split(household_id):
    """Split members off into a new household (分户); both keep the history."""
    h = service.get_household_or_404(current_user, household_id)
    form = SplitForm()
    form.resident_ids.choices = _active_members(h)

    def do_split():
        chosen = [r for r in h.residents if r.id in (form.resident_ids.data or [])]
        chosen.sort(key=lambda r: form.resident_ids.data.index(r.id))
        return service.split_household(current_user, h, chosen, form.address.data)

    done = run_form(form, do_split, "已分户。", lambda new: url_for("households.show", household_id=new.id))
    return done or render("households/simple_form.html", form=form, h=h, title="分户")


@bp.route("/households/<int:household_id>/archive", methods=["GET", "POST"])
@require("edit_ledger")
def archive(household_id):
    """Archive (注销) a household whose members have all moved out or died."""
    h = service.get_household_or_404(current_user, household_id)
    form = ArchiveForm()
    done = run_form(form, lambda: service.archive_household(h, form.reason.data), "已注销该户，档案保留。",
                    url_for("households.show", household_id=h.id))
    return done or render("households/simple_form.html", form=form, h=h, title="注销户")


@bp.route("/households/<int:household_id>/tags", methods=["POST"])
@require("edit_ledger")
def tag_add(household_id):
    """Put the household into a category from a date, with a reason."""
    h = service.get_household_or_404(current_user, household_id)
    form = TagForm()
    allowed = {c.id: c for c in service.categories_for(current_user)}
    form.category_id.choices = [(0, "请选择类别")] + [(cid, c.name) for cid, c in allowed.items()]
    done = run_form(form, lambda: service.tag(h, allowed[form.category_id.data], form.start_date.data, form.reason.data),
                    "已纳入类别。", url_for("households.show", household_id=h.id))
    if done:
        return done
    return _show_page(h, tag_form=form, end_form=EndTagForm())


def _tag_or_404(tag_id):
    t = db.session.get(CategoryTag, tag_id)
    if t is None:
        abort(404)
    service.get_household_or_404(current_user, t.household_id)
    return t


@bp.route("/tags/<int:tag_id>/end", methods=["POST"])
@require("edit_ledger")
def tag_end(tag_id):
    """End a category membership with a date and reason (the history stays)."""
    t = _tag_or_404(tag_id)
    form = EndTagForm()
    done = run_form(form, lambda: service.end_tag(t, form.end_date.data, form.end_reason.data), "已移出该类别。",
                    url_for("households.show", household_id=t.household_id))
    if done:
        return done
    return _show_page(t.household, tag_form=_tag_form(t.household), end_form=form, end_error_tag=t.id)


@bp.route("/categories", methods=["GET", "POST"])
@require("manage_categories")
def categories():
    """The household categories: 六类户, 五必访 and the village's own."""
    form = CategoryForm()
    villages = db.session.scalars(select(Grid).join(Grid.level).where(grid_clause(current_user))
                                  .where(Grid.level.has(key="village")).order_by(Grid.path)).all()
    form.grid_id.choices = [(g.id, g.name) for g in villages]
    done = run_form(form, lambda: service.add_category(current_user, get_grid_or_404(current_user, form.grid_id.data),
                                                       form.name.data, form.is_key.data),
                    lambda c: f"已新增类别“{c.name}”。", url_for("households.categories"))
    rows = service.categories_for(current_user)
    names = {g.id: g.name for g in db.session.scalars(select(Grid).where(Grid.id.in_({c.grid_id for c in rows if c.grid_id})))}
    return done or render("households/categories.html", form=form, rows=rows, names=names,
                          may_change=lambda c: service.may_change_category(current_user, c))


@bp.route("/categories/<int:category_id>/key", methods=["POST"])
@require("manage_categories")
def category_key(category_id):
    """Mark a category as 重点户 (or not): the 重点户 visit rules follow it."""
    cat = next((c for c in service.categories_for(current_user) if c.id == category_id), None)
    if cat is None:
        abort(404)
    return run_action(lambda: service.set_category_key(current_user, cat, request.form.get("is_key") == "1"),
                      lambda _: f"“{cat.name}”{'已设为' if cat.is_key else '不再是'}重点户类别。",
                      url_for("households.categories"))

