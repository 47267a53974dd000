"""联系户: assigning a household's worker, the worker's own list, the leader's view with the 20–30 rule, bulk assign."""
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from app.core.timeutil import local_today
from app.accounts.models import User
from app.core.forms import ServiceError
from app.core.models import AuditLog
from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid
from app.households import contacts
from app.households import service as hs
from app.households.models import ContactLink, Household, HouseholdCategory
from tests.factories import Admin, households, idn, link

def row(html, name):
    """The table row that names ``name``."""
    return next(r for r in re.findall(r"<tr>.*?</tr>", html, re.S) if name in r)


def test_assign_and_change_on_the_household_page(client, tree, users, make_user, app):
    li = make_user("li", "worker", [tree["cluster_a"]], full_name="李网格")
    wang = make_user("wang", "leader", [tree["village_a"]], full_name="王组长")
    make_user("zhao", "worker", [tree["cluster_a"]], full_name="赵停用", is_disabled=True)
    make_user("qian", "township", [tree["cluster_a"]], full_name="钱干部")
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    client.login("leader")
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    assert "尚未安排联系网格员" in page and "安排联系人" in page
    form = page[page.index('id="contact-assign"'):]
    form = form[:form.index("</details>")]
    assert "李网格（网格员）" in form and "王组长（网格长）" in form
    assert "赵停用" not in form and "钱干部" not in form and "worker_b" not in form

    assert client.post(f"/households/{hid}/contact", {"user_id": li}).status_code == 302
    with app.app_context():
        first = db.session.scalar(select(ContactLink).where(ContactLink.household_id == hid))
        assert (first.user_id, first.since) == (li, local_today())
        first.since = date(2024, 5, 1)  # pretend it is an old link
        db.session.commit()
    assert "李网格" in client.get(f"/households/{hid}").get_data(as_text=True)

    # Changing the worker updates the one row (and its date); both steps are audited.
    assert client.post(f"/households/{hid}/contact", {"user_id": wang}).status_code == 302
    with app.app_context():
        rows = db.session.scalars(select(ContactLink).where(ContactLink.household_id == hid)).all()
        assert [(r.user_id, r.since) for r in rows] == [(wang, local_today())]
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "contact_link")).all()
        assert "create" in actions and "update" in actions

    same = client.post(f"/households/{hid}/contact", {"user_id": wang})
    assert "王组长 已是本户的联系人" in same.get_data(as_text=True)
    foreign = client.post(f"/households/{hid}/contact", {"user_id": users["worker_b"]})
    assert foreign.status_code == 422 and "所选人员不能联系本户" in foreign.get_data(as_text=True)
    assert client.post(f"/households/{hid}/contact", {"user_id": 0}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.count(ContactLink.id))) == 0


def test_only_assign_contacts_roles_may_assign(make_client, tree, users, app):
    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
    for role in ("worker", "auditor"):
        c = make_client()
        c.login(role)
        page = c.get(f"/households/{hid}").get_data(as_text=True)
        assert 'id="contact-assign"' not in page
        assert c.get(f"/households/{hid}/contact").status_code == 403
        assert c.post(f"/households/{hid}/contact", {"user_id": users["worker"]}).status_code == 403
        assert c.get(f"/grids/{tree['village_a']}/contacts").status_code == 403
    c = make_client()
    c.login("village_admin")
    assert c.get(f"/households/{hid}/contact").status_code == 200
    assert c.get(f"/grids/{tree['cluster_b']}/contacts").status_code == 404


