"""Agreement screens: a grid's agreements, drafting and editing, issuing, versions, signing, scans, the PDF,
and the public verification page a printed QR code opens."""
import io

from flask import Blueprint, flash, redirect, request, send_file, url_for
from flask_login import current_user

from ..accounts.permissions import can, require
from ..core import audit
from ..core.forms import run_action, run_form
from ..core.pagination import paginate
from ..core.pdf import pdf_response, render_pdf
from ..core.public import public_url
from ..core.qr import qr_data_uri
from ..grids.scope import chosen_grid_or_404, top_grids
from ..core.timeutil import local_today, utcnow
from ..core.web import public, render
from . import service
from .forms import ActionForm, AgreementForm, DraftForm, ScanForm, SignatureForm, WordingForm
from .models import AGREEMENT_KINDS, PARTIES, SECTIONS, STATUS_NAMES

bp = Blueprint("agreements", __name__)


def _chosen_grid():
    return chosen_grid_or_404(current_user, request.args.get("grid_id", type=int))


def _draft_form():
    form = DraftForm()
    if request.method == "GET":
        today = local_today()
        form.period_start.data = today.replace(month=1, day=1)
        form.period_end.data = today.replace(month=12, day=31)
    return form


@bp.route("/agreements/")
def index():
    """Agreements about a grid and its sub-grids, with their state; a form to draft a new one."""
    grid = _chosen_grid()
    page = paginate(service.agreements_query(grid))
    return render("agreements/index.html", grid=grid, page=page, today=local_today(), statuses=STATUS_NAMES,
                  form=_draft_form(), tops=top_grids(current_user))


@bp.route("/agreements/new", methods=["POST"])
@require("manage_agreements")
def new():
    """Draft an agreement for a grid, generated from its area, staff, counts and tasks."""
    grid = _chosen_grid()
    form = _draft_form()
    done = run_form(form, lambda: service.create_draft(current_user, grid, form.kind.data, form.period_start.data,
                                                       form.period_end.data),
                    "已根据网格现有数据生成责任状草稿，请核对修改后下发。", lambda a: url_for(".edit", agreement_id=a.id))
    if done:
        return done
    page = paginate(service.agreements_query(grid))
    return render("agreements/index.html", grid=grid, page=page, today=local_today(), statuses=STATUS_NAMES,
                  form=form, tops=top_grids(current_user))


def _wording_kind():
    kind = request.values.get("kind")
    return kind if kind in AGREEMENT_KINDS else "village_worker"


@bp.route("/agreements/wording", methods=["GET", "POST"])
@require("manage_agreements")
def wording():
    """The wording of 定职责, 定任务 and 定奖惩 that drafts about this grid and those below it start from."""
    grid = _chosen_grid()
    kind = _wording_kind()
    own = service.wording_in_force(kind, grid)
    inherited = own if own is not None and own.grid_id != grid.id else None
    own = own if own is not None and own.grid_id == grid.id else None
    form = WordingForm(data=service.wording_texts(kind, grid)) if request.method == "GET" else WordingForm()
    done = run_form(form, lambda: service.save_wording(
        current_user, grid, kind, {key: getattr(form, key).data for key, _ in service.WORDING_SECTIONS}),
        "已保存责任状文本；此后起草的责任状按新文本生成，已有的责任状不变。",
        url_for(".wording", grid_id=grid.id, kind=kind))
    if done:
        return done
    _cv, _village, _town, values = service.figures(grid)
    preview = {}
    if request.method == "GET":
        preview = {key: service.fill(getattr(form, key).data, values) for key, _ in service.WORDING_SECTIONS}
    return render("agreements/wording.html", grid=grid, kind=kind, kinds=AGREEMENT_KINDS, form=form, own=own,
                  inherited=inherited, placeholders=service.PLACEHOLDERS, values=values, preview=preview,
                  sections=service.WORDING_SECTIONS, may_edit=current_user.role in service.KIND_ROLES[kind])


@bp.route("/agreements/wording/reset", methods=["POST"])
@require("manage_agreements")
def reset_wording():
    """Drop this grid's own wording: drafts take the wording above it, or the built-in one, again."""
    grid = _chosen_grid()
    kind = _wording_kind()
    return run_action(lambda: service.reset_wording(current_user, grid, kind), "已恢复为上级或系统默认的责任状文本。",
                      url_for(".wording", grid_id=grid.id, kind=kind))


@bp.route("/agreements/<int:agreement_id>")
def show(agreement_id):
    """An agreement: content, state, versions, signatures, attached scans."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    return _show(agreement)


def _show(agreement, scan_form=None, action_form=None, status=None):
    signatures = [(s, service.signature_data_uri(s)) for s in agreement.signatures]
    return render("agreements/show.html", a=agreement, sections=SECTIONS, statuses=STATUS_NAMES, today=local_today(),
                  versions=service.versions(agreement), signatures=signatures, parties=PARTIES,
                  fingerprint=service.short_fingerprint(agreement.fingerprint),
                  verify_url=public_url(url_for(".verify", code=agreement.verify_code), missing=None),
                  scan_form=scan_form or ScanForm(formdata=None), action_form=action_form or ActionForm(formdata=None),
                  may_manage=can(current_user, "manage_agreements"), status=status)


@bp.route("/agreements/<int:agreement_id>/edit", methods=["GET", "POST"])
@require("manage_agreements")
def edit(agreement_id):
    """Edit a draft (issued versions are fixed: a change makes a new version)."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    if agreement.status != "draft":
        flash("已下发的责任状不能直接修改，请先“生成新版本”。", "warning")
        return redirect(url_for(".show", agreement_id=agreement.id))
    form = AgreementForm(obj=agreement)
    data = lambda: service.AgreementData(**{k: getattr(form, k).data for k in service.AgreementData.__annotations__})
    done = run_form(form, lambda: service.update_draft(agreement, data()), "已保存草稿。",
                    url_for(".show", agreement_id=agreement.id))
    return done or render("agreements/form.html", form=form, a=agreement)


