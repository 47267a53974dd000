"""季度自评 (篇三): a grid fills in its quarter against the scheme, submits it, the level above returns
or rates it, the result is reported up; bad input refused naming the item; print and Excel."""
import io
import re

from sqlalchemy import select

from app.assessment.models import SelfEvaluation, SelfEvaluationEvent
from app.core.models import AuditLog
from app.extensions import db

Q = "2025-Q4"


def _url(tree, grid="cluster_a", suffix=""):
    return f"/assessment/grids/{tree[grid]}/self-evaluation{suffix}"


def _ev(tree, grid="cluster_a"):
    return db.session.scalar(select(SelfEvaluation).where(SelfEvaluation.grid_id == tree[grid]))


def _fields(client, url):
    """The self-evaluation form as the page shows it: {name: value} of its inputs."""
    html = client.get(url).get_data(as_text=True)
    return dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html)), html


def _line_ids(app, tree, grid="cluster_a"):
    with app.app_context():
        return {ln.name: ln.id for ln in _ev(tree, grid).lines}


def _fill(data, ids, prefix, scores):
    for name, lid in ids.items():
        value, comment = scores.get(name, ("", ""))
        data[f"{prefix}_{lid}"] = value
        data[f"{prefix}_comment_{lid}"] = comment
    return data


FULL = {"走访": ("180", "个别户未走访"), "民情日记/工作日志": ("150", ""), "事件办理": ("200", ""), "巡查": ("90", ""),
        "隐患整改": ("50", ""), "例会": ("100", ""), "台账": ("95", "台账齐全"), "群众满意度": ("100", ""),
        "督查抽查扣分": ("0", ""), "通报表扬": ("0", "")}


def _start(client, tree, grid="cluster_a"):
    client.get(_url(tree, grid) + f"?period={Q}")
    return client.post(_url(tree, grid, "/start"), {"period": Q})