def test_my_households_shows_only_mine(make_client, tree, users, make_user, app):
    li = make_user("li", "worker", [tree["cluster_a"]], full_name="李网格")
    with app.app_context():
        mine = households(tree["cluster_a"], 2, "我联系", phone="13905720011")
        theirs = households(tree["cluster_a"], 1, "别人联系")
        households(tree["cluster_a"], 1, "无人联系")
        archived = households(tree["cluster_a"], 1, "已注销")
        link(mine + archived, users["worker"])
        link(theirs, li)
        h = db.session.get(Household, mine[0])
        hs.tag(h, db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "empty_nest")), None)
        a = db.session.get(Household, archived[0])
        hs.change_status(a.head, "moved_out", date.today(), "迁往县城")
        hs.archive_household(a, "全户迁出")
        db.session.commit()
    c = make_client()
    c.login("worker")
    home = c.get("/").get_data(as_text=True)
    assert "我的联系户" in home and "2 户" in home
    page = c.get("/contacts/mine").get_data(as_text=True)
    assert "我联系1号" in page and "我联系2号" in page
    assert "别人联系" not in page and "无人联系" not in page and "已注销" not in page
    assert 'href="tel:13905720011"' in page and "空巢老人户" in page and "户主1" in page
    assert "共 2 户" in page
    other = make_client()
    other.login("li")
    page = other.get("/contacts/mine").get_data(as_text=True)
    assert "别人联系1号" in page and "我联系" not in page
    # Staff without households and not workers see no link; a worker without any still does.
    t = make_client()
    t.login("township")
    assert "我的联系户" not in t.get("/").get_data(as_text=True)
    b = make_client()
    b.login("worker_b")
    assert "我的联系户" in b.get("/").get_data(as_text=True)
    assert "您还没有联系户" in b.get("/contacts/mine").get_data(as_text=True)


def test_leader_view_flags_the_sizing_rule_and_lists_unlinked(client, tree, users, make_user, app):
    few = make_user("few", "worker", [tree["cluster_a"]], full_name="少户网格员")
    ok = make_user("ok", "worker", [tree["cluster_a"]], full_name="足户网格员")
    with app.app_context():
        ids = households(tree["cluster_a"], 30)
        link(ids[:2], few)
        link(ids[2:27], ok)
        households(tree["cluster_b"], 1, "乙村")
        grid = db.session.get(Grid, tree["cluster_a"])
        gs.assign_staff(grid, "worker", db.session.get(User, few))
        db.session.commit()
    client.login("leader")
    grid_page = client.get(f"/grids/{tree['village_a']}").get_data(as_text=True)
    assert f"/grids/{tree['village_a']}/contacts" in grid_page
    html = client.get(f"/grids/{tree['village_a']}/contacts").get_data(as_text=True)
    assert "每人联系 20–30 户" in html
    few_row, ok_row = row(html, "少户网格员"), row(html, "足户网格员")
    assert "<strong>2</strong>" in few_row and "少于 20 户" in few_row
    assert "<strong>25</strong>" in ok_row and "符合 20–30 户" in ok_row and "少于" not in ok_row
    assert "少于 20 户" in row(html, ">worker<")  # the fixture's worker links nobody
    unlinked = html[html.index('id="unlinked"'):]
    assert [f"东庄{i}号" for i in (28, 29, 30)] == re.findall(r"(东庄\d+号)</label>", unlinked)
    assert "乙村" not in unlinked
    with app.app_context():
        loads = {w.user.full_name: w for w in contacts.workers_of(db.session.get(Grid, tree["village_a"]))}
        assert (loads["少户网格员"].total, loads["少户网格员"].flag) == (2, "少于 20 户")
        assert (loads["足户网格员"].total, loads["足户网格员"].flag) == (25, None)
        assert contacts.WorkerLoad(loads["足户网格员"].user, 31, 31).flag == "多于 30 户"
        assert contacts.WorkerLoad(loads["足户网格员"].user, 20, 0).flag is None


def test_unlinked_list_is_paginated(client, tree, users, app):
    app.config["PAGE_SIZE"] = 5
    try:
        with app.app_context():
            households(tree["cluster_a"], 7)
        client.login("village_admin")
        first = client.get(f"/grids/{tree['village_a']}/contacts").get_data(as_text=True)
        assert "第 1 / 2 页，共 7 条" in first
        assert f"/grids/{tree['village_a']}/contacts?page=2" in first
        second = client.get(f"/grids/{tree['village_a']}/contacts?page=2").get_data(as_text=True)
        assert len(re.findall(r'name="household_ids"', second)) == 2
    finally:
        app.config["PAGE_SIZE"] = 50


