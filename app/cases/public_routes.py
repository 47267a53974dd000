"""The two pages residents reach without an account: a grid's intake from its notice board's
QR code (/q/<code>) and the progress of a receipt code. Neither shows anything personal."""
from flask import Blueprint, abort, current_app, redirect, request, session, url_for
from sqlalchemy.orm import Session

from ..core import idempotency, panels, uploads
from ..core.db import separate_write
from ..core.forms import ServiceError, show_error
from ..core.pdf import pdf_response, render_pdf
from ..core.public import grid_id_from_code, public_url
from ..core.qr import qr_data_uri
from ..core.ratelimit import rate_hit
from ..core.web import public, render
from ..extensions import db
from . import service
from .forms import PublicReportForm, ReceiptForm

bp = Blueprint("public_cases", __name__)


def _client_key():
    """The address a request came from (behind a proxy, configure ProxyFix so this is the resident's)."""
    return (request.remote_addr or "unknown")[:64]


def _limit(name, key, default):
    """Count this request; False when the key exceeded its hourly allowance."""
    limit = int(current_app.config.get(name, default))
    ok = rate_hit(key, limit)
    db.session.commit()  # the count stands whatever happens to the form
    return ok


@bp.route("/q/<code>", methods=["GET", "POST"])
@public
def intake(code):
    """A resident reports a problem to the grid whose notice board they scanned."""
    grid = service.grid_for_public_intake(grid_id_from_code(code))
    if grid is None:
        abort(404)
    form = PublicReportForm()
    if request.method == "POST":
        earlier = _earlier(form.form_key.data)
        if earlier is not None:  # sent again after the answer was lost: the same receipt, no second case
            return _receipt_page(code, earlier)
        if not (_limit("PUBLIC_INTAKE_PER_ADDRESS_HOUR", f"intake:ip:{_client_key()}", 5)
                and _limit("PUBLIC_INTAKE_PER_GRID_HOUR", f"intake:grid:{grid.id}", 30)):
            form.form_errors.append("提交太频繁，请稍后再试；紧急情况请直接拨打网格员电话。")
            return render("cases/public/intake.html", form=form, grid=grid, **panels.context("public_intake", grid),
                          status=429)
        # Counted (and committed) first: only now are the photos decoded, outside any transaction.
        uploads.prepare_request_images()
        if form.validate_on_submit():
            try:
                case = idempotency.claim(form.form_key.data, None, request.endpoint)
                if case is None:
                    case = service.public_report(grid, form.what.data, form.where.data, form.reporter_phone.data,
                                                 request.files.getlist(form.photos.name))
                    idempotency.made(form.form_key.data, case)
            except ServiceError as exc:
                db.session.rollback()
                show_error(form, exc)
            else:
                db.session.commit()
                return _receipt_page(code, case)
    return render("cases/public/intake.html", form=form, grid=grid, **panels.context("public_intake", grid),
                  recent=_recent_receipts())


# How many receipt codes this browser remembers (in its signed session cookie) for the resident.
RECENT_RECEIPTS = 5


def _recent_receipts():
    """The receipt codes this browser was given, newest first."""
    return [service.format_receipt(c) for c in session.get("receipts", [])]


def _receipt_page(code, case):
    """Remember the receipt in this browser and show it at an address a reload asks again (Post/Redirect/Get)."""
    receipt = case.receipt_code
    session["receipts"] = ([receipt] + [c for c in session.get("receipts", []) if c != receipt])[:RECENT_RECEIPTS]
    session.permanent = True
    return redirect(url_for("public_cases.receipt", code=code, receipt=service.format_receipt(receipt)), 303)


@bp.route("/q/<code>/done")
@public
def receipt(code):
    """The receipt code of a report just made, again after every reload, with its printable slip."""
    grid = service.grid_for_public_intake(grid_id_from_code(code))
    if grid is None:
        abort(404)
    wanted = service.normalize_receipt(request.args.get("receipt"))
    # Only a code this browser was given: the page cannot be used to test guessed codes.
    if not wanted or wanted not in session.get("receipts", []):
        return redirect(url_for("public_cases.intake", code=code))
    return render("cases/public/receipt.html", grid=grid, receipt=service.format_receipt(wanted))


@bp.route("/q/r/slip")
@public
def slip():
    """A receipt slip (PDF) to print or keep: the code, where it went, when, and the QR of the status page."""
    code = service.normalize_receipt(request.args.get("receipt"))
    if not code:
        return redirect(url_for("public_cases.progress"))
    if not _limit_lookup():
        abort(429)
    data = service.public_receipt(code)
    if data is None:
        abort(404)
    progress_url = public_url(url_for("public_cases.progress", receipt=data["receipt"]), None)
    pdf = render_pdf("cases/print/receipt_slip.html", title="回执单", header="回执单", slip=data,
                     progress_url=progress_url, qr=qr_data_uri(progress_url) if progress_url else None)
    return pdf_response(pdf, f"回执单-{data['receipt']}.pdf")


def _earlier(key):
    try:
        return idempotency.earlier(key, None)
    except ServiceError:
        return None


@bp.route("/q/r")
@public
def progress():
    """The progress of a receipt code: steps and dates only, no names, phones or notes."""
    form = ReceiptForm(request.args)
    result, status = None, 200
    if request.args.get("receipt"):
        if not _limit_lookup():
            form.receipt.errors = ["查询太频繁，请稍后再试。"]
            status = 429
        elif form.validate():
            result = service.public_progress(form.receipt.data)
            if result is None:
                form.receipt.errors = ["没有找到这个回执码，请核对后重新输入（不区分大小写）。"]
    return render("cases/public/progress.html", form=form, result=result, status=status, recent=_recent_receipts())


def _limit_lookup():
    """Guessing receipt codes is slowed down per address (a GET: the count is written on its own connection)."""
    limit = int(current_app.config.get("PUBLIC_LOOKUP_PER_ADDRESS_HOUR", 60))
    with separate_write() as conn, Session(bind=conn) as session:
        ok = rate_hit(f"lookup:ip:{_client_key()}", limit, session=session)
        session.flush()
    return ok
