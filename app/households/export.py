"""The ledger exported to Excel: one row per person in the template's columns, ID numbers masked
unless revealing was asked for and allowed."""
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from ..core import sheets
from ..core.validators import mask_id_number, mask_ids_in_text
from ..extensions import db
from .grid_names import export_grid_labels
from .models import CategoryTag, Household
from .roster_template import COLUMNS, HEADER_FILL, HEADER_FONT, SHEET

CHUNK = 500


def export_households(ids):
    """The households of these ids, in this order, with residents, tags and grids loaded for export
    (one query per relation)."""
    ids = list(ids)
    out = []
    for i in range(0, len(ids), CHUNK):
        q = (select(Household).options(selectinload(Household.residents), joinedload(Household.grid),
                                       selectinload(Household.tags).joinedload(CategoryTag.category))
             .where(Household.id.in_(ids[i:i + CHUNK])))
        out.extend(db.session.scalars(q).unique())
    order = {hid: n for n, hid in enumerate(ids)}
    return sorted(out, key=lambda h: order[h.id])


def members(household, resident_status="active"):
    """The people of a household an export lists: the head first, then in order of registration."""
    out = [r for r in household.residents if resident_status is None or r.status == resident_status]
    out.sort(key=lambda r: (r.id != household.head_id, r.id))
    return out


def export_workbook(households, reveal, resident_status="active"):
    """An .xlsx of the households and their residents, one row per person, in the template's columns.

    ID numbers are masked unless ``reveal``; the ID columns are text. ``resident_status``
    limits the people (None: everyone).
    """
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET)
    for i, (_, _, width) in enumerate(COLUMNS, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "A2"
    header = []
    for _, text, _ in COLUMNS:
        c = WriteOnlyCell(ws, value=text)
        c.font = HEADER_FONT
        c.fill = HEADER_FILL
        header.append(c)
    ws.append(header)
    labels = export_grid_labels({h.grid for h in households})
    show = (lambda n: n or "") if reveal else mask_id_number

    def text_cell(value):
        return sheets.text_cell(ws, value, "@")

    for h in households:
        head_number = h.head.id_number if h.head is not None else ""
        cats = "、".join(t.category.name for t in h.tags if t.active)
        for r in members(h, resident_status):
            flags = "、".join(r.flag_list)
            # Typed text (an address, a name) is masked like on the screen; only the ID columns follow ``reveal``.
            sheets.append(ws, [mask_ids_in_text(labels.get(h.grid_id, h.grid.name)), mask_ids_in_text(h.address),
                       text_cell(show(head_number)), mask_ids_in_text(r.name), text_cell(show(r.id_number)),
                       r.relation, text_cell(r.phone), r.political_status, flags, mask_ids_in_text(cats)])
    return wb