def test_bulk_assign(client, tree, users, make_user, app):
    li = make_user("li", "worker", [tree["cluster_a"]], full_name="李网格")
    with app.app_context():
        ids = households(tree["cluster_a"], 4)
        (foreign,) = households(tree["cluster_b"], 1, "乙村")
        link(ids[3:], users["worker"])
    client.login("leader")
    page = client.get(f"/grids/{tree['village_a']}/contacts").get_data(as_text=True)
    assert "李网格（网格员）" in page and "worker_b" not in page
    url = f"/grids/{tree['village_a']}/contacts/assign"
    nothing = client.post(url, {"user_id": li})
    assert "请勾选要安排的户" in nothing.get_data(as_text=True)
    nobody = client.post(url, {"household_ids": ids[:3]})
    assert "请选择联系网格员" in nobody.get_data(as_text=True)
    taken = client.post(url, {"household_ids": ids, "user_id": li})
    assert "东庄4号（worker）已有联系人" in taken.get_data(as_text=True)
    outside = client.post(url, {"household_ids": [ids[0], foreign], "user_id": li})
    assert "有 1 户不在“甲村”范围内" in outside.get_data(as_text=True)
    wrong_worker = client.post(url, {"household_ids": ids[:3], "user_id": users["worker_b"]})
    assert "请选择联系网格员" in wrong_worker.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(ContactLink.id))) == 1  # nothing half-done
    done = client.post(url, {"household_ids": ids[:3], "user_id": li})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/grids/{tree['village_a']}/contacts")
    with app.app_context():
        assert sorted(db.session.scalars(select(ContactLink.household_id).where(ContactLink.user_id == li))) == ids[:3]
    after = client.get(f"/grids/{tree['village_a']}/contacts").get_data(as_text=True)
    assert "已将 3 户安排给 李网格 联系" in after and "都已安排联系人" in after
    assert "<strong>3</strong>" in row(after, "李网格")


def test_worker_outside_the_households_grid_cannot_link(ctx, tree, users, make_user):
    a2 = make_user("a2", "worker", [tree["village_a2"]], full_name="甲二村网格员")
    (hid,) = households(tree["cluster_a"], 1)
    h = db.session.get(Household, hid)
    with pytest.raises(ServiceError, match="负责的网格不包括“东庄一组”"):
        contacts.assign(h, db.session.get(User, a2))
    with pytest.raises(ServiceError, match="不是在岗的网格员或网格长"):
        contacts.assign(h, db.session.get(User, users["township"]))
    assert [u.username for u in contacts.candidates(h.grid)] == ["leader", "worker"]


# Several contacts, registered people without accounts, units

