"""Visits: recording (idempotent, photos, errors keep what was typed), rules as data, due and overdue at
month, quarter and year edges, coverage for leaders, the household's visit history PDF."""
import io
import re
from datetime import date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from app.accounts.models import User
from app.core.timeutil import LOCAL_TZ
from app.extensions import db
from app.households import service as hs
from app.grids.models import Grid
from app.households.models import ContactLink, Household, HouseholdCategory
from app.visits import service as vs
from app.visits.models import Visit, VisitPhoto, VisitRule
from tests.pdfcheck import check_pdf
from tests.factories import households, link
from tests.factories import add_visit, form_key, now_local, png, post_visit, visit_form


# Recording

def test_a_retried_submit_makes_one_visit(app, client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    key = visit_form(client, hid)
    first = post_visit(client, hid, key)
    second = post_visit(client, hid, key)
    assert first.status_code == 302 and second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert "没有重复登记" in client.get(second.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        visits = db.session.scalars(select(Visit)).all()
        assert len(visits) == 1
        assert [p.description for p in visits[0].problems] == ["屋顶漏雨", "路灯不亮"]
        assert visits[0].visited_on == now_local().date()


def test_service_is_idempotent_on_the_key(ctx, tree, users):
    (hid,) = households(tree["cluster_a"], 1)
    worker = db.session.get(User, users["worker"])
    h = db.session.get(Household, hid)
    a, created_a = vs.record_visit(worker, h, method="phone", visited_at_local=now_local(), learned="电话联系", key="k1")
    db.session.commit()
    b, created_b = vs.record_visit(worker, h, method="phone", visited_at_local=now_local(), learned="电话联系", key="k1")
    assert (created_a, created_b) == (True, False) and a.id == b.id
    assert db.session.scalar(select(func.count(Visit.id))) == 1


def test_a_refused_submit_keeps_what_was_typed(app, client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    key = visit_form(client, hid)
    resp = post_visit(client, hid, key, learned="", problems="", companions="村主任 王某")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422
    assert "请填写了解到的情况或发现的问题" in html and "已填写的内容都还在" in html
    assert 'value="村主任 王某"' in html and f'value="{key}"' in html
    future = (now_local() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert "走访时间不能晚于现在" in post_visit(client, hid, key, visited_at=future).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Visit.id))) == 0


def test_photos_are_resized_stored_and_served_only_in_scope(app, client, make_client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    key = visit_form(client, hid)
    resp = post_visit(client, hid, key, photos=[(png(), "roof.png"), (png(300, 200, "red", "JPEG"), "b.jpg")])
    assert resp.status_code == 302
    with app.app_context():
        photos = db.session.scalars(select(VisitPhoto).order_by(VisitPhoto.id)).all()
        assert [(p.width, p.height) for p in photos] == [(1600, 1200), (300, 200)]
        path = app.instance_path + "/uploads/" + photos[0].file_name
        with Image.open(path) as stored:
            assert stored.format == "JPEG"
        pid = photos[0].id
    img = client.get(f"/visits/photos/{pid}")
    assert img.status_code == 200 and img.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(img.data)).size == (1600, 1200)
    assert Image.open(io.BytesIO(client.get(f"/visits/photos/{pid}?size=thumb").data)).size[0] <= 360
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/visits/photos/{pid}").status_code == 404


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_saved(app, client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    key = visit_form(client, hid)
    resp = post_visit(client, hid, key, photos=[(io.BytesIO(b"%PDF-1.4 not an image"), "scan.pdf")])
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "文件“scan.pdf”不是照片或已损坏" in html
    with app.app_context():
        assert db.session.scalar(select(func.count(Visit.id))) == 0


def test_foreign_household_cannot_be_visited(app, make_client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_b"], 1)
    c = make_client()
    c.login("worker")
    assert c.get(f"/visits/new?household_id={hid}").status_code == 404


# Due and overdue

def old_households(tree, n, prefix="东庄"):
    ids = households(tree["cluster_a"], n, prefix)
    for hid in ids:
        db.session.get(Household, hid).created_at = datetime(2024, 1, 1)
    db.session.commit()
    return ids


def due_of(user_id, today):
    user = db.session.get(User, user_id)
    linked = dict(db.session.execute(select(ContactLink.household_id, ContactLink.since)
                                     .where(ContactLink.user_id == user_id)).all())
    return {i.household.id: i for i in vs.due_for_households(db.session.scalars(select(Household)).all(), user,
                                                             today, linked)}


def rule_names(item):
    return sorted(r.name for r, s, d, l in item.rules)


def statuses(item):
    return {r.name: (s, d) for r, s, d, l in item.rules}


MONTHLY = "联系户每月至少联系一次"
KEY_MONTHLY = "重点户（六类户）每月至少上门走访一次"
QUARTERLY = "普通户每季度至少上门走访一次"
LECTURE = "联系户每季度至少开展一次微宣讲"
YEARLY = "驻村干部每年至少走访每户一次"


def test_monthly_contact_due_then_overdue_across_the_month_edge(ctx, tree, users):
    a, b = old_households(tree, 2)
    link([a, b], users["worker"], since=date(2024, 6, 1))
    add_visit(users["worker"], a, date(2026, 10, 15), "phone")
    add_visit(users["worker"], b, date(2026, 11, 3), "phone")
    on_30 = due_of(users["worker"], date(2026, 11, 30))
    assert statuses(on_30[a])[MONTHLY] == ("due", date(2026, 11, 30))
    assert MONTHLY not in statuses(on_30[b])  # visited this month
    on_1 = due_of(users["worker"], date(2026, 12, 1))
    assert statuses(on_1[a])[MONTHLY] == ("overdue", date(2026, 11, 30))
    assert statuses(on_1[b])[MONTHLY] == ("due", date(2026, 12, 31))
    assert on_1[a].status == "overdue"
    assert on_1[a].overdue_days == (date(2026, 12, 1) - on_1[a].deadline).days > 0


def test_phone_calls_count_as_contact_but_not_as_in_person_visits(ctx, tree, users):
    (a,) = old_households(tree, 1)
    link([a], users["worker"], since=date(2024, 6, 1))
    hs.tag(db.session.get(Household, a), db.session.scalar(select(HouseholdCategory).where(
        HouseholdCategory.key == "empty_nest")), date(2025, 1, 1), "独居")
    db.session.commit()
    add_visit(users["worker"], a, date(2026, 11, 2), "phone")
    add_visit(users["worker"], a, date(2026, 10, 2), "door")
    st = statuses(due_of(users["worker"], date(2026, 11, 20))[a])
    assert MONTHLY not in st
    assert st[KEY_MONTHLY] == ("due", date(2026, 11, 30))
    assert QUARTERLY not in st  # a key household is not an ordinary one


def test_quarter_edges(ctx, tree, users):
    (a,) = old_households(tree, 1)
    add_visit(users["worker"], a, date(2026, 9, 30), "door")
    def st(day):
        item = due_of(users["worker"], day).get(a)
        return statuses(item) if item else {}
    assert QUARTERLY not in st(date(2026, 9, 30))
    assert st(date(2026, 10, 1))[QUARTERLY] == ("due", date(2026, 12, 31))
    assert st(date(2026, 12, 31))[QUARTERLY] == ("due", date(2026, 12, 31))
    assert st(date(2027, 1, 1))[QUARTERLY] == ("overdue", date(2026, 12, 31))
    add_visit(users["worker"], a, date(2027, 1, 1), "group")
    assert QUARTERLY not in st(date(2027, 1, 1))


def test_lecture_each_quarter_for_linked_households(ctx, tree, users):
    (a,) = old_households(tree, 1)
    link([a], users["worker"], since=date(2024, 6, 1))
    add_visit(users["worker"], a, date(2026, 8, 10), "lecture")
    assert statuses(due_of(users["worker"], date(2026, 12, 1))[a])[LECTURE] == ("due", date(2026, 12, 31))
    assert statuses(due_of(users["worker"], date(2027, 1, 2))[a])[LECTURE] == ("overdue", date(2026, 12, 31))


def test_year_edge_counts_only_cadre_visits(ctx, tree, users):
    (a,) = old_households(tree, 1)
    add_visit(users["worker"], a, date(2026, 12, 31), "door")  # a worker's visit does not satisfy the cadre rule
    leader_view = lambda day: statuses(due_of(users["leader"], day)[a])
    assert leader_view(date(2026, 12, 31))[YEARLY][0] == "overdue"
    add_visit(users["leader"], a, date(2025, 12, 31), "door")
    assert leader_view(date(2026, 1, 1))[YEARLY] == ("due", date(2026, 12, 31))
    assert leader_view(date(2027, 1, 1))[YEARLY] == ("overdue", date(2026, 12, 31))
    # workers are not shown the cadre rule at all
    assert YEARLY not in statuses(due_of(users["worker"], date(2027, 1, 1))[a])


def test_new_household_is_due_not_overdue(ctx, tree, users):
    (a,) = households(tree["cluster_a"], 1)  # created today
    link([a], users["worker"], since=date.today())
    item = due_of(users["worker"], date.today())[a]
    assert item.status == "due"


def test_home_screen_lists_overdue_first_and_due_this_week(app, client, tree, users):
    with app.app_context():
        ids = old_households(tree, 3)
        link(ids, users["worker"], since=date(2024, 6, 1))
        today = date.today()
        add_visit(users["worker"], ids[1], today, "door")
        add_visit(users["worker"], ids[1], today, "lecture")
        add_visit(users["worker"], ids[1], today, "group")  # this quarter's 集中走访 round
    client.login("worker")
    html = client.get("/").get_data(as_text=True)
    assert "待走访" in html and "已逾期" in html
    overdue = html.split("已逾期（")[1].split("</ul>")[0]
    assert "东庄1号" in overdue and "东庄3号" in overdue and "东庄2号" not in overdue
    assert f"/visits/new?household_id={ids[0]}" in html
    due_page = client.get("/visits/due").get_data(as_text=True)
    assert "东庄1号" in due_page and "东庄3号" in due_page


# Rules as data

def test_village_admin_customises_and_resets_rules(app, client, tree, users):
    client.login("village_admin")
    grid = tree["village_a"]
    page = client.get(f"/visits/rules?grid_id={grid}").get_data(as_text=True)
    assert "使用系统默认规则" in page
    assert client.post(f"/visits/rules/customize?grid_id={grid}").status_code == 302
    with app.app_context():
        own = db.session.scalars(select(VisitRule).where(VisitRule.grid_id == grid)).all()
        assert len(own) == 6
        quarterly = next(r for r in own if r.name == QUARTERLY)
    resp = client.post(f"/visits/rules/{quarterly.id}/edit", {"name": "普通户每月上门", "target": "ordinary",
                                                               "methods": ["door"], "period": "month",
                                                               "visitor": "any", "active": "y"})
    assert resp.status_code == 302
    with app.app_context():
        (a,) = old_households(tree, 1)
        add_visit(users["worker"], a, date(2026, 10, 5), "door")
        st = statuses(due_of(users["worker"], date(2026, 11, 10))[a])
        assert st["普通户每月上门"] == ("due", date(2026, 11, 30))
        assert QUARTERLY not in st
        # another village still follows the defaults
        assert vs.rules_owner_id(db.session.get(Grid, tree["village_a2"])) is None
    bad = client.post(f"/visits/rules/new?grid_id={grid}", {"name": "", "target": "all", "period": "year",
                                                             "visitor": "any"})
    assert bad.status_code == 422 and "请填写规则名称" in bad.get_data(as_text=True)
    assert client.post(f"/visits/rules/reset?grid_id={grid}").status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(VisitRule.id)).where(VisitRule.grid_id == grid)) == 0


GROUP_ROUND = "每季度一轮集中走访（每年四轮）"


def tag_household(hid, key, start=date(2024, 1, 1)):
    h = db.session.get(Household, hid)
    hs.tag(h, db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == key)), start, "核定")
    db.session.commit()


