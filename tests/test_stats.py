"""Statistics: case figures against hand-computed expectations (as of a past period's end, with the
National Day holiday in the working-day count), the field-work figures the assessment also uses, the
build-out check, the dashboard, scope, and the Excel and PDF exports."""
import io
from datetime import date, datetime

import pytest
from sqlalchemy import select

from app.cases.models import Case, CaseCategory, CaseEvent
from app.extensions import db
from app.grids.models import Grid
from app.stats import service as ss
from tests.pdfcheck import check_pdf


def _case(code, grid_id, category, created, closed=None, events=(), source="worker", handling="general"):
    c = Case(receipt_code=code, title=f"事件{code}", grid_id=grid_id, current_grid_id=grid_id, category_id=category.id,
             source=source, handling_class=handling, created_at=created, closed_at=closed,
             state="closed" if closed else "reported")
    db.session.add(c)
    db.session.flush()
    for at, action, to_state, deadline, detail in events:
        db.session.add(CaseEvent(case_id=c.id, at=at, action=action, to_state=to_state, grid_id=grid_id,
                                 deadline_at=deadline, detail=detail))
    return c


@pytest.fixture
def october(app, tree):
    """Four cases received in October 2025 (UTC times; China is 8 hours ahead):

    A 甲村: received 9-30 23:00 UTC (10-01 local), deadline 10-10, closed 10-09 (in time) —
      working days 10-01 → 10-09: 10-09 only (10-01…10-08 National Day, 10-11 is the 调休 Saturday) = 1;
      transferred to 环保站; satisfied return visit.
    B 东庄一组: received 10-13, deadline 10-15, replied 10-16 (late), closed 10-17: late;
      working days 10-13 → 10-17 = 4; unsatisfied return visit.
    C 甲二村: received 10-20, deadline 10-24, still open on 10-31: 超期 (open past its deadline).
    D 甲二村: received 10-28, deadline 11-05, closed 11-03: not closed by 10-31, not late.
    E 乙村 (the other township): not counted under 甲镇.
    """
    with app.app_context():
        cat = db.session.scalar(select(CaseCategory).where(CaseCategory.name == "环境"))
        other = db.session.scalar(select(CaseCategory).where(CaseCategory.name == "民政"))
        _case("AAAA0001", tree["village_a"], cat, datetime(2025, 9, 30, 23), datetime(2025, 10, 9, 2), [
            (datetime(2025, 9, 30, 23), "report", "reported", None, ""),
            (datetime(2025, 10, 1, 1), "transfer", "assigned", datetime(2025, 10, 10, 15, 59), "移交 环保站"),
            (datetime(2025, 10, 9, 2), "close", "closed", None, ""),
            (datetime(2025, 10, 12, 2), "follow_up", "visited", None, "")], source="public")
        _case("AAAA0002", tree["cluster_a"], other, datetime(2025, 10, 13, 1), datetime(2025, 10, 17, 3), [
            (datetime(2025, 10, 13, 1), "report", "reported", None, ""),
            (datetime(2025, 10, 13, 2), "assign", "assigned", datetime(2025, 10, 15, 15, 59), "交办给 李四"),
            (datetime(2025, 10, 16, 3), "reply", "replied", None, ""),
            (datetime(2025, 10, 17, 3), "close", "closed", None, ""),
            (datetime(2025, 10, 20, 3), "follow_up", "accepted", None, "")], handling="coordination")
        _case("AAAA0003", tree["village_a2"], cat, datetime(2025, 10, 20, 1), None, [
            (datetime(2025, 10, 20, 1), "report", "reported", None, ""),
            (datetime(2025, 10, 20, 2), "assign", "assigned", datetime(2025, 10, 24, 15, 59), "交办给 王五")])
        _case("AAAA0004", tree["village_a2"], cat, datetime(2025, 10, 28, 1), datetime(2025, 11, 3, 1), [
            (datetime(2025, 10, 28, 1), "report", "reported", None, ""),
            (datetime(2025, 10, 28, 2), "assign", "assigned", datetime(2025, 11, 5, 15, 59), "交办给 王五"),
            (datetime(2025, 11, 3, 1), "close", "closed", None, "")])
        _case("BBBB0001", tree["village_b"], cat, datetime(2025, 10, 13, 1))
        db.session.commit()


