"""Agreement rules: generating the 五定 from a grid's real data, versions, issuing, signatures, scans, verification."""
import base64
import binascii
import hashlib
import json
import secrets
import string
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from ..core import uploads
from ..core.forms import ServiceError
from ..extensions import db
from ..grids.models import Grid, GridStaff
from ..grids.scope import can_see_grid, get_child_or_404, get_scoped_or_404, subtree_ids
from ..households import service as ledger
from ..units.models import Unit
from .models import AGREEMENT_KINDS, PARTIES, SECTIONS, Agreement, AgreementScan, AgreementSignature, AgreementWording

# Who may draft which kind: a township signs with its villages, a village with its grid workers.
KIND_ROLES = {"town_village": {"admin", "township"}, "village_worker": {"admin", "township", "village_admin"}}
SCAN_MAX_BYTES = uploads.DOCUMENT_MAX_BYTES
SIGNATURE_MAX_BYTES = 512 * 1024
SIGNATURE_MAX_SIDE = 2000
DATA_URL_PREFIX = "data:image/png;base64,"


# Generating from the grid's data

def _ancestor(grid, level_key):
    """The nearest grid at or above ``grid`` on the given level, or None."""
    ids = grid.ancestor_ids()
    rows = db.session.scalars(select(Grid).where(Grid.id.in_(ids))).all()
    for g in sorted(rows, key=lambda g: -g.depth):
        if g.level.key == level_key:
            return g
    return None


def _staff_lines(grid):
    staff = db.session.scalars(select(GridStaff).where(GridStaff.grid_id == grid.id)
                               .order_by(GridStaff.role, GridStaff.id)).all()
    by_role = {}
    for s in staff:
        by_role.setdefault(s.role_name, []).append(s.display_name + (f"（{s.display_phone}）" if s.display_phone else ""))
    return by_role


def _party_rep(grid, role):
    s = db.session.scalar(select(GridStaff).where(GridStaff.grid_id == grid.id, GridStaff.role == role)
                          .order_by(GridStaff.id))
    return s.display_name if s else ""


# The built-in wording of 定职责, 定任务 and 定奖惩; a township or village may keep its own
# (AgreementWording). ``{户数}`` and the other PLACEHOLDERS are the grid's figures.
_REWARDS = ("年度考核实行千分制，考核结果与评先评优、绩效报酬挂钩。完成任务、成绩突出的给予表彰奖励；"
            "因履职不到位造成工作被动或发生较大以上事故的，依照有关规定追究责任。")
DEFAULT_WORDING = {
    "town_village": {
        "duties": ("乙方对本村网格化管理工作负总责，村党组织书记为第一责任人。负责划分和调整本村各级网格，"
                   "落实网格长、网格员和服务团队；督促网格员做好走访、巡查、上报和民情台账工作；"
                   "受理群众诉求，能解决的及时解决，不能解决的逐级上报，限时办理，件件有回音。"),
        "tasks": ("1. 民情台账底数清、情况明、信息准，户数、人数及时更新（现{户数}户、{人数}人）；\n"
                  "2. 重点户每月至少上门走访一次，普通户每季度至少上门走访一次，每季度开展一次微宣讲；\n"
                  "3. 每月召开行政村网格例会，每季度召开网格工作例会，会议有纪要、议定事项有落实；\n"
                  "4. 二级网格每月巡查一次，三级网格每周巡查一次，发现隐患及时制止、上报；\n"
                  "5. 在各网格醒目位置设置公示牌，发放联系卡和监督卡。"),
        "rewards": _REWARDS,
    },
    "village_worker": {
        "duties": ("乙方为本网格责任人，负责网格内信息采集、民情走访、矛盾排查、政策宣传、隐患巡查和诉求上报；"
                   "认真填写工作日志，严格保守群众个人隐私。"),
        "tasks": ("1. 联系本网格{户数}户，每户每月至少联系一次；\n"
                  "2. 重点户（{重点户数}户）每月至少上门走访一次，普通户每季度至少上门走访一次；\n"
                  "3. 每周巡查本网格一次，发现问题当场处置或及时上报；\n"
                  "4. 按时参加网格例会，落实会议议定事项；\n"
                  "5. 每日填写工作日志，民情台账信息变动及时更新。"),
        "rewards": _REWARDS,
    },
}
WORDING_SECTIONS = [("duties", "三、定职责"), ("tasks", "四、定任务"), ("rewards", "五、定奖惩")]
PLACEHOLDERS = {
    "网格名": "本网格的名称", "村名": "所在行政村", "乡镇名": "所在乡镇", "户数": "在册户数", "人数": "在册人数",
    "党员数": "党员人数", "重点户数": "六类户等重点户数", "下级网格数": "下设网格总数", "重点监管单位数": "重点监管单位数",
}


