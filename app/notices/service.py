"""What goes on a grid's notice board and cards: staff, area, live counts, services, complaint phone, intake QR."""
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ..core.forms import ServiceError
from ..grids.scope import subtree_ids
from ..core.validators import InvalidValue, normalize_phone
from ..extensions import db
from ..grids.models import GRID_ROLES, Grid, GridStaff
from ..households import service as ledger
from ..households.models import ContactLink, Household
from .models import GridNotice

# What a grid offers when nobody has written its own list (篇四 "六大员", 代办事项).
DEFAULT_SERVICES = [
    "政策法规宣传、咨询",
    "民生事项代办（社保、医保、低保、证照等）",
    "矛盾纠纷调解",
    "群众诉求受理、上报和反馈",
    "安全隐患、环境问题巡查上报",
]
# The standing duties of each role, printed on responsibility cards beside the person's own 分工.
ROLE_DUTIES = {
    "leader": "组织协调本网格工作，督促网格员履职，召集网格例会，协调解决或逐级上报群众诉求。",
    "worker": "信息采集、民情走访、矛盾排查、政策宣传、隐患巡查、诉求上报，认真填写工作日志，保守群众隐私。",
    "contact_cadre": "联系指导本网格工作，参加网格例会，协调解决网格难以解决的问题。",
    "info_officer": "收集、录入、核实网格信息，及时上报民情动态。",
    "team_member": "参加组团式服务，按分工为群众提供服务。",
}
# Role order on boards and cards.
ROLE_ORDER = {role: i for i, role in enumerate(("leader", "contact_cadre", "worker", "info_officer", "team_member"))}
# How a request is handled (篇一 一口受理、篇二/篇四 逐级上报), drawn as the board's flow chart.
FLOW = [
    ("群众反映", "扫码、电话或找网格员"),
    ("网格员受理", "登记诉求，能办的当场办结"),
    ("村级协调", "需协调的交村受理中心办理"),
    ("逐级上报", "本级不能解决的上报乡镇，限时办理"),
    ("答复反馈", "件件有回音、事事有落实"),
    ("回访评价", "回访群众是否满意"),
]
CARD_KINDS = {"contact": "联系卡", "supervision": "监督卡"}
CARDS_PER_SHEET = 8


def notice_for(grid):
    """The notice settings in force at ``grid``: its own, else its nearest ancestor's, else None."""
    rows = db.session.scalars(select(GridNotice).join(Grid, Grid.id == GridNotice.grid_id)
                              .where(GridNotice.grid_id.in_(grid.ancestor_ids())).order_by(Grid.depth.desc())).all()
    return rows[0] if rows else None


def save_notice(grid, services, complaint_phone, office_hours):
    """Set the grid's own notice settings (its sub-grids inherit them unless they set their own)."""
    try:
        phone = normalize_phone(complaint_phone)
    except InvalidValue as exc:
        raise ServiceError(str(exc), "complaint_phone") from None
    lines = [line.strip() for line in (services or "").splitlines() if line.strip()]
    notice = db.session.scalar(select(GridNotice).where(GridNotice.grid_id == grid.id))
    if notice is None:
        notice = GridNotice(grid=grid)
        db.session.add(notice)
    notice.services = "\n".join(lines)
    notice.complaint_phone = phone
    notice.office_hours = (office_hours or "").strip()
    db.session.flush()
    return notice


def _sorted_staff(rows):
    return sorted(rows, key=lambda s: (ROLE_ORDER.get(s.role, 99), s.id))


def staff_of(grid):
    return _sorted_staff(db.session.scalars(select(GridStaff).where(GridStaff.grid_id == grid.id)
                                            .options(selectinload(GridStaff.user))).all())


@dataclass
class Board:
    """Everything a notice board (and a card) prints about one grid."""

    grid: Grid
    staff: list
    counts: dict
    services: list
    complaint_phone: str
    office_hours: str
    intake_url: str
    flow: list = field(default_factory=lambda: FLOW)

    def first(self, role):
        return next((s for s in self.staff if s.role == role), None)


def board(grid, intake_url):
    """The notice board of a grid, with its live counts."""
    notice = notice_for(grid)
    counts, _ = ledger.counts_with_children(grid)
    services = notice.services.splitlines() if notice and notice.services else DEFAULT_SERVICES
    return Board(grid=grid, staff=staff_of(grid), counts=counts, services=services,
                 complaint_phone=notice.complaint_phone if notice else "",
                 office_hours=notice.office_hours if notice else "", intake_url=intake_url)


@dataclass
class Card:
    """A responsibility card: one person in one grid."""

    staff: GridStaff
    grid: Grid
    duties: str


def responsibility_cards(grid):
    """责任卡 for the leaders and workers (and contact cadres) of a grid and its sub-grids."""
    rows = db.session.scalars(
        select(GridStaff).join(Grid, Grid.id == GridStaff.grid_id)
        .where(GridStaff.grid_id.in_(subtree_ids(grid)), GridStaff.role.in_(("leader", "worker", "contact_cadre")))
        .options(selectinload(GridStaff.user), selectinload(GridStaff.grid))
        .order_by(Grid.path, GridStaff.role, GridStaff.id)).all()
    return [Card(s, s.grid, "；".join(filter(None, [s.duty, ROLE_DUTIES.get(s.role, "")]))) for s in rows]


@dataclass
class HouseholdCard:
    household: Household
    worker_name: str
    worker_phone: str
    board: Board


def household_cards(grid, intake_url_for):
    """One card per active household of the grid's subtree, with its linked worker and its own grid's staff.

    ``intake_url_for(grid_id)`` gives each household's grid its intake address.
    Only names, addresses and phones are printed, never ID numbers.
    """
    households = db.session.scalars(
        select(Household).where(Household.grid_id.in_(subtree_ids(grid)), Household.status == "active")
        .options(selectinload(Household.head), selectinload(Household.grid))
        .order_by(Household.grid_id, Household.address, Household.id)).all()
    links = {}
    if households:
        for link in db.session.scalars(select(ContactLink).where(ContactLink.household_id.in_([h.id for h in households]))
                                       .options(selectinload(ContactLink.user))):
            links[link.household_id] = link.user
    boards = {}
    cards = []
    for h in households:
        if h.grid_id not in boards:
            boards[h.grid_id] = board(h.grid, intake_url_for(h.grid_id))
        b = boards[h.grid_id]
        worker = links.get(h.id)
        staff = b.first("worker") or b.first("leader")
        name = worker.full_name if worker else (staff.display_name if staff else "")
        phone = (worker.phone if worker else (staff.display_phone if staff else "")) or ""
        cards.append(HouseholdCard(h, name, phone, b))
    return cards


def sheets(items, per_sheet=CARDS_PER_SHEET):
    """Items in groups of one printed sheet."""
    return [items[i:i + per_sheet] for i in range(0, len(items), per_sheet)]


def role_name(role):
    return GRID_ROLES.get(role, role)
