"""联系户: who links which households and units, the sizing rule, the leader's overview.

One 联系网格员 per household (an account; a partial unique index keeps it one): changing
the worker rewrites the row and its ``since`` date; the flush hook audits both. Besides
that worker a household or a unit may have any number of other contacts — 住村干部,
党员, 村民代表 — each an account or a person registered in the village's ledger.
"""
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from ..accounts.models import User, user_grid
from ..accounts.permissions import roles_with
from ..core.db import starts_with
from ..core.forms import ServiceError
from ..core.timeutil import local_today
from ..extensions import db
from ..grids.models import Grid, GridStaff
from ..grids.scope import can_see_grid, grid_clause, subtree_ids
from ..grids.service import village_of
from .models import LINK_ROLES, PARTY_MEMBER, CategoryTag, ContactLink, Household, Resident
from .service import households_query

# 篇二: a level-3 (house-cluster, 屋场) grid worker links 20–30 households.
LINK_MIN = 20
LINK_MAX = 30
LINK_RULE = f"篇二：三级网格（屋场）网格员每人联系 {LINK_MIN}–{LINK_MAX} 户；少于 {LINK_MIN} 户或多于 {LINK_MAX} 户的标出。"
# Accounts that can link households (the permissions table).
CONTACT_ROLES = roles_with("link_households")


# Who may link a household

def may_link(user, grid):
    """An active worker or leader whose scope covers the grid."""
    return user is not None and user.role in CONTACT_ROLES and not user.is_disabled and can_see_grid(user, grid)


def candidates(grid):
    """Active workers and leaders whose bound grids cover ``grid`` (the choices on a household's page)."""
    bound = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(grid.ancestor_ids()))
    return db.session.scalars(select(User).where(User.id.in_(bound), User.role.in_(CONTACT_ROLES),
                                                 User.is_disabled.is_(False))
                              .order_by(User.full_name, User.id)).all()


# Assigning

def assign(household, user, today=None):
    """Make ``user`` the household's contact worker (new link, or a change from someone else)."""
    if household.status != "active":
        raise ServiceError(f"“{household.address}”已注销，不能安排联系人。")
    if user is None:
        raise ServiceError("请选择联系网格员。", "user_id")
    if not may_link(user, household.grid):
        if user.role not in CONTACT_ROLES or user.is_disabled:
            raise ServiceError(f"{user.full_name} 不是在岗的网格员或网格长，不能联系户。", "user_id")
        raise ServiceError(f"{user.full_name} 负责的网格不包括“{household.grid.name}”，不能联系“{household.address}”。",
                           "user_id")
    today = today or local_today()
    link = household.contact
    other = next((c for c in household.contact_links if c.user_id == user.id and c.role != "grid_worker"), None)
    if other is not None:
        raise ServiceError(f"{user.full_name} 已是本户的{other.role_name}；如改作联系网格员，请先移除原来的联系方式。",
                           "user_id")
    if link is None:
        link = ContactLink(household=household, user=user, since=today, role="grid_worker")
        db.session.add(link)
    elif link.user_id == user.id:
        raise ServiceError(f"{user.full_name} 已是本户的联系人。", "user_id")
    else:
        link.user = user
        link.since = today
    try:
        db.session.flush()
    except IntegrityError:
        # Someone else linked the household in the meantime (PostgreSQL; SQLite serialises writers).
        raise ServiceError(f"“{household.address}”刚被其他人安排了联系人，请刷新页面后重试。", "user_id") from None
    return link


# The other contacts (住村干部, 党员, 村民代表 …)

OTHER_ROLES = {k: v for k, v in LINK_ROLES.items() if k != "grid_worker"}
# Accounts that may be a household's or unit's other contact (an auditor links nobody).
OTHER_ACCOUNT_ROLES = ("worker", "leader", "village_admin", "township")


def account_choices(grid):
    """Active accounts (not auditors) whose bound grids cover ``grid``: who may be an other contact."""
    bound = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(grid.ancestor_ids()))
    return db.session.scalars(select(User).where(User.id.in_(bound), User.role.in_(OTHER_ACCOUNT_ROLES),
                                                 User.is_disabled.is_(False))
                              .order_by(User.full_name, User.id)).all()