def test_case_figures_against_hand_computed_expectations(app, tree, october):
    with app.app_context():
        town = db.session.get(Grid, tree["town_a"])
        stats = ss.case_stats(town, ss.parse_period("2025-10", today=date(2026, 1, 5)))
        t = stats.total
        assert (t.received, t.closed, t.in_time, t.late, t.visited, t.satisfied) == (4, 2, 1, 2, 2, 1)
        assert (t.closed_rate, t.in_time_rate, t.satisfied_rate) == (50.0, 50.0, 50.0)
        assert t.avg_workdays == 2.5  # (1 + 4) / 2
        by_grid = {r.label: (r.received, r.closed, r.late) for r in stats.tables["grid"]}
        assert by_grid == {"甲村": (2, 2, 1), "甲二村": (2, 0, 1)}
        assert {r.label: r.received for r in stats.tables["category"]} == {"民政": 1, "环境": 3}
        assert {r.label: r.received for r in stats.tables["department"]} == {"环保站": 1, ss.NOT_TRANSFERRED: 3}
        assert {r.label: r.received for r in stats.tables["state"]} == {"已交办": 2, "已回访": 1, "已受理": 1}
        assert {r.label: r.received for r in stats.tables["source"]} == {"网格员上报": 3, "群众扫码反映": 1}
        # Two dates: 10-13 … 10-20 holds B and C only.
        rng = ss.case_stats(town, ss.parse_period("", "2025-10-13", "2025-10-20", today=date(2026, 1, 5)))
        assert rng.total.received == 2
        # The year counts D as closed in time (closed 11-03, before the year's end).
        year = ss.case_stats(town, ss.parse_period("2025", today=date(2026, 1, 5)))
        assert (year.total.received, year.total.closed, year.total.late) == (4, 3, 2)


@pytest.mark.parametrize("args, message", [
    (("2099-01",), "还没有开始"), (("2025-13",), "无法识别"), (("", "2025-10-01", ""), "同时填写"),
    (("", "2025-10-05", "2025-10-01"), "早于开始日期"), (("", "2025-10-01", "2099-01-01"), "晚于今天"),
])
def test_a_period_that_cannot_be_read_is_refused_in_words(app, args, message):
    from app.core.forms import ServiceError

    with app.app_context():
        with pytest.raises(ServiceError, match=message):
            ss.parse_period(*args, today=date(2026, 1, 5))


def test_work_figures_are_the_assessments_for_a_past_month(app, tree, users, worker_month):
    """李网格's October 2025: 3 of 5 due visits (assessment: the same rules), logs 3 of 16 working days."""
    from app.assessment import service as asv

    with app.app_context():
        village = db.session.get(Grid, tree["village_a"])
        period = ss.parse_period("2025-10", today=date(2026, 1, 5))
        rows, total = ss.work_stats(village, period, today=date(2026, 1, 5))
        (score,) = asv.compute([asv.area_subject(village)], asv.parse_period("2025-10", today=date(2026, 1, 5)),
                               today=date(2026, 1, 5), paths=[village.path])
        line = next(ln for ln in score.lines if ln.formula == "visits_done")
        assert total.pair("visits") == (line.due, line.done) and line.due > 0
        logs = next(ln for ln in score.lines if ln.formula == "log_days")
        assert total.pair("logs") == (logs.due, logs.done) and logs.due > 0
        assert [r.label for r in rows] == ["东庄自然村"]


