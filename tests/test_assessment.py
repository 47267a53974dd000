"""Assessment: scores against hand-computed figures (a worker with known visits and logs, at month and
quarter edges, with the National Day holiday and its 调休 Saturday), schemes refused when they do not
hold together, manual entries, freezing, adjustments, scope and the pages."""
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.assessment import service as asv
from app.assessment.models import AssessmentScheme, FrozenPeriod, ScoreAdjustment
from app.core.models import AuditLog
from app.extensions import db
from app.households.models import CategoryTag, Household, HouseholdCategory
from app.visits.models import Visit
from tests.factories import households, link, scheme_form, visit_on, work_log

EARLY = datetime(2025, 1, 1)

def score_of(uid, period_text, detail=False):
    user = db.session.get(User, uid)
    subject = asv.worker_subject(user)
    (score,) = asv.compute([subject], asv.parse_period(period_text), detail=detail, paths=subject.paths,
                           worker_mode=detail)
    return score


def line(score, name):
    return next(ln for ln in score.lines if ln.name == name)


def test_a_worker_month_against_hand_computed_figures(app, worker_month):
    with app.app_context():
        s = score_of(worker_month["uid"], "2025-10", detail=True)
        visits = line(s, "走访")
        # Due: the monthly contact rule × 4 households + the key-household rule × 1 = 5;
        # done: 1号 both, 2号 and 3号 the monthly one; 200 × 4/5 = 160.
        assert (visits.due, visits.done, visits.score) == (5, 4, Decimal("160.0"))
        assert visits.details == ["东庄4号：联系户每月至少联系一次，未走访"]
        assert not any("东庄1号" in d for d in visits.details)
        logs = line(s, "民情日记/工作日志")
        # 18 working days in October 2025 (1–8 off, the 11th a 调休 working Saturday); 3 logged.
        assert (logs.due, logs.done, logs.score) == (18, 3, Decimal("25.0"))
        assert any("2025-10-13" in d for d in logs.details)  # an empty log is no log
        assert not any("2025-10-03" in d or "2025-10-11" in d for d in logs.details)
        # Nothing due: full points, and the page says why.
        assert line(s, "事件办理").score == Decimal("200") and "无应办" in line(s, "事件办理").note
        assert line(s, "台账").note == "本期未评分，按满分计"
        assert s.total == Decimal("835.0") and s.band == "四星"


def test_a_quarter_end_month_counts_the_quarterly_rules(app, worker_month):
    with app.app_context():
        visits = line(score_of(worker_month["uid"], "2025-12"), "走访")
        # December: monthly 4 (1号 done) + key 1 (done) + ordinary quarterly door 3 (3号 done in October)
        # + quarterly 微宣讲 4 (2号 done in November) + the quarter's 集中走访 round 4 (none)
        # = 16 due, 4 done; 200 × 4/16 = 50.
        assert (visits.due, visits.done, visits.score) == (16, 4, Decimal("50.0"))
        november = line(score_of(worker_month["uid"], "2025-11"), "走访")
        assert (november.due, november.done) == (5, 1)  # no quarterly rule ends in November


def test_a_quarter_pools_its_months_or_averages_them(app, tree, worker_month, users):
    with app.app_context():
        q = line(score_of(worker_month["uid"], "2025-Q4"), "走访")
        # Oct 5/4, Nov 5/1 (2号's lecture), Dec 16/4 → 26 due, 9 done → 69.23 → 69.2.
        assert (q.due, q.done, q.score) == (26, 9, Decimal("69.2"))
        town = db.session.get(asv.Grid, tree["town_a"])
        scheme = asv.customize_scheme(town, "worker")
        scheme.combine = "mean"
        db.session.flush()
        mean = line(score_of(worker_month["uid"], "2025-Q4"), "走访")
        assert mean.score == Decimal("83.3")  # (160.0 + 40.0 + 50.0) / 3 = 83.33
        assert "10月 160.0" in mean.note