def test_a_category_rule_puts_hardship_households_on_the_monthly_due_list(app, client, tree, users):
    with app.app_context():
        hard, plain, party = old_households(tree, 3)
        link([hard, plain, party], users["worker"], since=date(2024, 6, 1))
        tag_household(hard, "hardship_dibao")  # 困难户/低保户: a 五必访 group, not a 重点户
        db.session.get(Household, party).head.political_status = "中共党员"
        db.session.commit()
        for hid in (hard, plain, party):
            add_visit(users["worker"], hid, date(2026, 10, 20), "door")
    client.login("village_admin")
    grid = tree["village_a"]
    form = client.get(f"/visits/rules/new?grid_id={grid}").get_data(as_text=True)
    assert "困难户/低保户" in form and "党员户" in form and "全部六类户" in form
    refused = client.post(f"/visits/rules/new?grid_id={grid}", {"name": "困难户每月上门", "target": "categories",
                                                                 "methods": ["door"], "period": "month",
                                                                 "visitor": "any", "active": "y"})
    assert refused.status_code == 422 and "请至少勾选一个类别" in refused.get_data(as_text=True)
    for name, keys in (("困难户每月上门", ["hardship_dibao"]), ("党员户每月微宣讲", ["party_members"])):
        resp = client.post(f"/visits/rules/new?grid_id={grid}", {
            "name": name, "target": "categories", "categories": keys, "methods": ["lecture" if "党员" in name else "door"],
            "period": "month", "visitor": "any", "active": "y"})
        assert resp.status_code == 302, resp.get_data(as_text=True)
    rules = client.get(f"/visits/rules?grid_id={grid}").get_data(as_text=True)
    assert "困难户/低保户" in rules and "党员户" in rules
    with app.app_context():
        due = due_of(users["worker"], date(2026, 11, 10))
        assert statuses(due[hard])["困难户每月上门"] == ("due", date(2026, 11, 30))
        assert "困难户每月上门" not in statuses(due[plain]) and "困难户每月上门" not in statuses(due[party])
        assert statuses(due[party])["党员户每月微宣讲"] == ("overdue", date(2026, 10, 31))  # no lecture in October
        assert "党员户每月微宣讲" not in statuses(due[hard])
        # the category's membership ends: the rule no longer asks anything of the household
        t = next(t for t in db.session.get(Household, hard).tags if t.active)
        t.end_date = date(2026, 11, 1)
        db.session.commit()
        assert "困难户每月上门" not in statuses(due_of(users["worker"], date(2026, 11, 10))[hard])