def test_a_household_has_several_contacts_with_and_without_accounts(client, tree, users, make_user, app):
    cadre = make_user("zhu", "village_admin", [tree["village_a"]], full_name="朱驻村")
    with app.app_context():
        hid, member_hid = households(tree["cluster_a"], 2)
        member = db.session.get(Household, member_hid).head
        member.political_status = "中共党员"
        (foreign_hid,) = households(tree["cluster_b"], 1, prefix="乙村")
        foreign = db.session.get(Household, foreign_hid).head_id
        member_id = member.id
        db.session.commit()
    client.login("leader")
    client.get(f"/households/{hid}")
    assert client.post(f"/households/{hid}/contact", {"user_id": users["worker"]}).status_code == 302
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    assert "添加其他联系人" in page
    form = page[page.index('id="contact-other"'):]
    assert "朱驻村" in form and "户主2" not in form  # registered people are searched for, not listed
    form = client.get(f"/households/{hid}?person_q=户主").get_data(as_text=True)
    form = form[form.index('id="contact-other"'):]
    assert "户主2<small>（东庄2号，中共党员）" in form and "乙村" not in form
    # a party member comes first
    assert form.index("户主2<small>") < form.index("户主1<small>")
    # a party member of the village, registered in the ledger, without an account
    resp = client.post(f"/households/{hid}/contacts/add", {"role": "party_member", "resident_id": member_id},
                       follow_redirects=True)
    assert "已添加党员 户主2" in resp.get_data(as_text=True)
    # and the resident cadre, an account
    resp = client.post(f"/households/{hid}/contacts/add", {"role": "resident_cadre", "user_id": cadre},
                       follow_redirects=True)
    assert "已添加住村干部 朱驻村" in resp.get_data(as_text=True)
    again = client.post(f"/households/{hid}/contacts/add", {"role": "representative", "resident_id": member_id},
                        follow_redirects=True).get_data(as_text=True)
    assert "户主2 已是联系人（党员）" in again
    both = client.post(f"/households/{hid}/contacts/add", {"role": "other", "resident_id": member_id,
                                                           "user_id": cadre}, follow_redirects=True)
    assert "二选一" in both.get_data(as_text=True)
    outsider = client.post(f"/households/{hid}/contacts/add", {"role": "party_member", "resident_id": foreign},
                           follow_redirects=True)
    assert "不是本村在册的人员" in outsider.get_data(as_text=True)
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    section = page[page.index('id="contacts"'):]
    assert "联系网格员" in section and "党员" in section and "住村干部" in section and "在册人员，无账号" in section
    with app.app_context():
        rows = db.session.scalars(select(ContactLink).where(ContactLink.household_id == hid)
                                  .order_by(ContactLink.id)).all()
        assert [(r.role, r.user_id, r.resident_id) for r in rows] == [
            ("grid_worker", users["worker"], None), ("party_member", None, member_id), ("resident_cadre", cadre, None)]
        # the worker stays the 联系网格员: the 20–30 count and "nobody links" follow that link only
        assert db.session.get(Household, hid).contact.user_id == users["worker"]
        party_link = rows[1].id
    assert client.post(f"/contacts/{party_link}/remove").status_code == 302
    with app.app_context():
        assert db.session.get(ContactLink, party_link) is None
        actions = db.session.scalars(select(AuditLog.action).where(AuditLog.entity == "contact_link")).all()
        assert actions.count("create") == 3 and "delete" in actions


def test_an_account_contact_sees_the_household_due(ctx, tree, users, make_user):
    from app.visits import service as vs

    cadre = db.session.get(User, make_user("zhu", "leader", [tree["village_a"]], full_name="朱驻村"))
    (hid,) = households(tree["cluster_a"], 1)
    h = db.session.get(Household, hid)
    contacts.add_contact(h, "resident_cadre", user=cadre)
    db.session.commit()
    assert [i.household.id for i in vs.my_due(cadre)] == [hid]
    with pytest.raises(ServiceError, match="已是本户的住村干部"):
        contacts.assign(h, cadre)


def test_units_have_contacts_too(client, tree, users, app):
    from app.units.models import Unit

    with app.app_context():
        (hid,) = households(tree["cluster_a"], 1)
        head = db.session.get(Household, hid).head_id
        unit = Unit(grid_id=tree["cluster_a"], name="东庄竹木加工厂", kind="生产经营单位")
        db.session.add(unit)
        db.session.commit()
        uid = unit.id
    client.login("village_admin")
    page = client.get(f"/units/{uid}").get_data(as_text=True)
    assert "添加其他联系人" in page and f'value="{head}"' not in page
    # the unit page's picker finds the village's people too (the search without scripts)
    found = client.get(f"/units/{uid}?person_q=户主1").get_data(as_text=True)
    assert f'name="resident_id" value="{head}"' in found and 'id="contact-other" open' in found
    resp = client.post(f"/units/{uid}/contacts/add", {"role": "representative", "resident_id": head},
                       follow_redirects=True).get_data(as_text=True)
    assert "已添加村民代表 户主1" in resp
    assert "户主1" in resp[resp.index('id="contacts"'):]
    with app.app_context():
        link = db.session.scalar(select(ContactLink).where(ContactLink.unit_id == uid))
        assert (link.household_id, link.resident_id, link.role) == (None, head, "representative")
    # a unit in the other town is out of reach
    worker_b = client.post(f"/units/{uid}/contacts/add", {"role": "other", "user_id": users["worker_b"]},
                           follow_redirects=True).get_data(as_text=True)
    assert "不负责这里的网格" in worker_b


