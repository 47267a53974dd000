"""A roster import between its pages (and for the CLI): which village it is for, what the clerk
decided on the preview, and the village's remembered mapping (core/imports.py keeps both)."""
from sqlalchemy import select

from ..core.forms import ServiceError
from ..core.imports import ImportMapping, mappings_for, remember_mapping
from ..grids.scope import can_see_grid
from ..core.sheets import header_key
from ..extensions import db
from ..grids.villages import default_village, find_village, visible_village
from .roster_import import FIELD_BY_KEY, ImportOptions

KIND = "households"


def _remembered(village, name=None):
    """The village's named mapping, or the one used last."""
    if village is None:
        return None
    found = mappings_for([village.id], KIND)
    if name:
        return next((m for m in found if m.name == name), None)
    return found[0] if found else None


def options_for(upload, user):
    """ImportOptions of a pending upload: its village, the clerk's decisions, the village's remembered mapping."""
    village = visible_village(user, upload.village_id)
    decided = upload.decided
    mapping = _remembered(village, decided.get("mapping_name"))
    groups = dict(mapping.group_map) if mapping else {}
    groups.update(decided.get("groups", {}))
    columns = {int(k): v for k, v in decided.get("columns", {}).items()}
    return ImportOptions(village=village, columns=columns, remembered=mapping.column_map if mapping else {},
                         groups=groups)


def cli_options(user, village_text, mapping_name, create_groups):
    """ImportOptions of the CLI's --village, --mapping and --create-groups."""
    village = find_village(user, village_text) if village_text else default_village(user)
    mapping = None
    if mapping_name:
        where = [ImportMapping.kind == KIND, ImportMapping.name == mapping_name]
        if village is not None:
            where.append(ImportMapping.grid_id == village.id)
        found = [m for m in db.session.scalars(select(ImportMapping).where(*where)) if can_see_grid(user, m.grid)]
        if not found:
            raise ServiceError(f"找不到名为“{mapping_name}”的列对应（--mapping），或它不在您的管理范围内。")
        if len(found) > 1:
            raise ServiceError(f"有 {len(found)} 个村都有名为“{mapping_name}”的列对应，请加 --village 指定村。")
        mapping = found[0]
        village = village or mapping.grid
    elif village is not None:
        mapping = _remembered(village)
    if create_groups and village is None:
        raise ServiceError("--create-groups 需要用 --village 指定村。")
    return ImportOptions(village=village, remembered=mapping.column_map if mapping else {},
                         groups=mapping.group_map if mapping else {}, create_groups=create_groups)


def remember(plan, name):
    """Keep the mapping that read this file for the village (headers -> fields; groups mapped to grids)."""
    village = plan.village
    if village is None or plan.table is None:
        return None
    columns = {header_key(c.title): plan.mapping.by_column.get(c.index, "") for c in plan.table.columns}
    old = _remembered(village, name)
    groups = dict(old.group_map) if old else {}
    return remember_mapping(village, KIND, name, columns, groups)


def remember_groups(village, name, decided):
    """Add the clerk's group answers that name existing grids to the village's mapping."""
    if village is None:
        return
    old = _remembered(village, name)
    groups = dict(old.group_map) if old else {}
    groups.update({k: v for k, v in decided.items() if isinstance(v, int)})
    remember_mapping(village, KIND, name, old.column_map if old else {}, groups)


def field_choices():
    return [("", "不导入")] + [(f.key, f.label) for f in FIELD_BY_KEY.values()]


def counts_text(counts):
    """The audit log's words for an import's counts."""
    text = (f"新建 {counts['households_created']} 户，新增 {counts['created']} 人，更新 {counts['updated']} 人，"
            f"{counts['unchanged']} 人无变化")
    if counts.get("groups_created"):
        text += f"，新建村民小组 {counts['groups_created']} 个"
    return text
