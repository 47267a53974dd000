"""The ledger: records with history, categories, privacy (masking, audited reveals), counts, search."""
import os
from datetime import date

import pytest
from sqlalchemy import select
from stdnum.cn import ric

from app.core.forms import ServiceError
from app.core.models import AuditLog
from app.extensions import db
from app.grids.models import Grid
from app.households import search as hsearch
from app.households import service as hs
from app.households.models import HouseholdCategory, Resident

_n = [0]


def idn(year=1980, sex="m"):
    """A valid unique ID number (odd 17th digit for men)."""
    _n[0] += 1
    seq = f"{(_n[0] * 2 + (1 if sex == 'm' else 0)) % 1000:03d}"
    body = f"330522{year}0101{seq}"
    return body + ric.calc_check_digit(body + "0")


class Admin:
    is_admin = True
    is_authenticated = True


def make_household(grid_id, address, head, *members, phone=""):
    grid = db.session.get(Grid, grid_id)
    h = hs.create_household(Admin(), grid, address, hs.ResidentData(name=head, id_number=idn()), phone)
    for name, relation in members:
        hs.add_resident(h, hs.ResidentData(name=name, id_number=idn(1990), relation=relation))
    db.session.commit()
    return h


def test_household_with_members_and_derived_fields(ctx, tree):
    h = make_household(tree["cluster_a"], "东庄1号", "张三", ("李四", "配偶"))
    head = h.head
    assert head.name == "张三" and head.relation == "户主" and head.sex == "男" and head.birth_date == date(1980, 1, 1)
    assert head.name_initials == "zs"
    with pytest.raises(ServiceError, match="已在台账中登记"):
        hs.add_resident(h, hs.ResidentData(name="重复", id_number=head.id_number))
    with pytest.raises(ServiceError, match="校验位不对"):
        hs.add_resident(h, hs.ResidentData(name="错号", id_number="110105194912310021"))
    with pytest.raises(ServiceError, match="已有户主"):
        hs.add_resident(h, hs.ResidentData(name="二户主", id_number=idn(), relation="户主"))
    with pytest.raises(ServiceError, match="性别“女”与身份证号不符"):
        fields, errors = hs.check_resident(hs.ResidentData(name="x", id_number=idn(sex="m"), sex="女"))
        hs._raise_first(errors)


def test_households_only_in_lowest_grids(ctx, tree):
    with pytest.raises(ServiceError, match="最低一级网格"):
        make_household(tree["village_a"], "村部", "王五")


def test_history_is_kept(ctx, tree):
    h = make_household(tree["cluster_a"], "东庄2号", "王大", ("王小", "子"), ("刘芳", "配偶"))
    son = next(r for r in h.residents if r.name == "王小")
    wife = next(r for r in h.residents if r.name == "刘芳")
    with pytest.raises(ServiceError, match="请先变更户主"):
        hs.change_status(h.head, "deceased", date(2026, 3, 1))
    hs.change_head(h, wife, "原户主去世")
    hs.change_status(db.session.get(Resident, h.residents[0].id), "deceased", date(2026, 3, 1), "病故")
    new = hs.split_household(Admin(), h, [son], "东庄2号附1")
    db.session.commit()
    assert new.head.name == "王小" and new.split_from_id == h.id and son.relation == "户主"
    kinds = [e.kind for e in h.events]
    assert {"created", "member_added", "head_changed", "deceased", "split"} <= set(kinds)
    assert db.session.scalar(select(Resident).where(Resident.name == "王大")).status == "deceased"
    with pytest.raises(ServiceError, match="还有在册成员"):
        hs.archive_household(h, "迁空")
    hs.change_status(wife, "moved_out", date(2026, 4, 1), "迁往县城")
    hs.archive_household(h, "全户迁出")
    db.session.commit()
    assert h.status == "archived" and len(h.residents) == 2 and len(new.residents) == 1  # nobody deleted