def figures(grid):
    """The grid's own figures for a draft: counts, key households and units, the places above it."""
    counts, _ = ledger.counts_with_children(grid)
    subgrids = db.session.scalar(select(func.count(Grid.id)).where(Grid.id.in_(subtree_ids(grid)))) - 1
    key_units = db.session.scalar(select(func.count(Unit.id)).where(
        Unit.grid_id.in_(subtree_ids(grid)), Unit.key_supervision.is_(True), Unit.status == "active"))
    village = _ancestor(grid, "village") or grid
    town = _ancestor(grid, "town")
    values = {"网格名": grid.name, "村名": village.name, "乡镇名": town.name if town else "", "户数": counts["households"],
              "人数": counts["residents"], "党员数": counts["party_members"],
              "重点户数": sum(n for _name, n in counts["categories"]), "下级网格数": subgrids,
              "重点监管单位数": key_units}
    return counts, village, town, values


def placeholders_in(text):
    """The placeholder names used in ``text``; ServiceError (in Chinese) when one is unknown or malformed."""
    try:
        parts = list(string.Formatter().parse(text or ""))
    except ValueError:
        raise ServiceError("大括号 { } 要成对使用，占位符写成 {户数} 这样。") from None
    names = [name for _lit, name, spec, conv in parts if name is not None]
    for _lit, name, spec, conv in parts:
        if name is not None and (name not in PLACEHOLDERS or spec or conv):
            raise ServiceError(f"不认识占位符 {{{name}{':' + spec if spec else ''}}}；可用的有："
                               + "、".join(f"{{{k}}}" for k in PLACEHOLDERS) + "。")
    return names


def fill(text, values):
    """``text`` with its placeholders replaced by ``values`` (checked by placeholders_in first)."""
    placeholders_in(text)
    return (text or "").format_map(values)


def wording_in_force(kind, grid):
    """(own AgreementWording of the nearest grid at or above ``grid``, or None for the built-in wording)."""
    return db.session.scalars(select(AgreementWording).join(Grid, Grid.id == AgreementWording.grid_id)
                              .where(AgreementWording.kind == kind, AgreementWording.grid_id.in_(grid.ancestor_ids()))
                              .order_by(Grid.depth.desc())).first()


def wording_texts(kind, grid):
    """{section: text with placeholders} in force for drafts about ``grid``."""
    own = wording_in_force(kind, grid)
    return {key: getattr(own, key) for key, _ in WORDING_SECTIONS} if own else dict(DEFAULT_WORDING[kind])


def save_wording(user, grid, kind, texts):
    """Keep ``grid``'s own wording for ``kind`` (grids below take it unless they keep their own)."""
    _check_kind(user, kind)
    for key, label in WORDING_SECTIONS:
        try:
            placeholders_in(texts.get(key))
        except ServiceError as exc:
            raise ServiceError(f"{label}：{exc}", key) from None
        if not (texts.get(key) or "").strip():
            raise ServiceError(f"请填写{label[2:]}的内容。", key)
    own = db.session.scalar(select(AgreementWording).where(AgreementWording.grid_id == grid.id,
                                                          AgreementWording.kind == kind))
    if own is None:
        own = AgreementWording(grid_id=grid.id, kind=kind)
        db.session.add(own)
    for key, _ in WORDING_SECTIONS:
        setattr(own, key, texts[key].strip().replace("\r\n", "\n"))
    db.session.flush()
    return own


def reset_wording(user, grid, kind):
    """Drop ``grid``'s own wording: drafts take the wording above it (or the built-in) again."""
    _check_kind(user, kind)
    own = db.session.scalar(select(AgreementWording).where(AgreementWording.grid_id == grid.id,
                                                          AgreementWording.kind == kind))
    if own is not None:
        db.session.delete(own)
        db.session.flush()