@bp.route("/agreements/<int:agreement_id>/issue", methods=["POST"])
@require("manage_agreements")
def issue(agreement_id):
    """Issue a draft: its content fingerprint is fixed and the version it replaces is marked replaced."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    form = ActionForm()
    done = run_form(form, lambda: service.issue(agreement, utcnow()),
                    lambda a: f"已下发第{a.version}版，可打印后交双方签字盖章。", url_for(".show", agreement_id=agreement.id))
    return done or _show(agreement, action_form=form)


@bp.route("/agreements/<int:agreement_id>/new-version", methods=["POST"])
@require("manage_agreements")
def new_version(agreement_id):
    """Start a new version of an issued or signed agreement (a copy as a draft)."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    form = ActionForm()
    done = run_form(form, lambda: service.new_version(current_user, agreement),
                    lambda a: f"已生成第{a.version}版草稿；下发后，旧版本的二维码将显示“已被取代”。",
                    lambda a: url_for(".edit", agreement_id=a.id))
    return done or _show(agreement, action_form=form)


@bp.route("/agreements/<int:agreement_id>/scans", methods=["POST"])
@require("manage_agreements")
def upload_scan(agreement_id):
    """Attach a photo or scan of the signed paper (checked by content and size; kept under instance/)."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    form = ScanForm()
    upload = form.file.data
    done = run_form(form, lambda: service.attach_scan(current_user, agreement, upload.filename, upload.read(),
                                                      utcnow(), local_today()),
                    lambda s: f"已上传“{s.filename}”，责任状已记为签订。", url_for(".show", agreement_id=agreement.id))
    return done or _show(agreement, scan_form=form)


@bp.route("/agreements/<int:agreement_id>/scans/<int:scan_id>")
def scan(agreement_id, scan_id):
    """An attached scan, for users who may see the agreement's grid (each view audited)."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    item = service.get_scan_or_404(agreement, scan_id)
    audit.record("reveal", "agreement_scan", item.id, f"查看责任状扫描件 {item.filename}")
    data = service.stored_path("agreements", item.stored_name).read_bytes()
    return send_file(io.BytesIO(data), mimetype=item.mime_type,
                     as_attachment=item.mime_type == "application/pdf", download_name=item.filename,
                     max_age=0)


@bp.route("/agreements/<int:agreement_id>/sign", methods=["GET", "POST"])
@require("manage_agreements")
def sign(agreement_id):
    """Sign with a finger on the phone screen (the alternative to the signed paper)."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    form = SignatureForm()
    if request.method == "GET":
        form.party.data = request.args.get("party") if request.args.get("party") in PARTIES else "b"
        form.signer_name.data = agreement.party_b_rep if form.party.data == "b" else agreement.party_a_rep
    done = run_form(form, lambda: service.sign_with_finger(current_user, agreement, form.party.data,
                                                           form.signer_name.data, form.signature.data, utcnow(),
                                                           local_today()),
                    lambda s: f"已保存{PARTIES[s.party]} {s.signer_name} 的手写签名。",
                    url_for(".show", agreement_id=agreement.id))
    return done or render("agreements/sign.html", form=form, a=agreement)


@bp.route("/agreements/<int:agreement_id>.pdf")
def pdf(agreement_id):
    """The agreement as PDF: 五定, signature and seal blocks (with finger signatures), the verification QR."""
    agreement = service.get_agreement_or_404(current_user, agreement_id)
    verify_url = public_url(url_for(".verify", code=agreement.verify_code))
    signatures = {p: agreement.signature(p) for p in PARTIES}
    pdf_bytes = render_pdf(
        "print/agreement.html", title=agreement.title,
        header=f"{agreement.grid.name} · {agreement.period_start.year}年度", a=agreement, sections=SECTIONS,
        qr=qr_data_uri(verify_url), verify_url=verify_url,
        fingerprint=service.short_fingerprint(agreement.fingerprint or service.fingerprint(agreement)),
        signatures={p: (s, service.signature_data_uri(s)) if s else None for p, s in signatures.items()})
    return pdf_response(pdf_bytes, f"{agreement.title}（第{agreement.version}版）.pdf")


@bp.route("/v/<code>")
@public
def verify(code):
    """Public: what a printed QR code opens — parties, period, fingerprint, and whether this version is current."""
    result = service.verify(code, local_today())
    return render("agreements/verify.html", v=result, status=200 if result.found else 404)