def test_category_tags_have_history(ctx, tree):
    h = make_household(tree["cluster_a"], "东庄3号", "赵一")
    cat = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "poverty_risk"))
    t = hs.tag(h, cat, date(2025, 5, 1), "收入骤降")
    with pytest.raises(ServiceError, match="已在"):
        hs.tag(h, cat, date(2025, 6, 1))
    with pytest.raises(ServiceError, match="结束原因"):
        hs.end_tag(t, date(2026, 1, 1), "")
    hs.end_tag(t, date(2026, 1, 1), "风险已消除")
    hs.tag(h, cat, date(2026, 6, 1), "再次返贫")
    db.session.commit()
    assert [(x.start_date, x.end_date) for x in h.tags] == [(date(2025, 5, 1), date(2026, 1, 1)), (date(2026, 6, 1), None)]


def test_counts_sum_up_the_tree(ctx, tree):
    a = make_household(tree["cluster_a"], "东庄4号", "钱一", ("钱二", "子"))
    b = make_household(tree["cluster_b"], "西庄1号", "孙一")
    a.head.political_status = "中共党员"
    hs.tag(a, db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "empty_nest")), date(2026, 1, 1))
    db.session.commit()
    county = hs.grid_counts(db.session.get(Grid, tree["county"]))
    assert (county["households"], county["residents"], county["party_members"]) == (2, 3, 1)
    assert county["categories"] == [("空巢老人户", 1)]
    town_a = hs.grid_counts(db.session.get(Grid, tree["town_a"]))
    assert (town_a["households"], town_a["residents"]) == (1, 2)
    counts, children = hs.counts_with_children(db.session.get(Grid, tree["county"]))
    assert counts["households"] == 2 and counts["party_members"] == 1
    assert children[tree["town_a"]] == (1, 2) and children[tree["town_b"]] == (1, 1)
    assert children[tree["village_a"]] == (1, 2) and tree["village_a2"] not in children
    assert b.id


NAMES = ["张三", "张三丰", "张小三", "李三", "王五", "单雄信", "曾国藩", "欧阳修", "张", "三张"]


@pytest.fixture
def people(users, ctx, tree):
    """Ten people with overlapping names in branch A and a 张三 in branch B."""
    out = {}
    for i, name in enumerate(NAMES):
        h = make_household(tree["cluster_a"], f"幸福路{i + 1}号", name, phone=f"1380000{i:04d}")
        out[name] = h.head
    other = make_household(tree["cluster_b"], "乙村路1号", "张三")
    out["foreign"] = other.head
    return out


def expected(names, q):
    return sorted(n for n in names if q in n)


@pytest.mark.parametrize("q", ["张", "三", "张三", "三丰", "张三丰", "欧阳修", "阳", "单雄", "张小三"])
def test_name_search_every_length_finds_exactly_the_right_rows(people, users, q):
    from app.accounts.models import User

    worker = db.session.get(User, users["village_admin"])
    found = sorted(r.name for r in hsearch.search(worker, q).residents)
    assert found == expected(NAMES, q), q


def test_search_is_scoped(people, users):
    from app.accounts.models import User

    village_admin = db.session.get(User, users["village_admin"])
    worker_b = db.session.get(User, users["worker_b"])
    assert [r.id for r in hsearch.search(worker_b, "张三").residents] == [people["foreign"].id]
    assert people["foreign"].id not in [r.id for r in hsearch.search(village_admin, "张三").residents]


def test_initials_with_surname_readings(people, users):
    from app.accounts.models import User

    admin = db.session.get(User, users["admin"])
    names = lambda q: sorted(r.name for r in hsearch.search(admin, q).residents)  # noqa: E731
    assert names("zs") == ["张三", "张三", "张三丰"]
    assert names("sxx") == ["单雄信"] and names("dxx") == ["单雄信"]
    assert names("zgf") == ["曾国藩"]
    assert names("ZSF") == ["张三丰"]


def test_id_tail_phone_and_full_id_and_address(people, users):
    from app.accounts.models import User

    admin = db.session.get(User, users["admin"])
    target = people["王五"]
    assert [r.id for r in hsearch.search(admin, target.id_number[-6:]).residents] == [target.id]
    assert [r.id for r in hsearch.search(admin, target.id_number).residents] == [target.id]
    assert [r.id for r in hsearch.search(admin, target.id_number.lower()).residents] == [target.id]
    assert [h.head_name for h in hsearch.search(admin, "13800000004").households] == ["王五"]
    assert [h.head_name for h in hsearch.search(admin, "00000004").households] == ["王五"]
    assert hsearch.search(admin, "123").kind == "too_short"
    assert [h.address for h in hsearch.search(admin, "幸福路10号").households] == ["幸福路10号"]
    assert len(hsearch.search(admin, "幸福").households) == 10