def test_buildout_names_each_missing_piece(app, tree, users):
    from app.grids import service as gs

    with app.app_context():
        town = db.session.get(Grid, tree["town_a"])
        gs.assign_staff(db.session.get(Grid, tree["village_a"]), "leader", None, "张村长", "13900000001")
        db.session.commit()
        checks = ss.buildout(town)
        no_leader = {f.grid_name for f in checks["no_leader"]}
        assert "甲二村" in no_leader and "甲村" not in no_leader and "甲镇" not in no_leader
        assert {f.grid_name for f in checks["no_agreement"]} == {"甲村", "甲二村"}
        assert {f.grid_name for f in checks["small_team"]} >= {"甲村", "东庄一组"}


def test_pages_exports_and_scope(app, make_client, tree, users, october, tmp_path):
    from openpyxl import load_workbook

    c = make_client()
    c.login("township")
    page = c.get(f"/stats/grids/{tree['town_a']}/cases?period=2025-10")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "甲二村" in html and "乙村" not in html
    assert f"/stats/grids/{tree['village_a2']}/cases?period=2025-10" in html  # drill into a village
    resp = c.get(f"/stats/grids/{tree['town_a']}/cases.xlsx?period=2025-10")
    wb = load_workbook(io.BytesIO(resp.data))
    ws = wb["按网格"]
    values = [[cell.value for cell in row] for row in ws.iter_rows()]
    assert values[0][0] == "甲镇2025年10月事件统计"
    assert any(r[0] == "合计" and r[1] == 4 and r[2] == 2 for r in values)
    assert set(wb.sheetnames) >= {"按网格", "按类别", "按来源", "按办理类别", "按状态（期末）", "按移交部门"}
    pdf = c.get(f"/stats/grids/{tree['town_a']}/cases.pdf?period=2025-10")
    text = check_pdf(pdf.data, tmp_path / "cases", must_contain=["甲镇2025年10月事件统计", "按网格", "甲二村", "按移交部门",
                                                                  "环保站", "合计", "审核人"])
    assert "乙村" not in text
    for page_key in ("work", "buildout"):
        assert c.get(f"/stats/grids/{tree['town_a']}/{page_key}?period=2025-10").status_code == 200
        assert c.get(f"/stats/grids/{tree['town_a']}/{page_key}.xlsx?period=2025-10").status_code == 200
    assert c.get(f"/stats/grids/{tree['town_a']}/dashboard").status_code == 200
    check_pdf(c.get(f"/stats/grids/{tree['town_a']}/dashboard.pdf").data, tmp_path / "dashboard", expect_pages=1,
              must_contain=["甲镇", "网格工作概况", "受理事件", "需要关注的网格", "近 12 个月事件受理与办结"])
    # A village sees its own grids only: the township and the other village answer 404.
    v = make_client()
    v.login("village_admin")
    assert v.get(f"/stats/grids/{tree['village_a']}/cases?period=2025-10").status_code == 200
    for gid in (tree["town_a"], tree["village_a2"], tree["village_b"]):
        assert v.get(f"/stats/grids/{gid}/cases?period=2025-10").status_code == 404
        assert v.get(f"/stats/grids/{gid}/dashboard").status_code == 404
    assert v.get("/stats/").headers["Location"].endswith(f"/stats/grids/{tree['village_a']}/dashboard")
    w = make_client()
    w.login("worker")
    assert w.get(f"/stats/grids/{tree['cluster_a']}/dashboard").status_code == 403


def test_the_dashboard_shows_a_new_record_within_a_minute(app, tree, users, monkeypatch):
    """Answered from the cache for 30 s; then once more while a background thread works it out again;
    past a minute worked out before answering."""
    import threading
    import time as real_time

    from app.core.timeutil import utcnow

    clock = [1000.0]
    monkeypatch.setattr(ss.time, "monotonic", lambda: clock[0])
    with app.test_request_context():
        town = db.session.get(Grid, tree["town_a"])
        cat = db.session.scalar(select(CaseCategory).where(CaseCategory.name == "环境"))
        assert ss.dashboard(town)["cases"].total.received == 0
        _case("NEW00001", tree["village_a2"], cat, utcnow(), events=[(utcnow(), "report", "reported", None, "")])
        db.session.commit()
        clock[0] += 29
        assert ss.dashboard(town)["cases"].total.received == 0  # still the cached figures
        clock[0] += 2
        assert ss.dashboard(town)["cases"].total.received == 0  # answered once more, worked out behind
        for t in threading.enumerate():
            if t.name == "stats-refresh":
                t.join()
        data = ss.dashboard(town)
        assert data["cases"].total.received == 1
        assert [a.name for a in data["attention"]][:1] != ["甲村"]
        _case("NEW00002", tree["village_a2"], cat, utcnow(), events=[(utcnow(), "report", "reported", None, "")])
        db.session.commit()
        clock[0] += 61
        assert ss.dashboard(town)["cases"].total.received == 2  # too old to answer: worked out first
    assert real_time.monotonic() > 0