def test_the_key_flag_of_a_category_is_changed_in_the_app(app, client, make_client, tree, users):
    with app.app_context():
        (a,) = old_households(tree, 1)
        link([a], users["worker"], since=date(2024, 6, 1))
        tag_household(a, "hardship_dibao")
        add_visit(users["worker"], a, date(2026, 11, 2), "phone")
        cat_id = db.session.scalar(select(HouseholdCategory.id).where(HouseholdCategory.key == "hardship_dibao"))
        assert KEY_MONTHLY not in statuses(due_of(users["worker"], date(2026, 11, 10))[a])
    village = make_client()
    village.login("village_admin")
    page = village.get("/categories").get_data(as_text=True)
    assert f"/categories/{cat_id}/key" not in page  # the shared categories are the admin's
    village.post(f"/categories/{cat_id}/key", {"is_key": "1"})
    with app.app_context():
        assert not db.session.get(HouseholdCategory, cat_id).is_key
    client.login("admin")
    assert f"/categories/{cat_id}/key" in client.get("/categories").get_data(as_text=True)
    resp = client.post(f"/categories/{cat_id}/key", {"is_key": "1"}, follow_redirects=True)
    assert "已设为重点户类别" in resp.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(HouseholdCategory, cat_id).is_key
        assert statuses(due_of(users["worker"], date(2026, 11, 10))[a])[KEY_MONTHLY] == ("overdue", date(2026, 10, 31))
    # a village's own category can be created as a 重点户 one by the village
    village.get("/categories")
    village.post("/categories", {"grid_id": tree["village_a"], "name": "示范户", "is_key": "y",
                                 "form_key": form_key(village.get("/categories").get_data(as_text=True))})
    with app.app_context():
        own = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.name == "示范户"))
        assert own.is_key and own.grid_id == tree["village_a"]