def test_a_grid_fills_submits_and_the_village_rates_it(app, client, make_client, tree, users):
    client.login("worker")
    page = client.get(_url(tree) + f"?period={Q}").get_data(as_text=True)
    assert "系统测算" in page and "开始填写" in page
    assert _start(client, tree).status_code == 302
    ids = _line_ids(app, tree)
    url = _url(tree) + f"?period={Q}"
    data, html = _fields(client, url)
    assert "保存草稿" in html and "提交" in html and "评定</button>" not in html
    # A score above the item's points: refused naming the item, nothing saved.
    data = _fill(dict(data, action="save"), ids, "self", dict(FULL, **{"走访": ("250", "多走访了")}))
    resp = client.post(_url(tree), data)
    assert resp.status_code == 422
    assert "“走访”的自评分 250 分超过该项分值 200 分" in resp.get_data(as_text=True)
    with app.app_context():
        assert all(ln.self_score is None for ln in _ev(tree).lines)
    # A deduction typed as a positive number, and text that is no number.
    for bad, message in ((("督查抽查扣分", "20"), "“督查抽查扣分”是扣分项"), (("台账", "九十"), "“台账”的自评分“九十”不是数字")):
        data = _fill(dict(_fields(client, url)[0], action="save"), ids, "self", dict(FULL, **{bad[0]: (bad[1], "")}))
        assert message in client.post(_url(tree), data).get_data(as_text=True)
    # A draft half filled is saved; submitting it is refused naming the first empty item.
    data = _fill(dict(_fields(client, url)[0], action="save"), ids, "self", {"走访": ("180", "个别户未走访")})
    assert client.post(_url(tree), data).status_code == 302
    data = _fill(dict(_fields(client, url)[0], action="submit"), ids, "self", {"走访": ("180", "个别户未走访")})
    assert "“民情日记/工作日志”还没有填写自评分" in client.post(_url(tree), data).get_data(as_text=True)
    data = _fill(dict(_fields(client, url)[0], action="submit", summary="本季度走访基本到位。"), ids, "self", FULL)
    assert client.post(_url(tree), data).status_code == 302
    with app.app_context():
        ev = _ev(tree)
        assert ev.state == "submitted" and str(ev.self_total) == "965.0"
        assert ev.rater_grid_id == tree["village_a"]
    assert "评定</button>" not in client.get(url).get_data(as_text=True)  # the worker cannot rate

    rater = make_client()
    rater.login("village_admin")
    listing = rater.get("/assessment/self-evaluations").get_data(as_text=True)
    assert "待我评定（1）" in listing and "组A" in listing or "待我评定（1）" in listing
    # Returning needs a reason.
    data, html = _fields(rater, url)
    assert "评定</button>" in html and "退回修改" in html
    resp = rater.post(_url(tree), dict(data, action="return", note=""))
    assert resp.status_code == 422 and "退回时请写明原因" in resp.get_data(as_text=True)
    assert rater.post(_url(tree), dict(data, action="return", note="巡查得分偏高，请核实。")).status_code == 302
    with app.app_context():
        assert _ev(tree).state == "draft"
    # The worker resubmits (the form keeps what was typed), the village rates it.
    data = _fill(dict(_fields(client, url)[0], action="submit"), ids, "self", dict(FULL, **{"巡查": ("80", "")}))
    assert client.post(_url(tree), data).status_code == 302
    data = _fields(rater, url)[0]
    stale = dict(data)
    data = _fill(dict(data, action="rate", rating_summary="同意。"), ids, "rate",
                 dict(FULL, **{"巡查": ("70", "巡查记录缺两次"), "督查抽查扣分": ("-20", "抽查发现问题")}))
    resp = rater.post(_url(tree), data)
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        ev = _ev(tree)
        assert ev.state == "rated" and str(ev.rated_total) == "925.0" and str(ev.self_total) == "955.0"
        steps = [e.action for e in db.session.scalars(select(SelfEvaluationEvent).where(
            SelfEvaluationEvent.evaluation_id == ev.id).order_by(SelfEvaluationEvent.id))]
        assert steps == ["start", "save", "submit", "return", "submit", "rate"]
        audited = db.session.scalars(select(AuditLog.summary).where(AuditLog.entity == "assessment_self_eval")).all()
        assert audited
    # A second rating from a page that showed the old version changes nothing.
    assert rater.post(_url(tree), dict(stale, action="rate")).status_code == 422
    # Reported up: the township sees the rated result; the other township's worker sees nothing.
    town = make_client()
    town.login("township")
    rows = town.get("/assessment/self-evaluations?state=rated").get_data(as_text=True)
    assert "925.0" in rows
    other = make_client()
    other.login("worker_b")
    assert other.get(url).status_code == 404
    assert "925.0" not in other.get("/assessment/self-evaluations").get_data(as_text=True)


def test_a_village_is_rated_by_its_township(app, client, make_client, tree, users):
    client.login("leader")  # the village's 网格长
    assert _start(client, tree, "village_a").status_code == 302
    ids = _line_ids(app, tree, "village_a")
    url = _url(tree, "village_a") + f"?period={Q}"
    data = _fill(dict(_fields(client, url)[0], action="submit"), ids, "self", FULL)
    assert client.post(_url(tree, "village_a"), data).status_code == 302
    town = make_client()
    town.login("township")
    assert "待我评定（1）" in town.get("/assessment/self-evaluations").get_data(as_text=True)
    data = _fill(dict(_fields(town, url)[0], action="rate"), ids, "rate", FULL)
    assert town.post(_url(tree, "village_a"), data).status_code == 302
    with app.app_context():
        assert _ev(tree, "village_a").state == "rated"
        assert _ev(tree, "village_a").rater_grid_id == tree["town_a"]


def test_bad_periods_and_grids_are_refused(app, client, tree, users):
    client.login("worker")
    client.get(_url(tree))
    resp = client.post(_url(tree, suffix="/start"), {"period": "2099-Q1"}, follow_redirects=True)
    assert "还没有开始" in resp.get_data(as_text=True)
    resp = client.get(_url(tree) + "?period=2025-10", follow_redirects=True)
    assert "季度自评按季度填写" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(SelfEvaluation)) is None
    client.logout()
    client.login("township")
    assert client.get(_url(tree, "town_a")).status_code == 404  # a township does not evaluate itself here
    # The township may rate the cluster but is not its staff: it cannot start the cluster's form.
    assert "开始填写20" not in client.get(_url(tree) + f"?period={Q}").get_data(as_text=True)
    client.post(_url(tree, suffix="/start"), {"period": Q})
    with app.app_context():
        assert db.session.scalar(select(SelfEvaluation)) is None