def test_attention_names_the_village_with_an_overdue_case(app, tree, users):
    from datetime import timedelta

    from app.core.timeutil import utcnow

    with app.test_request_context():
        cat = db.session.scalar(select(CaseCategory).where(CaseCategory.name == "环境"))
        start = utcnow() - timedelta(days=3)
        c = _case("LATE0001", tree["village_a2"], cat, start, events=[
            (start, "report", "reported", None, ""), (start, "assign", "assigned", start + timedelta(days=1), "交办给 王五")])
        c.deadline_at = start + timedelta(days=1)
        db.session.commit()
        data = ss.dashboard(db.session.get(Grid, tree["town_a"]))
        assert data["overdue_now"] == 1
        first = data["attention"][0]
        assert first.name == "甲二村" and "超期未办结事件 1 件" in first.reasons


def test_the_dashboard_exports_to_excel(app, make_client, tree, users, october):
    from openpyxl import load_workbook

    c = make_client()
    c.login("township")
    wb = load_workbook(io.BytesIO(c.get(f"/stats/grids/{tree['town_a']}/dashboard.xlsx").data))
    assert len(wb.sheetnames) == 3 and wb.sheetnames[1] == "近12个月"
    rows = list(wb["近12个月"].iter_rows(values_only=True))
    assert rows[0][0].startswith("甲镇") and rows[0][0].endswith("网格工作概况") and rows[1][0] == "统计单位：甲镇"
    assert rows[-3][0] == "合计" or any(r[0] == "合计" for r in rows)
    figures = {r[0]: r[1] for r in wb.worksheets[0].iter_rows(values_only=True)}
    assert figures["受理事件"] == 0 and figures["建设缺项"] > 0


def test_a_long_build_out_list_is_cut_on_the_page_and_whole_in_excel(app, make_client, tree, users, monkeypatch):
    from openpyxl import load_workbook

    from app.stats import routes

    monkeypatch.setattr(routes, "SHOWN_FINDINGS", 1)
    c = make_client()
    c.login("township")
    html = c.get(f"/stats/grids/{tree['town_a']}/buildout").get_data(as_text=True)
    assert "另有" in html and "导出 Excel 可看全部" in html
    wb = load_workbook(io.BytesIO(c.get(f"/stats/grids/{tree['town_a']}/buildout.xlsx").data))
    sheet = next(ws for ws in wb.worksheets if ws.title.startswith("没有网格长的网格"))
    names = {r[0] for r in sheet.iter_rows(values_only=True)}
    assert {"甲村", "甲二村", "东庄自然村", "东庄一组"} <= names


def test_a_request_during_a_computation_waits_for_it_instead_of_working_it_out_again(app, monkeypatch):
    """The start-up warm-up (or a background refresh) is working out a grid's figures when a request
    asks for them: the request waits for that value; the figures are worked out once."""
    import threading

    waiting, release, started = threading.Event(), threading.Event(), threading.Event()

    class Watched(threading.Event):
        def wait(self, timeout=None):
            waiting.set()  # the request has arrived and waits on the computation under way
            return super().wait(timeout)

    monkeypatch.setattr(ss, "_Event", Watched)
    calls = []

    def slow():
        calls.append(1)
        started.set()
        release.wait(60)
        return "figures"

    answers = []
    with app.app_context():
        first = threading.Thread(target=lambda: app.app_context().push() or answers.append(ss.cached("k", 30, slow)))
        first.start()
        assert started.wait(60) and ss.working_on("k")
        second = threading.Thread(target=lambda: app.app_context().push() or answers.append(ss.cached("k", 30, slow)))
        second.start()
        assert waiting.wait(60)
        release.set()
        first.join(60)
        second.join(60)
        assert answers == ["figures", "figures"] and calls == [1] and not ss.working_on("k")