def test_the_four_group_visit_rounds_are_a_default_rule(ctx, tree, users):
    vs.ensure_visit_rules()
    (a,) = old_households(tree, 1)
    add_visit(users["worker"], a, date(2026, 8, 3), "door")
    st = statuses(due_of(users["worker"], date(2026, 11, 10))[a])
    assert st[GROUP_ROUND] == ("overdue", date(2026, 9, 30))
    add_visit(users["worker"], a, date(2026, 11, 5), "group")
    after = due_of(users["worker"], date(2026, 11, 10))
    assert a not in after or GROUP_ROUND not in statuses(after[a])


def test_the_visit_form_opens_with_the_method_that_satisfies_the_due_item(app, client, tree, users):
    with app.app_context():
        (a,) = old_households(tree, 1)
        link([a], users["worker"], since=date(2024, 6, 1))
        today = now_local().date()
        add_visit(users["worker"], a, today, "door")  # contact, in person, the group round not yet: lecture due
        add_visit(users["worker"], a, today, "group")
    client.login("worker")
    due = client.get("/visits/due").get_data(as_text=True)
    assert f"/visits/new?household_id={a}&amp;method=lecture" in due
    assert "需微宣讲" in due
    form = client.get(f"/visits/new?household_id={a}&method=lecture").get_data(as_text=True)
    assert re.search(r'<input checked id="method-\d+" name="method" required type="radio" value="lecture">', form), form
    # without the hint in the address, the form still opens with what is due
    form = client.get(f"/visits/new?household_id={a}").get_data(as_text=True)
    assert re.search(r'<input checked id="method-\d+" name="method" required type="radio" value="lecture">', form)
    assert "本户待走访" in form and "需微宣讲" in form
    # a lecture saved from that form settles the item
    key = form_key(form)
    assert post_visit(client, a, key, method="lecture").status_code == 302
    due = client.get("/visits/due").get_data(as_text=True)
    assert f"household_id={a}" not in due