def test_a_published_quarter_cannot_be_filled(app, client, tree, users):
    from app.accounts.models import User
    from app.assessment import service as asv
    from app.grids.models import Grid

    client.login("worker")
    _start(client, tree)
    with app.app_context():
        asv.freeze(db.session.get(User, users["township"]), db.session.get(Grid, tree["town_a"]), "grid",
                   asv.parse_period(Q))
        db.session.commit()
    ids = _line_ids(app, tree)
    url = _url(tree) + f"?period={Q}"
    data = _fill(dict(_fields(client, url)[0], action="submit"), ids, "self", FULL)
    resp = client.post(_url(tree), data)
    assert resp.status_code == 422 and "考核结果已由甲镇发布" in resp.get_data(as_text=True)


def test_the_self_evaluation_prints_and_exports(app, client, tree, users, tmp_path):
    from openpyxl import load_workbook

    from tests.pdfcheck import check_pdf

    client.login("worker")
    _start(client, tree)
    ids = _line_ids(app, tree)
    url = _url(tree) + f"?period={Q}"
    data = _fill(dict(_fields(client, url)[0], action="submit", summary="走访基本到位。"), ids, "self", FULL)
    client.post(_url(tree), data)
    resp = client.get(_url(tree, suffix=".pdf") + f"?period={Q}")
    assert resp.mimetype == "application/pdf"
    (tmp_path / "self.pdf").write_bytes(resp.data)
    check_pdf(resp.data, tmp_path / "self", expect_pages=1,
              must_contain=["东庄一组2025年第4季度网格运行情况自评表", "甲村", "个别户未走访", "965.0", "评定人（签字）"])
    ws = load_workbook(io.BytesIO(client.get(_url(tree, suffix=".xlsx") + f"?period={Q}").data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "东庄一组2025年第4季度网格运行情况自评表"
    header = rows[3]
    assert header[:2] == ("序号", "考核项") and "自评分" in header
    walk = next(r for r in rows if r[1] == "走访")
    assert walk[header.index("自评分")] == 180 and walk[header.index("自评说明")] == "个别户未走访"
    total = next(r for r in rows if r[0] == "合计")
    assert total[header.index("自评分")] == 965


def test_the_list_shows_the_grids_last_four_quarters(app, client, tree, users):
    """本网格 lists the last four quarters of each of the user's own grids with their states (a draft two
    quarters back, nothing this quarter); an older quarter is left to the list of the whole scope."""
    from app.assessment import service as asv
    from app.core.timeutil import local_today

    now = asv.period_of("quarter", local_today())
    back2, back5 = now.previous().previous(), now.previous().previous().previous().previous().previous()
    client.login("worker")
    for q in (back2, back5):
        client.get(_url(tree) + f"?period={q.key}")
        assert client.post(_url(tree, suffix="/start"), {"period": q.key}).status_code == 302
    page = client.get("/assessment/self-evaluations").get_data(as_text=True)
    own = page[page.index('id="own-quarters"'):page.index("</table>", page.index('id="own-quarters"'))]
    headers = re.findall(r'<th scope="col">([^<]+)</th>', own)
    assert headers == ["网格", now.label, now.previous().label, back2.label, back2.previous().label]
    cells = re.findall(r'<td data-label="([^"]+)"><a href="([^"]+)">([^<]+)</a>', own)
    assert (now.label, f"/assessment/grids/{tree['cluster_a']}/self-evaluation?period={now.key}", "未填写") in cells
    assert (back2.label, f"/assessment/grids/{tree['cluster_a']}/self-evaluation?period={back2.key}", "草稿") in cells
    assert back5.label not in own and "草稿" in page[page.index('id="all-h"'):]
