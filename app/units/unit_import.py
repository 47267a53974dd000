"""The unit register (生产经营单位台账) imported from a village's own file, all or nothing.

The same engine as the household roster (core/sheets.py): any of .xlsx/.xls/.csv, title rows,
one- or two-row headers, columns by name or mapped by the clerk. A unit is matched by its
统一社会信用代码 (a 个体工商户 without one by its name in the same grid): a re-import updates
what changed and leaves the rest; each row is checked with the rules of the unit form.
"""
from dataclasses import dataclass, field
from typing import ClassVar

from sqlalchemy import select

from ..core.db import starts_with
from ..core.forms import ServiceError
from ..grids.scope import grid_clause
from ..core.sheets import Field, ImportPlan, cell_text, map_columns, read_table
from ..core.validators import phone_warning
from ..extensions import db
from ..grids.groups import group_key
from ..grids.models import Grid
from .models import Unit
from . import service

FIELDS = [
    Field("name", "单位名称", ("企业名称", "名称", "单位", "企业", "生产经营单位", "经营单位名称", "单位全称"), required=True),
    Field("credit_code", "统一社会信用代码", ("信用代码", "社会信用代码", "统一代码", "营业执照号", "注册号", "uscc")),
    Field("kind", "单位类型", ("类型", "单位性质", "企业类型")),
    Field("address", "地址", ("经营地址", "单位地址", "生产经营地址", "住所", "详细地址")),
    Field("contact_name", "联系人", ("负责人", "法定代表人", "法人", "法人代表", "安全负责人")),
    Field("contact_phone", "联系电话", ("电话", "手机", "手机号", "联系方式", "负责人电话")),
    Field("industry", "行业", ("所属行业", "行业类别", "行业类型")),
    Field("risk_grade", "安全评估分级", ("风险等级", "风险分级", "风险级别", "安全风险等级")),
    Field("grid", "所属网格", ("网格", "所属组", "村民小组", "所属村", "组别")),
    Field("key_supervision", "重点监管", ("是否重点监管", "重点监管单位")),
    Field("notes", "备注", ()),
]
FIELD_BY_KEY = {f.key: f for f in FIELDS}
RISK = {"低": "低风险", "低风险": "低风险", "蓝": "低风险", "蓝色": "低风险", "一般": "一般风险", "一般风险": "一般风险",
        "黄": "一般风险", "黄色": "一般风险", "较大": "较大风险", "较大风险": "较大风险", "橙": "较大风险", "橙色": "较大风险",
        "重大": "重大风险", "重大风险": "重大风险", "红": "重大风险", "红色": "重大风险"}
KINDS = {"企业": "工商企业户", "公司": "工商企业户", "个体户": "个体工商户", "个体": "个体工商户", "生产经营": "生产经营单位"}
YES = {"是", "y", "yes", "√", "✓", "1", "重点", "true"}
DEFAULT_KIND = "生产经营单位"


@dataclass
class UnitRow:
    row: int
    data: service.UnitData
    grid: Grid | None
    fields: dict
    unit: Unit | None = None

    @property
    def changed(self):
        return self.unit is None or any(getattr(self.unit, k) != v for k, v in self.fields.items())


@dataclass
class UnitPlan(ImportPlan):
    """What a unit import will do, or why it cannot."""

    labels: ClassVar[dict] = {f.key: f.label for f in FIELDS}
    units: list = field(default_factory=list)
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def changes_nothing(self):
        return not self.errors and not self.created and not self.updated

    def summary(self):
        return (f"units: {self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
                f"{len(self.errors)} errors")


class _Grids:
    """The grid a unit's 所属网格 names: within the village when there is one, else in the user's scope."""

    def __init__(self, user, village):
        where = [grid_clause(user)] + ([starts_with(Grid.path, village.path)] if village is not None else [])
        self.village = village
        self.grids = db.session.scalars(select(Grid).where(*where)).all()
        self.by_name, self.by_group = {}, {}
        for g in self.grids:
            self.by_name.setdefault(g.name, []).append(g)
            self.by_group.setdefault(group_key(g.name), []).append(g)

    def resolve(self, text):
        if not text:
            return (self.village, None) if self.village is not None else (None, "所属网格为空。")
        found = self.by_name.get(text) or self.by_group.get(group_key(text), [])
        if len(found) == 1:
            return found[0], None
        if found:
            return None, f"有 {len(found)} 个网格叫“{text}”，请写得更具体。"
        return None, f"找不到网格“{text}”，或它不在您的管理范围内。"