def generate(kind, grid):
    """Parties and the 五定 text for an agreement of ``kind`` about ``grid``, from its real data."""
    counts, village, town, values = figures(grid)
    children = db.session.scalars(select(Grid).where(Grid.parent_id == grid.id).order_by(Grid.sort_order, Grid.name)).all()
    area = grid.area_desc.strip() or f"{grid.name}全域"
    if children:
        names = "、".join(c.name for c in children[:20]) + ("等" if len(children) > 20 else "")
        area += f"。下设{len(children)}个下级网格（{names}），共{values['下级网格数']}个网格"
    area += f"；在册{counts['households']}户、{counts['residents']}人，其中党员{counts['party_members']}人"
    if values["重点户数"]:
        area += "；" + "、".join(f"{name}{n}户" for name, n in counts["categories"])
    if values["重点监管单位数"]:
        area += f"；重点监管单位{values['重点监管单位数']}家"
    area += "。"
    people = "；".join(f"{role}：{'、'.join(names)}" for role, names in _staff_lines(grid).items()) or "（尚未安排人员）"
    people += "。"
    if kind == "town_village":
        party_a = f"{town.name}人民政府" if town else "乡镇人民政府"
        party_b = f"{village.name}村民委员会" if not village.name.endswith(("村委会", "委员会")) else village.name
        party_a_rep = _party_rep(village, "contact_cadre")
        party_b_rep = _party_rep(village, "leader")
    else:
        party_a = f"{village.name}村民委员会" if not village.name.endswith(("村委会", "委员会")) else village.name
        party_b = _party_rep(grid, "worker") or _party_rep(grid, "leader") or "网格员"
        party_a_rep = _party_rep(village, "leader")
        party_b_rep = party_b if party_b != "网格员" else ""
    texts = {key: fill(text, values) for key, text in wording_texts(kind, grid).items()}
    return {"party_a": party_a, "party_a_rep": party_a_rep, "party_b": party_b, "party_b_rep": party_b_rep,
            "area": area, "people": people, **texts, "title": f"{grid.name}网格化管理责任状"}


# Drafts and versions

@dataclass
class AgreementData:
    """What the edit form says."""

    title: str
    party_a: str
    party_a_rep: str
    party_b: str
    party_b_rep: str
    period_start: date
    period_end: date
    area: str
    people: str
    duties: str
    tasks: str
    rewards: str


def _check_kind(user, kind):
    if kind not in AGREEMENT_KINDS:
        raise ServiceError("请选择责任状类型。", "kind")
    if user.role not in KIND_ROLES[kind]:
        raise ServiceError(f"“{AGREEMENT_KINDS[kind]}”责任状由{'乡镇' if kind == 'town_village' else '村或乡镇'}起草。", "kind")


def _check_period(start, end):
    if start is None or end is None:
        raise ServiceError("请填写责任期限的起止日期。", "period_start")
    if end <= start:
        raise ServiceError(f"责任期限的结束日期（{end:%Y-%m-%d}）应晚于开始日期（{start:%Y-%m-%d}）。", "period_end")


def create_draft(user, grid, kind, period_start, period_end):
    """A draft generated from the grid's data, to be edited before it is issued."""
    if not can_see_grid(user, grid):
        raise ServiceError("请选择您管理范围内的网格。")
    _check_kind(user, kind)
    _check_period(period_start, period_end)
    content = generate(kind, grid)
    agreement = Agreement(grid=grid, kind=kind, period_start=period_start, period_end=period_end, status="draft",
                          verify_code=secrets.token_urlsafe(12), created_by_id=user.id, **content)
    db.session.add(agreement)
    db.session.flush()
    agreement.series_id = agreement.id
    return agreement


def update_draft(agreement, data):
    """Change a draft's content; issued versions never change (make a new version instead)."""
    if agreement.status != "draft":
        raise ServiceError("已下发的责任状不能直接修改，请生成新版本后修改。")
    _check_period(data.period_start, data.period_end)
    for name in ("title", "party_a", "party_b"):
        if not (getattr(data, name) or "").strip():
            raise ServiceError("请填写标题和甲乙双方名称。", name)
    for name, value in vars(data).items():
        setattr(agreement, name, value.strip() if isinstance(value, str) else value)
    return agreement


