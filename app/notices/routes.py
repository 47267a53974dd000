"""Publicity screens: a grid's notice-board settings and the printed board, responsibility cards and household cards."""
from flask import Blueprint, abort, request, url_for
from flask_login import current_user

from ..accounts.permissions import can
from ..core import audit
from ..core.forms import run_form
from ..core.pdf import pdf_response, render_pdf
from ..core.public import grid_intake_url
from ..core.qr import qr_data_uri
from ..grids.scope import get_grid_or_404
from ..core.timeutil import local_today
from ..core.web import render
from . import service
from .forms import NoticeForm

bp = Blueprint("notices", __name__, url_prefix="/grids")
SIZES = {"a4": "A4", "a3": "A3"}


@bp.route("/<int:grid_id>/notice", methods=["GET", "POST"])
def settings(grid_id):
    """What the grid publishes (services, complaint phone, hours) and links to print the board and cards."""
    if request.method == "POST" and not can(current_user, "edit_notices"):
        abort(403)
    grid = get_grid_or_404(current_user, grid_id)
    own = service.notice_for(grid)
    own = own if own is not None and own.grid_id == grid.id else None
    form = NoticeForm(obj=own)
    done = run_form(form, lambda: service.save_notice(grid, form.services.data, form.complaint_phone.data,
                                                      form.office_hours.data),
                    "已保存公示内容。", url_for(".settings", grid_id=grid.id))
    return done or render("notices/settings.html", grid=grid, form=form, board=service.board(grid, grid_intake_url(grid.id, missing=None)),
                          inherited=service.notice_for(grid) if own is None else None, kinds=service.CARD_KINDS)


def _today_header(grid):
    today = local_today()
    return f"{grid.name} · {today.year}年{today.month}月"


@bp.route("/<int:grid_id>/notice-board.pdf")
def board_pdf(grid_id):
    """The notice board (公示牌) on one A4 or A3 page, with the QR code of the grid's public intake page."""
    grid = get_grid_or_404(current_user, grid_id)
    size = request.args.get("size", "a4")
    if size not in SIZES:
        abort(404)
    url = grid_intake_url(grid.id)
    pdf = render_pdf("print/notice_board.html", title=f"{grid.name}网格公示牌", header=_today_header(grid),
                     b=service.board(grid, url), qr=qr_data_uri(url), size=size, today=local_today())
    return pdf_response(pdf, f"{grid.name}公示牌（{SIZES[size]}）.pdf")


@bp.route("/<int:grid_id>/responsibility-cards.pdf")
def responsibility_cards_pdf(grid_id):
    """责任卡 of the grid's leaders, workers and contact cadres (its sub-grids included), 4 to an A4 sheet."""
    grid = get_grid_or_404(current_user, grid_id)
    cards = service.responsibility_cards(grid)
    pdf = render_pdf("print/responsibility_cards.html", title=f"{grid.name}网格责任卡", header=_today_header(grid),
                     sheets=service.sheets(cards, 4), grid=grid)
    return pdf_response(pdf, f"{grid.name}责任卡.pdf")


@bp.route("/<int:grid_id>/household-cards.pdf")
def household_cards_pdf(grid_id):
    """联系卡 or 监督卡 for every household of the grid, 8 to an A4 sheet (the print is audited)."""
    grid = get_grid_or_404(current_user, grid_id)
    kind = request.args.get("kind", "contact")
    if kind not in service.CARD_KINDS:
        abort(404)
    cards = service.household_cards(grid, grid_intake_url)
    qrs = {c.board.grid.id: qr_data_uri(c.board.intake_url) for c in cards}
    audit.record("export", "grid", grid.id, f"打印{service.CARD_KINDS[kind]} {len(cards)} 户（{grid.name}）")
    pdf = render_pdf("print/household_cards.html", title=f"{grid.name}{service.CARD_KINDS[kind]}",
                     header=_today_header(grid), sheets=service.sheets(cards), kind=kind, qrs=qrs, grid=grid)
    return pdf_response(pdf, f"{grid.name}{service.CARD_KINDS[kind]}.pdf")