def test_the_worker_page_explains_every_point(app, client, worker_month):
    client.login("li")
    html = client.get("/assessment/me?period=2025-10").get_data(as_text=True)
    assert "835.0" in html and "四星" in html
    assert "东庄4号：联系户每月至少联系一次，未走访" in html
    assert "2025-10-13（周一）未填写工作日志" in html
    assert "应走访 5 户次，已走访 4 户次：200 × 4/5 = 160.0" in html


def test_a_future_or_unreadable_period_is_refused_in_words(app, client, worker_month):
    client.login("li")
    resp = client.get("/assessment/me?period=2099-01")
    assert resp.status_code == 302
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "2099年1月还没有开始，不能考核将来的期间。" in page
    resp = client.get("/assessment/me?period=十月")
    assert "无法识别" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_freezing_keeps_the_figures_and_corrections_are_audited(app, client, tree, users, worker_month):
    client.login("township")
    page = client.get(f"/assessment/grids/{tree['town_a']}?kind=worker&period=2025-10").get_data(as_text=True)
    assert "李网格" in page and "835.0" in page
    assert "worker_b" not in page  # another township's worker
    resp = client.post(f"/assessment/grids/{tree['town_a']}/freeze", {"kind": "worker", "period": "2025-10"})
    assert resp.status_code == 302
    with app.app_context():
        frozen = db.session.scalar(select(FrozenPeriod))
        assert frozen.scheme_version == 1 and frozen.period_start == date(2025, 10, 1)
        # The records change after publishing: 4号 gets a (late-entered) October visit, and the scheme changes.
        visit_on(worker_month["ids"][3], worker_month["uid"], date(2025, 10, 30))
        town = db.session.get(asv.Grid, tree["town_a"])
        scheme = asv.customize_scheme(town, "worker")
        scheme.version += 5
        db.session.commit()
        assert score_of(worker_month["uid"], "2025-10").total == Decimal("875.0")  # the live figure moved
    page = client.get(f"/assessment/grids/{tree['town_a']}?kind=worker&period=2025-10").get_data(as_text=True)
    assert "835.0" in page and "875.0" not in page and "第 1 版" in page
    # Publishing twice is refused; a correction needs a reason and stays within the item's points.
    again = client.post(f"/assessment/grids/{tree['town_a']}/freeze", {"kind": "worker", "period": "2025-10"})
    assert "不能再次发布" in client.get(again.headers["Location"]).get_data(as_text=True)
    bad = client.post(f"/assessment/grids/{tree['town_a']}/adjust", {
        "kind": "worker", "period": "2025-10", "subject_id": worker_month["uid"], "item_name": "走访",
        "points": "50", "reason": "补录走访"})
    assert "应在 0 到 200 分之间" in client.get(bad.headers["Location"]).get_data(as_text=True)
    client.post(f"/assessment/grids/{tree['town_a']}/adjust", {
        "kind": "worker", "period": "2025-10", "subject_id": worker_month["uid"], "item_name": "走访",
        "points": "40", "reason": "4号10月30日走访漏录，经核实补正"})
    with app.app_context():
        adj = db.session.scalar(select(ScoreAdjustment))
        assert adj.points == Decimal("40.0")
        assert db.session.scalar(select(AuditLog).where(AuditLog.entity == "assessment_adjustment")) is not None
    page = client.get(f"/assessment/grids/{tree['town_a']}?kind=worker&period=2025-10").get_data(as_text=True)
    assert "875.0" in page and "含更正" in page
    # Manual entries into a published month are refused.
    with app.app_context():
        user = db.session.get(User, worker_month["uid"])
        item = next(it for it in asv.scheme_for(asv.worker_subject(user).home, "worker").items if it.kind == "deduction")
        with pytest.raises(asv.ServiceError, match="已经发布"):
            asv.enter_manual(user, asv.worker_subject(user), item, asv.parse_period("2025-10"), 10, "抽查")