def test_the_person_picker_searches_within_the_users_grids(client, tree, users, make_user, app):
    """Names and pinyin initials; only the village of the grid and the user's own grids; 20 at most."""
    with app.app_context():
        nv, cluster = db.session.get(Grid, tree["nv_a"]), db.session.get(Grid, tree["cluster_a"])
        other_cluster = gs.create_grid(nv, "东庄二组", cluster.level, cluster.kind).id  # same village, not the worker's
        db.session.commit()
        # 单 read as a surname: shan
        mine = hs.create_household(Admin(), cluster, "东庄9号", hs.ResidentData(name="单国庆", id_number=idn()))
        db.session.commit()
        (theirs,) = households(other_cluster, 1, prefix="二组")
        many = households(tree["cluster_a"], 25, prefix="南巷")
        mine_id, theirs_id = mine.head_id, db.session.get(Household, theirs).head_id
    helper = make_user("w2", "worker", [tree["cluster_a"]])
    assert helper
    client.login("worker")
    url = f"/grids/{tree['cluster_a']}/people"
    frag = client.get(url, query_string={"person_q": "sgq", "field": "resident_id"}).get_data(as_text=True)
    assert f'value="{mine_id}"' in frag and "单国庆" in frag
    frag = client.get(url, query_string={"person_q": "户主", "field": "resident_id"}).get_data(as_text=True)
    assert f'value="{theirs_id}"' not in frag  # 东庄二组 is outside the worker's grid
    assert frag.count('type="radio"') == contacts.PEOPLE_SHOWN and "只列出前 20 人" in frag
    assert "没有找到" in client.get(url, query_string={"person_q": "无此人"}).get_data(as_text=True)
    assert client.get(url, query_string={"person_q": "户主", "field": "<x>"}).status_code == 400
    assert client.get(f"/grids/{tree['cluster_b']}/people", query_string={"person_q": "户主"}).status_code == 404
    client.logout()
    client.login("leader")  # the village's leader sees both clusters
    frag = client.get(f"/grids/{tree['village_a']}/people", query_string={"person_q": "二组"}).get_data(as_text=True)
    assert frag.count('type="radio"') == 0  # addresses are not names
    frag = client.get(f"/grids/{tree['village_a']}/people", query_string={"person_q": "户主1"}).get_data(as_text=True)
    assert f'value="{theirs_id}"' in frag
    assert many


def test_adding_a_contact_twice_with_one_form_key_makes_one(client, tree, users, app):
    """A retry after a lost answer (the same form key) leads back to the contact, never a second one."""
    with app.app_context():
        hid, other = households(tree["cluster_a"], 2)
        person = db.session.get(Household, other).head_id
    client.login("leader")
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    key = re.search(r'name="form_key" type="hidden" value="([0-9a-f]+)"', page) or \
        re.search(r'name="form_key"[^>]*value="([0-9a-f]+)"', page)
    assert key, "the add form carries a key"
    data = {"role": "party_member", "resident_id": person, "form_key": key.group(1)}
    first = client.post(f"/households/{hid}/contacts/add", data, follow_redirects=True).get_data(as_text=True)
    assert "已添加党员 户主2" in first
    again = client.post(f"/households/{hid}/contacts/add", data, follow_redirects=True).get_data(as_text=True)
    assert "已经保存过了，没有重复登记" in again and "已是联系人" not in again
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ContactLink)
                                 .where(ContactLink.household_id == hid, ContactLink.resident_id == person)) == 1