def canonical_content(agreement):
    """The content that the fingerprint covers, as one stable JSON text."""
    doc = {"grid_id": agreement.grid_id, "kind": agreement.kind, "series": agreement.series_id,
           "version": agreement.version, "title": agreement.title,
           "party_a": [agreement.party_a, agreement.party_a_rep], "party_b": [agreement.party_b, agreement.party_b_rep],
           "period": [agreement.period_start.isoformat(), agreement.period_end.isoformat()],
           "sections": {key: getattr(agreement, key) for key, _ in SECTIONS}}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def fingerprint(agreement):
    return hashlib.sha256(canonical_content(agreement).encode("utf-8")).hexdigest()


def short_fingerprint(hexdigest):
    """The first 16 hex digits in groups of four, as printed: ``3F2A 9C1B 07D4 E611``."""
    head = (hexdigest or "")[:16].upper()
    return " ".join(head[i:i + 4] for i in range(0, len(head), 4))


def versions(agreement):
    return db.session.scalars(select(Agreement).where(Agreement.series_id == agreement.series_id)
                              .order_by(Agreement.version)).all()


def issue(agreement, now):
    """Issue a draft: its fingerprint is fixed, and the version it replaces says so from now on."""
    if agreement.status != "draft":
        raise ServiceError("只有草稿可以下发。")
    if not agreement.people.strip() or not agreement.duties.strip() or not agreement.tasks.strip():
        raise ServiceError("下发前请填写定人员、定职责和定任务。")
    agreement.fingerprint = fingerprint(agreement)
    agreement.status = "issued"
    agreement.issued_at = now
    for old in versions(agreement):
        if old.id != agreement.id and old.status in ("issued", "signed"):
            old.status = "replaced"
            old.replaced_by = agreement
    return agreement


def new_version(user, agreement):
    """A new draft version copying an issued or signed one, to be changed and issued again."""
    if agreement.status not in ("issued", "signed"):
        raise ServiceError("只有已下发或已签订的责任状可以生成新版本。")
    _check_kind(user, agreement.kind)
    series = versions(agreement)
    pending = next((v for v in series if v.status == "draft"), None)
    if pending is not None:
        raise ServiceError(f"已有未下发的第{pending.version}版草稿，请先修改并下发它。")
    copy = Agreement(series_id=agreement.series_id, version=max(v.version for v in series) + 1, grid=agreement.grid,
                     kind=agreement.kind, status="draft", verify_code=secrets.token_urlsafe(12), created_by_id=user.id,
                     **{k: getattr(agreement, k) for k in ("title", "party_a", "party_a_rep", "party_b", "party_b_rep",
                                                           "period_start", "period_end", "area", "people", "duties",
                                                           "tasks", "rewards")})
    db.session.add(copy)
    db.session.flush()
    return copy


# Signing: the signed paper, or a finger on a phone

def _store(folder, name, data):
    uploads.write_with_session(Path(current_app.instance_path) / folder / name, data)


def stored_path(folder, name):
    return Path(current_app.instance_path) / folder / name


def _must_be_in_force(agreement, today):
    if agreement.status not in ("issued", "signed"):
        raise ServiceError("只有已下发、尚未被取代的责任状可以签订。")
    if agreement.effective_status(today) == "expired":
        raise ServiceError("责任期限已过，不能再签订。")


def scan_type(data, filename):
    """(mime type, extension) of an upload, decided by its content, or ServiceError saying why not."""
    return uploads.document(data, filename, "请上传签字盖章后的照片或扫描件。", SCAN_MAX_BYTES)


def attach_scan(user, agreement, filename, data, now, today):
    """Attach a photo or scan of the signed paper; the agreement counts as signed from then on."""
    _must_be_in_force(agreement, today)
    filename = Path(filename or "").name or "扫描件"
    mime, ext = scan_type(data, filename)
    stored = f"{secrets.token_hex(16)}.{ext}"
    scan = AgreementScan(agreement=agreement, filename=filename[:200], stored_name=stored, mime_type=mime,
                         size=len(data), sha256=hashlib.sha256(data).hexdigest(), uploaded_by_id=user.id, uploaded_at=now)
    db.session.add(scan)
    db.session.flush()
    _store("agreements", stored, data)
    _mark_signed(agreement, now)
    return scan


def _mark_signed(agreement, now):
    if agreement.status == "issued":
        agreement.status = "signed"
        agreement.signed_at = now