def test_a_running_month_cannot_be_published(app, client, tree, users):
    client.login("township")
    from app.core.timeutil import local_today

    this_month = asv.period_of("month", local_today()).key
    client.get(f"/assessment/grids/{tree['town_a']}")
    resp = client.post(f"/assessment/grids/{tree['town_a']}/freeze", {"kind": "worker", "period": this_month})
    assert "尚未结束" in client.get(resp.headers["Location"]).get_data(as_text=True)


def test_deductions_are_capped_and_manual_scores_bounded(app, client, tree, users, worker_month):
    client.login("township")
    client.get(f"/assessment/grids/{tree['town_a']}")
    with app.app_context():
        items = {it.name: it.id for it in asv.scheme_for(db.session.get(asv.Grid, tree["cluster_a"]), "worker").items}
    for _ in range(3):  # 3 × 50 = 150, capped at the item's 100
        client.post(f"/assessment/grids/{tree['town_a']}/manual", {
            "kind": "worker", "period": "2025-10", "subject_id": worker_month["uid"],
            "item_id": items["突发事件迟报漏报"], "points": "50", "reason": "10月突发事件迟报"})
    over = client.post(f"/assessment/grids/{tree['town_a']}/manual", {
        "kind": "worker", "period": "2025-10", "subject_id": worker_month["uid"], "item_id": items["台账"],
        "points": "120", "reason": "台账检查"})
    assert "满分 100 分，评分应在 0 到 100 之间" in client.get(over.headers["Location"]).get_data(as_text=True)
    client.post(f"/assessment/grids/{tree['town_a']}/manual", {
        "kind": "worker", "period": "2025-10", "subject_id": worker_month["uid"], "item_id": items["台账"],
        "points": "85", "reason": "台账有3户信息未更新"})
    with app.app_context():
        s = score_of(worker_month["uid"], "2025-10")
        assert line(s, "突发事件迟报漏报").score == Decimal("-100.0")
        assert "以上限 100 分计" in line(s, "突发事件迟报漏报").note
        assert line(s, "台账").score == Decimal("85.0")
        assert s.total == Decimal("835.0") - 100 - 15


@pytest.mark.parametrize("change, message", [
    (lambda items: items[0].__setattr__("points", 150), "合计 950 分，与总分 1000 分不符"),
    (lambda items: items[0].__setattr__("formula", "guess"), "第 1 项“走访”的计算公式“guess”不在可选公式之内"),
    (lambda items: items[7].__setattr__("points", -50), "第 8 项“督查抽查扣分”的分值不能为负数"),
    (lambda items: items[5].__setattr__("formula", "log_days"), "第 6 项“台账”不是自动计分"),
])
def test_a_scheme_that_does_not_hold_together_is_refused_whole(app, tree, change, message):
    with app.app_context():
        town = db.session.get(asv.Grid, tree["town_a"])
        scheme = asv.customize_scheme(town, "worker")
        db.session.commit()
        items = [asv.ItemInput(it.name, it.kind, it.formula, it.points, it.unit_points) for it in scheme.items]
        change(items)
        with pytest.raises(asv.ServiceError, match=message):
            asv.save_scheme(scheme, name="甲镇网格员考核", total=1000, combine="pooled", bands=asv.DEFAULT_BANDS,
                            items=items)
        db.session.rollback()
        assert db.session.get(AssessmentScheme, scheme.id).version == 1


def test_rankings_stay_within_scope(app, client, tree, users, worker_month):
    client.login("village_admin")  # 甲村
    assert client.get(f"/assessment/grids/{tree['village_a2']}").status_code == 404
    assert client.get(f"/assessment/grids/{tree['village_b']}").status_code == 404
    assert client.get(f"/assessment/workers/{users['worker_b']}").status_code == 404
    assert client.get(f"/assessment/workers/{worker_month['uid']}?period=2025-10").status_code == 200
    client.logout()
    client.login("worker")
    assert client.get(f"/assessment/workers/{worker_month['uid']}").status_code == 403
    assert client.get("/assessment/").headers["Location"].endswith("/assessment/me")