def test_the_warm_up_works_out_the_top_grids_dashboards(app, make_client, tree, users, monkeypatch):
    """After start-up the county's and townships' dashboards are worked out in the background; the
    first request reads them without working anything out. Off in tests and when switched off."""
    from app.core import warmup

    assert warmup.start(app) is None  # testing: no thread
    with app.app_context():
        assert [g.name for g in ss.top_grids()] == ["测试县", "甲镇", "乙镇"]
    monkeypatch.setattr(app, "testing", False)
    monkeypatch.setitem(app.config, "STATS_WARMUP", False)
    assert warmup.start(app) is None
    monkeypatch.setitem(app.config, "STATS_WARMUP", True)
    monkeypatch.delitem(app.extensions, "vg_warmup_thread", raising=False)
    from app.core import db as core_db

    real, writing = ss._dashboard, []
    # Outside a request a transaction begins IMMEDIATE (it may write); the warm-up only reads, and
    # must not hold SQLite's write lock for the seconds it takes (a login would wait, then fail).
    monkeypatch.setattr(ss, "_dashboard", lambda *a: writing.append(core_db.wants_immediate()) or real(*a))
    thread = warmup.start(app)
    assert thread is not None and warmup.start(app) is thread  # once per process
    thread.join(120)
    assert not thread.is_alive()
    assert writing == [False, False, False]
    keys = {k[1] for k in app.extensions["stats_cache"] if k[0] == "dashboard"}
    with app.app_context():
        assert keys == {db.session.get(Grid, tree[k]).path for k in ("county", "town_a", "town_b")}

    def not_again(*args):
        raise AssertionError("worked out again")

    monkeypatch.setattr(ss, "_dashboard", not_again)
    monkeypatch.setattr(app, "testing", True)
    c = make_client()
    c.login("township")
    assert c.get(f"/stats/grids/{tree['town_a']}/dashboard").status_code == 200


def test_the_work_page_is_cached_and_an_open_period_shows_a_new_record_within_a_minute(
        app, make_client, tree, users, monkeypatch):
    from app.core.timeutil import local_today
    from app.visits.models import Visit

    clock = [5000.0]
    monkeypatch.setattr(ss.time, "monotonic", lambda: clock[0])
    real, calls = ss.work_stats, []
    monkeypatch.setattr(ss, "work_stats", lambda *a, **k: calls.append(a[1].key) or real(*a, **k))
    c = make_client()
    c.login("township")
    past = f"/stats/grids/{tree['town_a']}/work?period=2025-10"
    assert c.get(past).status_code == 200 and c.get(past).status_code == 200
    assert c.get(f"/stats/grids/{tree['town_a']}/work.xlsx?period=2025-10").status_code == 200
    assert calls == ["2025-10"]  # the page, again, and its Excel: worked out once
    clock[0] += ss.CLOSED_TTL + 1
    assert c.get(past).status_code == 200 and calls == ["2025-10", "2025-10"]

    month = local_today().strftime("%Y-%m")
    now_url = f"/stats/grids/{tree['town_a']}/work?period={month}"

    assert c.get(now_url).status_code == 200 and c.get(now_url).status_code == 200
    assert calls[2:] == [month]
    clock[0] += ss.OPEN_TTL - 1
    assert c.get(now_url).status_code == 200 and calls[2:] == [month]  # within the half minute: kept
    clock[0] += 2
    assert c.get(now_url).status_code == 200 and calls[2:] == [month, month]  # read again