def test_workers_cannot_change_rules(client, tree, users):
    client.login("worker")
    client.get("/")
    assert client.post(f"/visits/rules/customize?grid_id={tree['cluster_a']}").status_code == 403


# Coverage

def test_coverage_chart_and_unvisited_list(app, client, tree, users):
    with app.app_context():
        ids = households(tree["cluster_a"], 4)
        link(ids[:2], users["worker"])
        add_visit(users["worker"], ids[0], date.today(), "door")
        add_visit(users["worker"], ids[2], date.today(), "phone")
    client.login("leader")
    html = client.get(f"/visits/coverage?grid_id={tree['village_a']}").get_data(as_text=True)
    assert "<svg" in html and "各网格走访覆盖率" in html
    assert "50%（2/4）" in html   # the natural village: 2 of 4 households visited
    assert "50%（1/2）" in html   # the worker: 1 of 2 linked households visited
    unvisited = html.split("本期无人走访的户")[1]
    assert "东庄2号" in unvisited and "东庄4号" in unvisited and "东庄1号" not in unvisited
    quarter = client.get(f"/visits/coverage?grid_id={tree['village_a']}&period=quarter")
    assert quarter.status_code == 200 and "季度" in quarter.get_data(as_text=True)
    client.logout()
    client.login("worker")
    assert client.get("/visits/coverage").status_code == 403


# PDF

def test_household_visit_history_pdf(app, client, tree, users, tmp_path):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
        h = db.session.get(Household, hid)
        full_id = h.head.id_number
        for i in range(3):
            add_visit(users["worker"], hid, date.today() - timedelta(days=i), ["door", "phone", "lecture"][i])
        v = db.session.scalar(select(Visit).order_by(Visit.id))
        v.learned = f"户主身份证 {full_id} 已核对，家中有留守儿童。"
        db.session.commit()
    client.login("worker")
    resp = client.get(f"/households/{hid}/visits.pdf")
    assert resp.status_code == 200 and resp.mimetype == "application/pdf"
    text = check_pdf(resp.data, tmp_path, expect_pages=1, must_contain=["走访记录（民情日记）", "东庄1号", "上门", "电话", "微宣讲",
                                                                        "第1页/共1页", "家中有留守儿童"])
    assert full_id not in text.replace(" ", "")


@pytest.fixture
def freeze(monkeypatch):
    """Freeze the app's clock (app.core.timeutil) at a moment in China's time."""
    from app.core import timeutil

    def _freeze(local):
        class Frozen(datetime):
            @classmethod
            def now(cls, tz=None):
                aware = local.replace(tzinfo=LOCAL_TZ)
                return aware.astimezone(tz) if tz else aware.replace(tzinfo=None)

        monkeypatch.setattr(timeutil, "datetime", Frozen)

    return _freeze


def test_due_page_with_the_clock_frozen_at_the_month_edge(app, client, tree, users, freeze):
    with app.app_context():
        (a,) = old_households(tree, 1)
        link([a], users["worker"], since=date(2024, 6, 1))
        add_visit(users["worker"], a, date(2026, 10, 20), "phone")
        add_visit(users["worker"], a, date(2026, 10, 20), "lecture")
        add_visit(users["worker"], a, date(2026, 10, 20), "door")
        add_visit(users["worker"], a, date(2026, 10, 20), "group")
    freeze(datetime(2026, 11, 30, 23, 50))
    client.login("worker")
    html = client.get("/visits/due").get_data(as_text=True)
    this_week = html.split("本周到期（")[1].split("</section>")[0]
    assert "东庄1号" in this_week and "11月30日前" in this_week and MONTHLY in this_week
    freeze(datetime(2026, 12, 1, 0, 10))
    html = client.get("/visits/due").get_data(as_text=True)
    overdue = html.split("已逾期（")[1].split("</section>")[0]
    assert "东庄1号" in overdue and "已逾期 1 天" in overdue and MONTHLY in overdue
    assert "东庄1号" in client.get("/").get_data(as_text=True).split("已逾期（")[1]