def read_units(data, user, village=None, columns=None, remembered=None, filename="单位台账.xlsx"):
    """Read and check a unit register; returns a UnitPlan (nothing is written)."""
    table = read_table(data, filename, FIELDS)
    plan = UnitPlan(table=table, village=village)
    plan.mapping = mapping = map_columns(table.columns, FIELDS, columns, remembered)
    if not table.columns:
        plan.header_error("没有找到表头：前 30 行里没有一行写着“单位名称”“统一社会信用代码”这样的列名。")
        return plan
    for key, indexes in mapping.ambiguous.items():
        names = "”和“".join(next(c.title for c in table.columns if c.index == i) for i in indexes)
        plan.header_error(f"“{names}”都像是“{FIELD_BY_KEY[key].label}”，请指定用哪一列。")
    missing = [f for f in mapping.missing(FIELDS) if f.key not in mapping.ambiguous]
    if "grid" not in mapping.columns and village is None:
        missing.append(FIELD_BY_KEY["grid"])
    for f in missing:
        plan.header_error(f"表中没有“{f.label}”列。请指定哪一列是{f.label}，或在表头中补上。")
    if plan.errors:
        return plan
    grids = _Grids(user, village)
    existing = {u.credit_code: u for u in db.session.scalars(select(Unit).where(Unit.credit_code.is_not(None)))}
    seen = {}

    def cell(values, key):
        i = mapping.columns.get(key)
        return cell_text(values[i]) if i is not None and i < len(values) else ""

    for n, values in table.data_rows():
        plan.rows += 1
        kind = cell(values, "kind")
        risk = cell(values, "risk_grade")
        # Without a 类型 column: a unit without a credit code can only be a 个体工商户.
        default_kind = DEFAULT_KIND if service.normalize_credit_code(cell(values, "credit_code")) else "个体工商户"
        data_ = service.UnitData(
            name=cell(values, "name"), kind=KINDS.get(kind, kind) or default_kind,
            credit_code=cell(values, "credit_code"), contact_name=cell(values, "contact_name"),
            contact_phone=cell(values, "contact_phone"), industry=cell(values, "industry"),
            address=cell(values, "address"), risk_grade=RISK.get(risk, risk) or "低风险",
            key_supervision=cell(values, "key_supervision").lower() in YES, notes=cell(values, "notes"))
        grid, problem = grids.resolve(cell(values, "grid"))
        if problem:
            plan.error(n, "grid", problem)
            continue
        code = service.normalize_credit_code(data_.credit_code)
        key = code or (grid.id, data_.name)
        if key in seen:
            plan.error(n, "credit_code" if code else "name", f"与第 {seen[key]} 行是同一个单位，请删除重复的这一行。")
            continue
        seen[key] = n
        unit = existing.get(code) if code else db.session.scalar(
            select(Unit).where(Unit.grid_id == grid.id, Unit.name == data_.name, Unit.credit_code.is_(None)))
        if unit is not None and unit.grid_id != grid.id and not any(g.id == unit.grid_id for g in grids.grids):
            plan.error(n, "credit_code", f"统一社会信用代码 {code} 已由其他网格登记，请与乡镇核实该单位归属。")
            continue
        try:
            fields = service.check_unit(user, grid, data_, unit, unknown_mobile_ok=True)
        except ServiceError as exc:
            plan.error(n, exc.field if exc.field in FIELD_BY_KEY else {"grid_id": "grid"}.get(exc.field, "name"), str(exc))
            continue
        warning = phone_warning(data_.contact_phone) if data_.contact_phone else None
        if warning:
            plan.warn(n, "contact_phone", warning)
        plan.warn_formulas(n, values)
        item = UnitRow(n, data_, grid, fields, unit)
        plan.units.append(item)
        if unit is None:
            plan.created += 1
        elif item.changed:
            plan.updated += 1
        else:
            plan.unchanged += 1
    plan.errors.sort(key=lambda e: e[0])
    return plan


def apply_units(plan, user):
    """Write a checked plan (the caller commits; on ServiceError it rolls back and nothing is kept)."""
    if plan.errors:
        raise ServiceError(f"台账有 {len(plan.errors)} 处错误，没有导入。")
    for item in plan.units:
        if item.changed:
            try:
                service.save_unit(user, item.grid, item.data, item.unit, unknown_mobile_ok=True)
            except ServiceError as exc:
                raise ServiceError(f"第 {item.row} 行（{item.data.name}）无法导入：{exc}") from None
    return {"created": plan.created, "updated": plan.updated, "unchanged": plan.unchanged}