def test_the_report_prints_and_exports(app, client, tree, users, worker_month, tmp_path):
    import io

    from openpyxl import load_workbook

    from tests.pdfcheck import check_pdf

    client.login("township")
    client.get(f"/assessment/grids/{tree['town_a']}")
    client.post(f"/assessment/grids/{tree['town_a']}/freeze", {"kind": "worker", "period": "2025-10"})
    resp = client.get(f"/assessment/grids/{tree['town_a']}/report.pdf?kind=worker&period=2025-10")
    assert resp.mimetype == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(resp.data)
    text = check_pdf(resp.data, tmp_path / "report", expect_pages=1,
                     must_contain=["甲镇2025年10月网格员考核通报", "李网格", "835.0", "四星", "审核人", "盖章"])
    assert "已于" in text and "发布" in text
    xlsx = client.get(f"/assessment/grids/{tree['town_a']}/ranking.xlsx?kind=worker&period=2025-10")
    ws = load_workbook(io.BytesIO(xlsx.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "甲镇2025年10月网格员考核通报"
    assert rows[1][0].startswith("考核期间：2025年10月")
    header = rows[3]
    assert header[:3] == ("名次", "网格员", "所在网格") and header[-2:] == ("总分", "星级")
    li = next(r for r in rows if r[1] == "李网格")
    assert li[header.index("走访（200）")] == 160 and li[-2] == 835 and li[-1] == "四星"
    assert any(r[0] == "平均" for r in rows)


def test_a_township_keeps_its_own_scheme_from_the_browser(app, client, tree, users):
    url = f"/assessment/grids/{tree['town_a']}/schemes/worker"
    client.login("township")
    data = scheme_form(client, url)
    assert data["name_0"] == "走访" and data["points_0"] == "200" and data["formula_0"] == "visits_done"
    # 走访 250 and 巡查 100: still 1000 in all.
    data.update(points_0="250", points_3="100", name_10="应知应会测试", kind_10="bonus", points_10="30",
                unit_points_10="10", bands="五星 920\n四星 820\n三星 700\n一星 0")
    resp = client.post(url, data)
    assert resp.status_code == 302
    with app.app_context():
        town = db.session.get(asv.Grid, tree["town_a"])
        scheme = asv.scheme_for(db.session.get(asv.Grid, tree["cluster_a"]), "worker")
        assert scheme.grid_id == town.id and scheme.version == 2
        assert [it.points for it in scheme.items][:4] == [250, 150, 200, 100]
        assert scheme.items[-1].name == "应知应会测试" and scheme.bands[0] == ("五星", 920)
        assert asv.scheme_for(db.session.get(asv.Grid, tree["village_b"]), "worker").grid_id is None  # 乙镇: default
    # Points that do not add up: refused with the sum, nothing saved, what was typed kept.
    data = scheme_form(client, url)
    data.update(points_0="300")
    resp = client.post(url, data)
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert "合计 1050 分，与总分 1000 分不符" in html and 'value="300"' in html
    data.update(points_0="二百五")
    assert "第 1 项“走访”的分值“二百五”应为整数" in client.post(url, data).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(AssessmentScheme, scheme.id).version == 2
    client.logout()
    client.login("village_admin")
    assert client.get(url).status_code == 403


def test_the_grouped_reading_equals_the_household_by_household_one(app, tree, users, make_user, worker_month):
    """Rankings read the households in groups (one grouped query per window); the figures are the same as
    reading them one by one, for every rule kind: categories and 党员户 rules, cadre visits, a household
    created and one linked within the month, a visit recorded in a grid outside the scope, across the
    month, quarter and year edges — and a ranking gives each subject the score it gets computed alone."""
    from app.assessment.activity import Activity
    from app.households.models import Resident
    from app.visits.models import VisitRule

    cadre = make_user("cadre", "leader", [tree["village_a"]], full_name="驻村干部")
    other = make_user("zhao", "worker", [tree["cluster_b"]], full_name="赵网格")
    with app.app_context():
        ids = worker_month["ids"]
        more = households(tree["cluster_a"], 3, prefix="西坡")
        far = households(tree["cluster_b"], 3, prefix="乙庄")
        for hid in far:
            db.session.get(Household, hid).created_at = EARLY
        db.session.get(Household, more[0]).created_at = datetime(2025, 10, 15)  # created within October
        db.session.get(User, other).created_at = datetime(2025, 10, 15)  # so is 赵网格's account
        for d in (date(2025, 10, 16), date(2025, 10, 17), date(2025, 11, 3)):
            work_log(other, d)
        link(far, other)
        link([more[1]], worker_month["uid"], since=date(2025, 10, 10))  # linked within October
        sick = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "serious_illness"))
        ordinary = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.is_key.is_(False)))
        db.session.add_all([CategoryTag(household_id=far[0], category_id=sick.id, start_date=date(2025, 1, 1)),
                            CategoryTag(household_id=far[1], category_id=ordinary.id, start_date=date(2025, 1, 1),
                                        end_date=date(2025, 11, 5)),
                            VisitRule(name="五必访户每月一次", target="categories", period="month",
                                      categories=f"group:{ordinary.group},party_members"),
                            VisitRule(name="大病户每季度上门", target="categories", period="quarter", methods="door",
                                      categories="serious_illness")])
        db.session.scalar(select(Resident).where(Resident.household_id == far[2])).political_status = "中共党员"
        visit_on(far[0], other, date(2025, 10, 3))
        visit_on(far[1], other, date(2025, 11, 3), "phone")
        visit_on(far[2], cadre, date(2025, 12, 2))
        db.session.flush()
        for v in db.session.scalars(select(Visit).where(Visit.user_id == cadre)):
            v.by_cadre = True
        stray = db.session.get(Household, ids[3])
        db.session.add(Visit(household_id=stray.id, grid_id=tree["cluster_b"], user_id=other, method="door",
                             visited_at=datetime(2025, 10, 5, 2), visited_on=date(2025, 10, 5), learned="走访"))
        db.session.commit()
        county, town = db.session.get(asv.Grid, tree["county"]), db.session.get(asv.Grid, tree["town_a"])
        today = date(2026, 2, 1)
        for text in ("2025-10", "2025-11", "2025-12", "2025-Q4", "2025"):
            period = asv.parse_period(text, today)
            for grid in (county, town):
                one_by_one = Activity([grid.path], period.start, period.end, today, grouped=False)
                grouped = Activity([grid.path], period.start, period.end, today)
                assert {k: v for k, v in grouped.grid_counts.items() if v} == \
                    {k: v for k, v in one_by_one.grid_counts.items() if v}, (text, grid.name)
                assert {k: v for k, v in grouped.user_counts.items() if v} == \
                    {k: v for k, v in one_by_one.user_counts.items() if v}, (text, grid.name)
            assert any(grouped.grid_counts[g]["visits_due"] for g in (tree["cluster_a"], tree["cluster_b"]))
            staff = [db.session.get(User, u) for u in (worker_month["uid"], other, cadre)]
            listed = Activity([county.path], period.start, period.end, today, detail=True).log_days(staff)
            assert {u: f[:2] for u, f in grouped.log_days(staff).items()} == {u: f[:2] for u, f in listed.items()}
            ranked = asv.ranked_under(county, ("worker", "village"), period, today)
            for kind, scores in ranked.items():
                assert scores, kind
                for s in scores:
                    (alone,) = asv.compute([s.subject], period, today)
                    assert [(ln.name, ln.due, ln.done, ln.score) for ln in alone.lines] == \
                        [(ln.name, ln.due, ln.done, ln.score) for ln in s.lines], (text, s.subject.name)