# Corrections

def test_the_visitor_corrects_a_visit_until_the_week_is_checked(app, client, make_client, tree, users):
    from app.core.models import AuditLog
    from app.worklogs import service as ws

    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    saved = post_visit(client, hid, visit_form(client, hid))
    url = saved.headers["Location"]
    vid = int(url.rstrip("/").rsplit("/", 1)[1])
    page = client.get(url).get_data(as_text=True)
    assert f"/visits/{vid}/edit" in page
    # one problem becomes a case: it stays as it is, the others can be changed
    client.post(f"/visits/problems/{_problem_id(app, vid, '屋顶漏雨')}/case")
    form = client.get(f"/visits/{vid}/edit").get_data(as_text=True)
    assert "已转为事件的问题" in form and "屋顶漏雨" in form
    assert re.search(r"<textarea[^>]*name=\"problems\"[^>]*>\s*路灯不亮</textarea>", form)
    when = (now_local() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    done = client.post(f"/visits/{vid}/edit", {"method": "phone", "visited_at": when, "companions": "村主任 王某",
                                                "learned": "电话了解：老人身体尚可。", "problems": "门前路灯不亮\n水管漏水"})
    assert done.status_code == 302
    shown = client.get(url).get_data(as_text=True)
    assert "修改过" in shown and "电话了解：老人身体尚可。" in shown and "村主任 王某" in shown
    with app.app_context():
        v = db.session.get(Visit, vid)
        assert v.method == "phone" and v.visited_on == (now_local() - timedelta(hours=2)).date()
        assert sorted(p.description for p in v.problems) == ["屋顶漏雨", "水管漏水", "门前路灯不亮"]
        assert [p.description for p in v.problems if p.case_id] == ["屋顶漏雨"]
        changes = db.session.scalars(select(AuditLog).where(AuditLog.entity == "visit", AuditLog.action == "update")).all()
        assert any("method: door → phone" in a.summary for a in changes)
        assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.entity == "visit_problem",
                                                                        AuditLog.action == "delete")) == 1
    # a refused correction changes nothing and keeps what was typed
    bad = client.post(f"/visits/{vid}/edit", {"method": "door", "visited_at": (now_local() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
                                               "learned": "改成上门", "problems": ""})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "走访时间不能晚于现在" in text and "改成上门" in text
    with app.app_context():
        assert db.session.get(Visit, vid).method == "phone"
    # nobody else may correct it, not even a leader who sees it
    leader = make_client()
    leader.login("leader")
    assert "修改</a>" not in leader.get(url).get_data(as_text=True)
    assert leader.post(f"/visits/{vid}/edit", {"method": "door", "visited_at": when, "learned": "x"}).status_code == 302
    with app.app_context():
        assert db.session.get(Visit, vid).learned == "电话了解：老人身体尚可。"
    # once the week is checked the record stays as checked
    with app.app_context():
        v = db.session.get(Visit, vid)
        ws.check_week(db.session.get(User, users["leader"]), db.session.get(User, users["worker"]),
                      vs.week_bounds(v.visited_on)[0], "已查")
        db.session.commit()
    locked = client.get(url).get_data(as_text=True)
    assert f"/visits/{vid}/edit" not in locked and "不能再修改" in locked
    refused = client.post(f"/visits/{vid}/edit", {"method": "door", "visited_at": when, "learned": "再改"})
    assert refused.status_code == 302
    with app.app_context():
        assert db.session.get(Visit, vid).learned == "电话了解：老人身体尚可。"


def test_a_correction_cannot_move_a_visit_into_a_checked_week(ctx, tree, users):
    from app.core.forms import ServiceError
    from app.worklogs import service as ws

    (hid,) = households(tree["cluster_a"], 1)
    worker = db.session.get(User, users["worker"])
    now = now_local()
    last_week = now - timedelta(days=7)
    visit, _ = vs.record_visit(worker, db.session.get(Household, hid), method="door", visited_at_local=now,
                               learned="上门了解情况", key="move")
    ws.check_week(db.session.get(User, users["leader"]), worker, vs.week_bounds(last_week.date())[0], "")
    db.session.commit()
    with pytest.raises(ServiceError, match="不能再修改"):
        vs.update_visit(worker, visit, method="door", visited_at_local=last_week, learned="上门了解情况")
    db.session.rollback()
    assert db.session.get(Visit, visit.id).visited_on == now.date()


def _problem_id(app, vid, text):
    from app.visits.models import VisitProblem

    with app.app_context():
        return db.session.scalar(select(VisitProblem.id).where(VisitProblem.visit_id == vid,
                                                               VisitProblem.description == text))


def test_photo_files_of_a_save_that_is_not_committed_are_removed(ctx, app, tree, users):
    """Files are written before the commit: a rollback (a refusal, a conflict at commit, an error) deletes
    them, a commit keeps them, for visits as for case photos and agreement scans (core.uploads)."""
    from pathlib import Path

    from werkzeug.datastructures import FileStorage

    from app.core import photos

    def files_under(sub):
        return sorted(p.name for p in (Path(app.instance_path) / sub).rglob("*.jpg"))

    (hid,) = households(tree["cluster_a"], 1)
    worker = db.session.get(User, users["worker"])
    household = db.session.get(Household, hid)
    before = files_under("uploads")
    vs.record_visit(worker, household, method="door", visited_at_local=now_local(), learned="上门",
                    photos=[FileStorage(png(), "a.png")], key="rolled-back")
    assert len(files_under("uploads")) == len(before) + 2  # the photo and its thumbnail, written
    db.session.rollback()
    assert files_under("uploads") == before
    vs.record_visit(worker, household, method="door", visited_at_local=now_local(), learned="上门",
                    photos=[FileStorage(png(), "a.png")], key="kept")
    db.session.commit()
    kept = files_under("uploads")
    assert len(kept) == len(before) + 2
    db.session.rollback()  # a later rollback does not touch what was committed
    assert files_under("uploads") == kept

    before = files_under("case_photos")
    photos.store_flat([FileStorage(png(400, 300), "hole.png")], "case_photos")
    assert len(files_under("case_photos")) == len(before) + 1
    db.session.remove()  # the request ends on an error: the session is closed without a commit
    assert files_under("case_photos") == before


def test_the_visitor_deletes_a_visit_recorded_by_mistake(app, client, make_client, tree, users):
    from pathlib import Path

    from app.core.models import AuditLog
    from app.visits.models import VisitProblem

    with app.app_context():
        (hid, other) = households(tree["cluster_a"], 2)
    client.login("worker")
    wrong = post_visit(client, other, visit_form(client, other), photos=[(png(), "a.png")])
    url = wrong.headers["Location"]
    vid = int(url.rsplit("/", 1)[1])
    with app.app_context():
        photo = db.session.scalar(select(VisitPhoto).where(VisitPhoto.visit_id == vid))
        files = [Path(app.instance_path) / "uploads" / photo.file_name]
    assert all(f.is_file() for f in files)
    assert "删除这条走访记录" in client.get(url).get_data(as_text=True)
    # nobody else may delete it
    leader = make_client()
    leader.login("leader")
    leader.get(url)
    refused = leader.post(f"/visits/{vid}/delete")
    assert refused.status_code == 302 and refused.headers["Location"] == url
    assert "只有走访人本人可以删除这条走访记录。" in leader.get(url).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Visit, vid) is not None
    # no deleting by GET
    assert client.get(f"/visits/{vid}/delete").status_code == 405
    done = client.post(f"/visits/{vid}/delete")
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/households/{other}")
    with app.app_context():
        assert db.session.get(Visit, vid) is None
        assert db.session.scalar(select(func.count(VisitProblem.id)).where(VisitProblem.visit_id == vid)) == 0
        assert db.session.scalar(select(func.count(VisitPhoto.id)).where(VisitPhoto.visit_id == vid)) == 0
        deleted = db.session.scalar(select(AuditLog).where(AuditLog.entity == "visit", AuditLog.action == "delete"))
        assert deleted is not None and "老人身体尚可" in deleted.summary
    assert not any(f.exists() for f in files)
    assert client.get(url).status_code == 404


