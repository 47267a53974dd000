"""Unit rules: the credit code check, saving and closing units, scoped lists, key supervision."""
import unicodedata
from dataclasses import dataclass

from sqlalchemy import case, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload
from stdnum import exceptions as stdnum_errors
from stdnum.cn import uscc

from ..core.forms import ServiceError
from ..grids.scope import can_see_grid, get_scoped_or_404, grid_clause, subtree_ids, visible_grid_ids
from ..core.validators import InvalidValue, normalize_phone
from ..extensions import db
from ..grids.models import Grid
from .models import RISK_GRADES, UNIT_KINDS, Unit

# Characters allowed in positions 9–18 (GB 32100-2015: digits and capitals without I, O, Z, S, V).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
# A 个体工商户 registered before 2016 may have no credit code at all.
KINDS_WITHOUT_CODE = {"个体工商户"}
UNIT_STATUS = {"active": "在营", "closed": "已关停"}
# Highest risk first in lists.
RISK_ORDER = case({g: i for i, g in enumerate(RISK_GRADES)}, value=Unit.risk_grade, else_=-1)


# The credit code

def normalize_credit_code(value):
    """Full-width characters, lower case, spaces and hyphens are normalised away."""
    text = unicodedata.normalize("NFKC", str(value or ""))
    return "".join(text.split()).replace("-", "").upper()


def parse_credit_code(value):
    """A valid 18-character 统一社会信用代码, or InvalidValue saying what is wrong.

    python-stdnum's uscc.validate decides; its three refusals (length,
    characters, check digit) become Chinese messages naming the problem.
    """
    code = normalize_credit_code(value)
    if not code:
        raise InvalidValue("统一社会信用代码为空。")
    try:
        return uscc.validate(code)
    except stdnum_errors.InvalidLength:
        raise InvalidValue(f"统一社会信用代码应为 18 位，这里是 {len(code)} 位。") from None
    except stdnum_errors.InvalidFormat:
        head = "".join(sorted({c for c in code[:8] if c not in "0123456789"}))
        if head:
            raise InvalidValue(f"统一社会信用代码前 8 位（登记管理部门、机构类别和行政区划码）只能是数字，"
                               f"这里有“{head}”。") from None
        tail = "".join(sorted({c for c in code[8:] if c not in USCC_ALPHABET}))
        raise InvalidValue(f"统一社会信用代码第 9–18 位只能是数字或大写字母（不用 I、O、Z、S、V），"
                           f"这里有“{tail}”。") from None
    except stdnum_errors.InvalidChecksum:
        expected = uscc.calc_check_digit(code[:17])
        raise InvalidValue(f"统一社会信用代码校验位不对（按前 17 位最后一位应为 {expected}），"
                           "请核对是否有字符录错。") from None


# Saving

@dataclass
class UnitData:
    """What a form (or a spreadsheet row) says about a unit."""

    name: str
    kind: str
    credit_code: str = ""
    contact_name: str = ""
    contact_phone: str = ""
    industry: str = ""
    address: str = ""
    risk_grade: str = "低风险"
    key_supervision: bool = False
    notes: str = ""


def check_unit(user, grid, data, unit=None, unknown_mobile_ok=False):
    """The checks of a unit's data (``unit`` None: a new one); returns its columns or raises ServiceError
    naming the field. A credit code registered to another unit is refused."""
    if grid is None or not can_see_grid(user, grid):
        raise ServiceError("请选择您管理范围内的网格。", "grid_id")
    name = (data.name or "").strip()
    if not name:
        raise ServiceError("请填写单位名称。", "name")
    if data.kind not in UNIT_KINDS:
        raise ServiceError(f"单位类型“{data.kind}”不在可选值内（{'、'.join(UNIT_KINDS)}）。", "kind")
    if data.risk_grade not in RISK_GRADES:
        raise ServiceError(f"安全评估分级“{data.risk_grade}”不在可选值内（{'、'.join(RISK_GRADES)}）。", "risk_grade")
    code = None
    if normalize_credit_code(data.credit_code):
        try:
            code = parse_credit_code(data.credit_code)
        except InvalidValue as exc:
            raise ServiceError(str(exc), "credit_code") from None
        clash = db.session.scalar(select(Unit).where(Unit.credit_code == code))
        if clash is not None and (unit is None or clash.id != unit.id):
            if can_see_grid(user, clash.grid):
                raise ServiceError(f"统一社会信用代码 {code} 已登记为“{clash.name}”（{clash.grid.name}）。", "credit_code")
            raise ServiceError(f"统一社会信用代码 {code} 已由其他网格登记，请与乡镇核实该单位归属。", "credit_code")
    elif data.kind not in KINDS_WITHOUT_CODE:
        raise ServiceError(f"请填写统一社会信用代码（只有没有代码的个体工商户可以不填，{data.kind}必须填写）。",
                           "credit_code")
    try:
        phone = normalize_phone(data.contact_phone, unknown_mobile_ok)
    except InvalidValue as exc:
        raise ServiceError(str(exc), "contact_phone") from None
    return {"grid_id": grid.id, "name": name, "kind": data.kind, "credit_code": code,
            "contact_name": (data.contact_name or "").strip(), "contact_phone": phone,
            "industry": (data.industry or "").strip(), "address": (data.address or "").strip(),
            "risk_grade": data.risk_grade, "key_supervision": bool(data.key_supervision), "notes": data.notes or ""}