def test_search_filters_rows_and_scopes_do_not_leak_between_users(people, users, tree):
    """Grid, category and status filters; each row carries what the list shows; one user's scope
    never carries over to another user's search of the same shape; LIKE characters are literal."""
    from app.accounts.models import User

    admin = db.session.get(User, users["admin"])
    worker_b = db.session.get(User, users["worker_b"])
    village_admin = db.session.get(User, users["village_admin"])
    zs = people["张三"]
    row = next(r for r in hsearch.search(admin, "张三").residents if r.id == zs.id)
    assert (row.household_id, row.name, row.relation, row.address, row.grid_name, row.status_name) == (
        zs.household_id, "张三", "户主", "幸福路1号", "东庄一组", "在册")
    assert row.masked_id == zs.masked_id and zs.id_number not in row.masked_id
    home = hsearch.search(admin, "幸福路1号").households[0]
    assert (home.address, home.head_name, home.grid_name) == ("幸福路1号", "张三", "东庄一组")
    # Grid filter: inside the user's scope it narrows; the foreign 张三 is in branch B.
    assert sorted(r.name for r in hsearch.search(admin, "张三", grid_id=tree["cluster_b"]).residents) == ["张三"]
    assert len(hsearch.search(admin, "张三", grid_id=tree["village_a"]).residents) == 2
    # The same statement shapes for three scopes in a row.
    assert [r.id for r in hsearch.search(worker_b, "张三").residents] == [people["foreign"].id]
    assert people["foreign"].id not in [r.id for r in hsearch.search(village_admin, "张三").residents]
    assert len(hsearch.search(admin, "张三").residents) == 3
    # Category filter.
    cat = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "empty_nest"))
    hs.tag(zs.household, cat, date(2026, 1, 1))
    db.session.commit()
    assert [r.id for r in hsearch.search(admin, "张", category_id=cat.id).residents] == [zs.id]
    assert [h.id for h in hsearch.search(admin, "幸福", category_id=cat.id).households] == [zs.household_id]
    # Status filter: 迁出 people are found only when asked for.
    wang = people["王五"]
    hs.add_resident(wang.household, hs.ResidentData(name="王小五", id_number=idn(2000), relation="子"))
    xiao = db.session.scalar(select(Resident).where(Resident.name == "王小五"))
    hs.change_status(xiao, "moved_out", date(2026, 2, 1), "外出")
    db.session.commit()
    assert [r.name for r in hsearch.search(admin, "王").residents] == ["王五"]
    moved = hsearch.search(admin, "王", status="moved_out").residents
    assert [(r.name, r.status_name) for r in moved] == [("王小五", "迁出")]
    assert sorted(r.name for r in hsearch.search(admin, "王", status="all").residents) == ["王五", "王小五"]
    # LIKE wildcards in a query are plain characters.
    assert hsearch.search(admin, "张%三").residents == [] and hsearch.search(admin, "张_三").residents == []


def test_pages_mask_id_numbers_and_reveal_is_audited(client, tree, users, app):
    with app.app_context():
        h = make_household(tree["cluster_a"], "东庄9号", "周九")
        number, hid, rid = h.head.id_number, h.id, h.head_id
    client.login("worker")
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    assert number not in page and number[:6] + "********" + number[-4:] in page
    assert "查看" not in page.split("身份证号")[-1] or "reveal" not in page
    assert client.post(f"/residents/{rid}/reveal").status_code == 403
    result = client.get("/households/?q=周九").get_data(as_text=True)
    assert number not in result
    client.logout()
    client.login("village_admin")
    client.get(f"/households/{hid}")
    frag = client.post(f"/residents/{rid}/reveal", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert number in frag and "<html" not in frag
    with app.app_context():
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "reveal"))
        assert row.actor_name == "village_admin" and row.entity_id == str(rid) and number not in row.summary
        # No audit row anywhere holds a full ID number.
        assert not [a for a in db.session.scalars(select(AuditLog)) if number in a.summary]