def test_a_visit_whose_problem_became_a_case_is_not_deleted(app, client, tree, users):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    url = post_visit(client, hid, visit_form(client, hid)).headers["Location"]
    vid = int(url.rsplit("/", 1)[1])
    client.post(f"/visits/problems/{_problem_id(app, vid, '路灯不亮')}/case")
    assert "删除这条走访记录" not in client.get(url).get_data(as_text=True)
    refused = client.post(f"/visits/{vid}/delete")
    assert refused.status_code == 302
    assert "已转为事件，走访记录不能删除" in client.get(refused.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Visit, vid) is not None


def test_a_correction_removes_and_adds_photos(app, client, tree, users):
    from pathlib import Path

    from app.core.models import AuditLog

    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("worker")
    url = post_visit(client, hid, visit_form(client, hid),
                     photos=[(png(), "a.png"), (png(300, 200, "red", "JPEG"), "b.jpg")]).headers["Location"]
    vid = int(url.rsplit("/", 1)[1])
    with app.app_context():
        first, second = db.session.scalars(select(VisitPhoto).where(VisitPhoto.visit_id == vid).order_by(VisitPhoto.id))
        first_id, first_file = first.id, Path(app.instance_path) / "uploads" / first.file_name
    form = client.get(f"/visits/{vid}/edit").get_data(as_text=True)
    assert f'name="remove_photo" value="{first_id}"' in form and 'enctype="multipart/form-data"' in form
    fields = {"method": "door", "visited_at": now_local().strftime("%Y-%m-%dT%H:%M"), "learned": "老人身体尚可。",
              "problems": ""}
    # too many: 2 kept + 5 new > 6, nothing changes and the reason is next to the photos
    many = client.post(f"/visits/{vid}/edit", {**fields, "photos": [(png(50, 50), f"{i}.png") for i in range(5)]},
                       content_type="multipart/form-data")
    assert many.status_code == 422
    assert "保留 2 张，最多再加 4 张，这次选了 5 张" in many.get_data(as_text=True)
    done = client.post(f"/visits/{vid}/edit", {**fields, "remove_photo": str(first_id),
                                                "photos": [(png(800, 600, "green"), "c.png")]},
                       content_type="multipart/form-data")
    assert done.status_code == 302
    with app.app_context():
        photos = db.session.scalars(select(VisitPhoto).where(VisitPhoto.visit_id == vid).order_by(VisitPhoto.id)).all()
        assert [(p.width, p.height) for p in photos] == [(300, 200), (800, 600)]
        assert all((Path(app.instance_path) / "uploads" / p.file_name).is_file() for p in photos)
        row = db.session.scalar(select(AuditLog).where(AuditLog.entity == "visit", AuditLog.summary.contains("照片")))
        assert "删除 1 张，新增 1 张" in row.summary
    assert not first_file.exists()