def save_unit(user, grid, data, unit=None, unknown_mobile_ok=False):
    """Create a unit (``unit`` None) or change one; raises ServiceError naming the field."""
    fields = check_unit(user, grid, data, unit, unknown_mobile_ok)
    if unit is None:
        unit = Unit()
        db.session.add(unit)
    unit.grid = grid
    for key, value in fields.items():
        if key != "grid_id":
            setattr(unit, key, value)
    try:
        db.session.flush()
    except IntegrityError:
        # Registered by someone else in the meantime (PostgreSQL; SQLite serialises writers).
        raise ServiceError(f"统一社会信用代码 {fields['credit_code']} 刚被其他人登记，请刷新后核实。", "credit_code") from None
    return unit


def set_status(unit, status):
    """Mark a unit closed (关停、注销、搬离) or back in business; units are never deleted."""
    if status not in UNIT_STATUS:
        raise ServiceError("状态只能是“在营”或“已关停”。", "status")
    if unit.status == status:
        raise ServiceError(f"“{unit.name}”已是“{UNIT_STATUS[status]}”状态。", "status")
    unit.status = status
    return unit


# Scoping and lists

def units_query(user):
    """Units in the user's grids (every unit query starts here)."""
    q = select(Unit)
    if not user.is_admin:
        q = q.where(Unit.grid_id.in_(visible_grid_ids(user)))
    return q


def get_unit_or_404(user, unit_id):
    """A unit through the user's scope, else 404."""
    return get_scoped_or_404(user, Unit, unit_id)


def search_units(user, grid=None, kind=None, risk_grade=None, key_only=False, q="", status="active"):
    """The filtered list query (not executed), highest risk first."""
    query = units_query(user).options(joinedload(Unit.grid))
    if grid is not None:
        query = query.where(Unit.grid_id.in_(subtree_ids(grid)))
    if kind:
        query = query.where(Unit.kind == kind)
    if risk_grade:
        query = query.where(Unit.risk_grade == risk_grade)
    if key_only:
        query = query.where(Unit.key_supervision.is_(True))
    if status in UNIT_STATUS:
        query = query.where(Unit.status == status)
    q = "".join((q or "").split())
    if q:
        query = query.where(or_(Unit.name.icontains(q, autoescape=True),
                                Unit.credit_code.startswith(normalize_credit_code(q), autoescape=True)))
    return query.order_by(RISK_ORDER.desc(), Unit.name, Unit.id)


def key_units(grid):
    """重点监管单位 in business in a grid and its subtree, highest risk first."""
    return db.session.scalars(
        select(Unit).options(joinedload(Unit.grid))
        .where(Unit.grid_id.in_(subtree_ids(grid)), Unit.key_supervision.is_(True), Unit.status == "active")
        .order_by(RISK_ORDER.desc(), Unit.name, Unit.id)).all()


def key_unit_count(grid):
    return db.session.scalar(select(func.count(Unit.id)).where(
        Unit.grid_id.in_(subtree_ids(grid)), Unit.key_supervision.is_(True), Unit.status == "active"))


def grid_choices(user):
    """Grids in scope for the unit form and the filter, indented as a tree."""
    rows = db.session.execute(select(Grid.id, Grid.name, Grid.depth).where(grid_clause(user))
                              .order_by(Grid.path)).all()
    top = min((r.depth for r in rows), default=0)
    return [(r.id, "　" * (r.depth - top) + r.name) for r in rows]