def signature_png(data_url):
    """The PNG bytes of a canvas data URL, or ServiceError (empty, not a PNG, too large)."""
    data_url = (data_url or "").strip()
    if not data_url:
        raise ServiceError("请先在签名框内手写签名。", "signature")
    if not data_url.startswith(DATA_URL_PREFIX):
        raise ServiceError("签名数据格式不对，请重新签名。", "signature")
    try:
        data = base64.b64decode(data_url[len(DATA_URL_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ServiceError("签名数据已损坏，请重新签名。", "signature") from None
    if len(data) > SIGNATURE_MAX_BYTES:
        raise ServiceError("签名图片太大，请清除后重新签名。", "signature")
    try:
        img = uploads.image(data, "签名", "signature")  # decoded before the view ran (core/uploads.py)
    except uploads.ImageRefused as exc:
        if exc.kind in ("pixels", "ratio"):
            raise ServiceError("签名图片尺寸过大，请重新签名。", "signature") from None
        if exc.kind == "busy":
            raise
        raise ServiceError("签名数据不是有效的图片，请重新签名。", "signature") from None
    if img.format != "PNG":
        raise ServiceError("签名数据不是 PNG 图片，请重新签名。", "signature")
    if max(img.width, img.height) > SIGNATURE_MAX_SIDE:
        raise ServiceError("签名图片尺寸过大，请重新签名。", "signature")
    if img.blank:  # a fully transparent canvas, or one opaque colour: nothing was drawn
        raise ServiceError("签名框是空的，请手写签名后再提交。", "signature")
    return data


def sign_with_finger(user, agreement, party, signer_name, data_url, now, today):
    """Store a finger signature of one party; when both parties have signed, the agreement is signed."""
    if party not in PARTIES:
        raise ServiceError("请选择签名的一方。", "party")
    _must_be_in_force(agreement, today)
    signer_name = (signer_name or "").strip()
    if not signer_name:
        raise ServiceError("请填写签名人姓名。", "signer_name")
    data = signature_png(data_url)
    stored = f"{secrets.token_hex(16)}.png"
    sig = AgreementSignature(agreement=agreement, party=party, signer_name=signer_name[:40], recorded_by_id=user.id,
                             signed_at=now, stored_name=stored)
    db.session.add(sig)
    db.session.flush()
    _store("signatures", stored, data)
    if agreement.signature("a") and agreement.signature("b"):
        _mark_signed(agreement, now)
    return sig


def signature_data_uri(sig):
    """A stored signature as a data: URI (for the page and the PDF; the file stays under instance/)."""
    data = stored_path("signatures", sig.stored_name).read_bytes()
    return DATA_URL_PREFIX + base64.b64encode(data).decode()


# Looking up

def agreements_query(grid):
    """Agreements about a grid and its subtree, newest first."""
    return (select(Agreement).where(Agreement.grid_id.in_(subtree_ids(grid)))
            .order_by(Agreement.created_at.desc(), Agreement.id.desc()))


def get_agreement_or_404(user, agreement_id):
    return get_scoped_or_404(user, Agreement, agreement_id)


def get_scan_or_404(agreement, scan_id):
    return get_child_or_404(AgreementScan, scan_id, "agreement_id", agreement.id)


@dataclass
class Verification:
    """What the public page may say about a printed agreement: nothing beyond what is printed on it."""

    found: bool
    state: str = ""          # current / replaced / expired / draft
    message: str = ""
    agreement: Agreement = None
    latest_version: int = 0
    fingerprint: str = ""


def verify(code, today):
    """Look up a printed QR code's agreement and say whether it is the version in force."""
    agreement = db.session.scalar(select(Agreement).where(Agreement.verify_code == (code or "")[:32]))
    if agreement is None:
        return Verification(False, message="未找到这份责任状。二维码可能有误，请向发放单位核实。")
    latest = max((v.version for v in versions(agreement) if v.status != "draft"), default=agreement.version)
    status = agreement.effective_status(today)
    if status == "draft":
        state, message = "draft", "这是尚未下发的草稿，不具效力。"
    elif status == "replaced":
        state, message = "replaced", f"这份责任状已被第{latest}版取代，不是现行版本。"
    elif status == "expired":
        state, message = "expired", f"责任期限已于{agreement.period_end:%Y年%m月%d日}届满。"
    else:
        state = "current"
        message = "这是现行有效的版本" + ("，双方已签订。" if status == "signed" else "，已下发，待双方签订。")
    return Verification(True, state, message, agreement, latest, short_fingerprint(agreement.fingerprint or fingerprint(agreement)))