def test_the_demo_visit_history_follows_the_rules_mostly_on_time(ctx, tree, users):
    """The demo's visits: each month's contact, each quarter's 微宣讲 and 集中走访 round, with a few
    households left behind: some overdue, most on time, nothing in the future."""
    import random
    from datetime import timedelta

    from app import demo
    from app.core.timeutil import local_today
    worker, leader = db.session.get(User, users["worker"]), db.session.get(User, users["leader"])
    ids = households(tree["cluster_a"], 40)
    year_ago = local_today() - timedelta(days=400)
    link(ids[:30], worker.id, since=year_ago)
    for h in db.session.scalars(select(Household).where(Household.id.in_(ids))):
        h.created_at = datetime.combine(year_ago, datetime.min.time())
    db.session.commit()
    today = local_today()
    made = demo.demo_visit_history(db.session.get(Grid, tree["village_a"]), worker, leader, random.Random(5), 0.8, today)
    db.session.commit()
    assert made and all(v.visited_on < today for v in made)
    assert {v.method for v in made} == {"door", "phone", "lecture", "group"}
    # the rounds reach every household, the unlinked ones through the village's cadres
    assert {v.household_id for v in made if v.method == "group"} >= set(ids[30:])
    assert all(v.by_cadre == (v.user_id == leader.id) for v in made)
    items = vs.my_due(worker, today)
    overdue = [i for i in items if i.status == "overdue"]
    assert 0 < len(overdue) <= 12, len(overdue)  # some of the 30, not all