def test_phone_flow_add_member_and_change_category(client, tree, users, app):
    with app.app_context():
        h = make_household(tree["cluster_a"], "东庄10号", "吴十")
        hid = h.id
        cat = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.key == "left_behind_children")).id
    client.login("worker")
    client.get(f"/households/{hid}/members/new")
    bad = client.post(f"/households/{hid}/members/new", {"name": "吴小", "id_number": "110105194912310021",
                                                         "relation": "子", "political_status": "群众"})
    assert "校验位不对" in bad.get_data(as_text=True)
    new_id = idn(2015)
    resp = client.post(f"/households/{hid}/members/new", {"name": "吴小", "id_number": new_id.lower(), "relation": "子",
                                                          "political_status": "群众", "flags": ["留守"]})
    assert resp.status_code == 302
    client.get(f"/households/{hid}")
    html = client.post(f"/households/{hid}/tags", {"category_id": 0, "reason": "未选类别"}).get_data(as_text=True)
    assert "请选择类别" in html and "不是有效的选择" not in html
    assert client.post(f"/households/{hid}/tags", {"category_id": cat, "start_date": "2026-11-01",
                                                   "reason": "父母外出务工"}).status_code == 302
    page = client.get(f"/households/{hid}").get_data(as_text=True)
    assert "吴小" in page and "留守儿童户" in page and "父母外出务工" in page and new_id not in page


def test_list_total_is_capped_past_the_count_cap(app, client, users, tree):
    """A long list counts only so far: "超过 N 条" with 下一页 still offered; short lists stay exact."""
    with app.app_context():
        for i in range(7):
            make_household(tree["cluster_a"], f"东庄{i + 10}号", f"户主{i}")
    app.config.update(COUNT_CAP=4, PAGE_SIZE=2)
    try:
        client.login("village_admin")
        html = client.get("/households/").get_data(as_text=True)
        assert "第 1 页，超过 4 条" in html and "page=2" in html and "共 7 条" not in html
        # Counting restarts from each page's start: page 3 counts rows 5–8 and finds the end.
        html = client.get("/households/?page=3").get_data(as_text=True)
        assert "第 3 / 4 页，共 7 条" in html and "page=4" in html
        html = client.get("/households/?page=4").get_data(as_text=True)
        assert "第 4 / 4 页，共 7 条" in html and "下一页" not in html
        app.config["COUNT_CAP"] = 10
        html = client.get("/households/").get_data(as_text=True)
        assert "第 1 / 4 页，共 7 条" in html
    finally:
        app.config.update(COUNT_CAP=10_000, PAGE_SIZE=50)


@pytest.mark.skipif(os.environ.get("VG_TEST_DB") == "postgresql", reason="SQLite's EXPLAIN QUERY PLAN")
def test_the_archived_list_reads_its_own_index(app, tree, users):
    """已注销 walks a partial index of archived households, not every active one on the way."""
    from app.accounts.models import User
    from app.households.routes import ledger_query

    with app.test_request_context():
        admin = db.session.get(User, users["admin"])
        for status, index in (("archived", "ix_household_archived"), ("active", "ix_household_active")):
            q = ledger_query(admin, {"grid_id": None, "category_id": None, "status": status}).limit(50)
            sql = str(q.compile(db.engine, compile_kwargs={"literal_binds": True}))
            plan = " ".join(row[-1] for row in db.session.execute(db.text("EXPLAIN QUERY PLAN " + sql)))
            assert index in plan, (status, plan)


def test_demo_households_are_plausible_families():
    """No 14-year-old spouse, no grandson older than the head: each member's age fits the relation."""
    import random

    from app import demo

    rng = random.Random(7)
    for _ in range(3000):
        head_year = rng.randrange(1940, 1985)
        members = demo.demo_members(rng, head_year)
        assert sum(1 for r, _ in members if r == "配偶") <= 1
        for relation, (lo, hi) in members:
            assert lo < hi
            for born in (lo, hi - 1):
                age = demo.DEMO_YEAR - born
                if relation == "配偶":
                    assert age >= 18 and abs(born - head_year) <= 20
                if relation == "儿媳":
                    assert age >= 18 and born > head_year + 15
                if relation in ("孙子", "孙女", "子", "女"):
                    assert born > head_year + 17
                if relation == "母亲":
                    assert born < head_year - 15 and age <= 100
            if relation == "儿媳":
                assert any(r == "子" for r, _ in members)