PEOPLE_SHOWN = 20  # a search shows at most this many people; a longer name narrows it


def find_people(user, grid, text, limit=PEOPLE_SHOWN):
    """People registered (在册) in the village of ``grid`` and in the user's grids whose name contains
    ``text`` or whose pinyin initials start with it: (party members first, then by name; more?)."""
    text = (text or "").strip()[:20]
    if not text:
        return [], False
    village = village_of(grid)
    initials = text.lower()
    match = Resident.name.contains(text, autoescape=True)
    if initials.isascii() and initials.isalpha():
        match = or_(match, starts_with(Resident.name_initials, initials), starts_with(Resident.name_initials_alt, initials))
    rows = db.session.scalars(select(Resident).join(Grid, Grid.id == Resident.grid_id)
                              .where(starts_with(Grid.path, village.path), grid_clause(user), Resident.status == "active",
                                     match)
                              .options(joinedload(Resident.household))
                              .order_by(Resident.political_status.notin_(sorted(PARTY_MEMBER)), Resident.name, Resident.id)
                              .limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def person_in_reach(user, grid, resident_id):
    """The registered person ``resident_id`` when find_people could offer them to ``user``, else None."""
    if not resident_id:
        return None
    village = village_of(grid)
    return db.session.scalar(select(Resident).join(Grid, Grid.id == Resident.grid_id)
                             .where(Resident.id == resident_id, starts_with(Grid.path, village.path), grid_clause(user),
                                    Resident.status == "active"))


def person_label(resident):
    """How a registered person is offered in a list: name (address, party membership)."""
    party = "，" + resident.political_status if resident.is_party_member else ""
    return f"{resident.name}（{resident.household.address}{party}）"


def add_contact(target, role, *, user=None, resident=None, today=None):
    """Another contact for a household or a unit (``target``): an account or a registered person."""
    if getattr(target, "status", "active") != "active":
        raise ServiceError("已注销，不能再安排联系人。")
    if role not in OTHER_ROLES:
        raise ServiceError("请选择联系身份（住村干部、党员、村民代表等）。", "role")
    if (user is None) == (resident is None):
        raise ServiceError("请选择一名有账号的人员，或一名村里登记在册的人员（二选一）。", "user_id")
    grid = target.grid
    if user is not None and user.id not in {u.id for u in account_choices(grid)}:
        raise ServiceError(f"{user.full_name} 负责的网格不包括“{grid.name}”，或账号已停用。", "user_id")
    if resident is not None:
        village = village_of(grid)
        if resident.status != "active" or not resident.household.grid.path.startswith(village.path):
            raise ServiceError(f"{resident.name} 不是{village.name}在册的人员。", "resident_id")
    for c in target.contact_links:
        if (user is not None and c.user_id == user.id) or (resident is not None and c.resident_id == resident.id):
            raise ServiceError(f"{c.person_name} 已是联系人（{c.role_name}）。", "user_id" if user else "resident_id")
    link = ContactLink(role=role, user=user, resident=resident, since=today or local_today())
    if isinstance(target, Household):
        link.household = target
    else:
        link.unit = target
    db.session.add(link)
    try:
        db.session.flush()
    except IntegrityError:
        raise ServiceError("这位联系人刚被其他人安排过，请刷新页面后查看。") from None
    return link


def remove_contact(link):
    """Take a contact off a household or unit (the audit log keeps who it was)."""
    db.session.delete(link)
    db.session.flush()


def unassign(household):
    """Take the contact worker off a household (e.g. the worker left)."""
    if household.contact is None:
        raise ServiceError("本户还没有联系人。", "user_id")
    db.session.delete(household.contact)
    db.session.flush()


def bulk_assign(actor, grid, household_ids, user, today=None):
    """Give households in ``grid``'s subtree that nobody links to one worker; all or nothing."""
    ids = sorted(set(household_ids or ()))
    if not ids:
        raise ServiceError("请勾选要安排的户。", "household_ids")
    if user is None:
        raise ServiceError("请选择联系网格员。", "user_id")
    rows = db.session.scalars(households_query(actor).options(joinedload(Household.contact))
                              .where(Household.id.in_(ids), Household.grid_id.in_(subtree_ids(grid)))).unique().all()
    if len(rows) != len(ids):
        raise ServiceError(f"勾选的户中有 {len(ids) - len(rows)} 户不在“{grid.name}”范围内，请刷新页面后重试。",
                           "household_ids")
    taken = [h for h in rows if h.contact is not None]
    if taken:
        names = "、".join(f"{h.address}（{h.contact.user.full_name}）" for h in taken[:5])
        more = f"等 {len(taken)} 户" if len(taken) > 5 else ""
        raise ServiceError(f"{names}{more}已有联系人，请刷新页面后重试。", "household_ids")
    for h in rows:
        assign(h, user, today)
    return len(rows)


# The worker's own list

def my_households_query(user):
    """Active households the user links, within the user's scope, by grid and address."""
    return (households_query(user)
            .join(ContactLink, ContactLink.household_id == Household.id)
            .where(ContactLink.user_id == user.id, Household.status == "active")
            .options(joinedload(Household.head), joinedload(Household.grid),
                     selectinload(Household.tags).joinedload(CategoryTag.category))
            .order_by(Household.grid_id, Household.address, Household.id))


def my_count(user):
    return db.session.scalar(select(func.count()).select_from(
        households_query(user).join(ContactLink, ContactLink.household_id == Household.id)
        .where(ContactLink.user_id == user.id, Household.status == "active").subquery()))


# The leader's view

@dataclass
class WorkerLoad:
    user: User
    total: int   # active households linked anywhere
    here: int    # of which in this grid's subtree

    @property
    def flag(self):
        if self.total < LINK_MIN:
            return f"少于 {LINK_MIN} 户"
        if self.total > LINK_MAX:
            return f"多于 {LINK_MAX} 户"
        return None


def workers_of(grid):
    """Workers serving in the grid's subtree, with how many households each links.

    Serving: holds the 网格员 post in a grid of the subtree, or is a worker account
    bound to one, or links a household there (shown so a leader sees who to replace).
    """
    subtree = subtree_ids(grid)
    posted = select(GridStaff.user_id).where(GridStaff.grid_id.in_(subtree), GridStaff.role == "worker",
                                             GridStaff.user_id.is_not(None))
    bound = select(user_grid.c.user_id).where(user_grid.c.grid_id.in_(subtree))
    linking = (select(ContactLink.user_id).join(Household, Household.id == ContactLink.household_id)
               .where(Household.grid_id.in_(subtree), Household.status == "active"))
    users = db.session.scalars(select(User).where(or_(
        User.id.in_(posted), User.id.in_(linking),
        User.id.in_(bound) & (User.role == "worker") & User.is_disabled.is_(False)))
        .order_by(User.full_name, User.id)).all()
    if not users:
        return []
    ids = [u.id for u in users]
    base = (select(ContactLink.user_id, func.count(ContactLink.id))
            .join(Household, Household.id == ContactLink.household_id)
            .where(ContactLink.user_id.in_(ids), Household.status == "active").group_by(ContactLink.user_id))
    total = dict(db.session.execute(base).all())
    here = dict(db.session.execute(base.where(Household.grid_id.in_(subtree))).all())
    return [WorkerLoad(u, total.get(u.id, 0), here.get(u.id, 0)) for u in users]


def unlinked_query(actor, grid):
    """Active households in the grid's subtree without a 联系网格员, by grid and address."""
    linked = select(ContactLink.household_id).where(ContactLink.role == "grid_worker",
                                                    ContactLink.household_id.is_not(None))
    return (households_query(actor).options(joinedload(Household.head), joinedload(Household.grid))
            .where(Household.grid_id.in_(subtree_ids(grid)), Household.status == "active", Household.id.not_in(linked))
            .order_by(Household.grid_id, Household.address, Household.id))


def bulk_candidates(grid, loads):
    """Choices for the bulk form: who covers the whole grid, then the workers serving inside it."""
    seen = {}
    for u in candidates(grid) + [w.user for w in loads]:
        if u.role in CONTACT_ROLES and not u.is_disabled:
            seen.setdefault(u.id, u)
    return list(seen.values())
