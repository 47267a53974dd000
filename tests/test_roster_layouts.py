"""A village's own roster goes in as it is: layouts, ID quirks, groups, checks, mapping, marked error file, CLI."""
import io
import re
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from app.accounts.models import User
from app.core import sheets
from app.core.imports import ImportMapping, PendingUpload, remove_stale
from app.core.timeutil import utcnow
from app.core.validators import InvalidValue, normalize_id_number
from app.extensions import db
from app.grids import service as gs
from app.grids.groups import cn_number, group_key
from app.grids.models import Grid
from app.households import roster_import
from app.households.models import Household, Resident
from app.households.relations import normalize_relation
from app.households.roster_import import FIELDS, ImportOptions, read_roster
from app.units import unit_import
from tests.roster_files import csv_bytes, number, person, to_bytes, village_workbook

FIXTURES = Path(__file__).parent / "fixtures"


def user(username):
    return db.session.scalar(select(User).where(User.username == username))


def fullwidth(text):
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


def quirky_village():
    """Three households of 甲二村 in the village layout, every ID quirk among them (all valid)."""
    ids = [number("19400105", 11), number("19420310", 22), number("19650720", 31, check="X"),
           number("19700101", 42), number("19721212", 52), number("19951001", 61), number("20010606", 71)]
    spellings = [ids[0], fullwidth(ids[1]), ids[2].lower(), " " + ids[3][:6] + " " + ids[3][6:14] + " " + ids[3][14:] + " ",
                 "\u200b" + ids[4], "'" + ids[5], ids[6] + "\u00a0"]
    households = [
        [person("王建国", "户主", "男", date(1940, 1, 5), spellings[0], head="王建国", group="第5村民小组",
                address="甲二村5组1号", phone="13800138000", notes="低保"),
         person("李秀英", "妻子", "女", "1942年3月10日", spellings[1])],
        [person("赵大海", "本人", "男", "1965.07", spellings[2], head="赵大海", group="五组", address="甲二村5组2号"),
         person("赵小花", "女儿", "女", "1970-01-01", spellings[3]),
         person("钱多多", "儿媳", "女", "19721212", spellings[4])],
        [person("孙立", "户主", "男", "", spellings[5], head="孙立", group="第3村民小组", address="甲二村3组1号",
                phone="0572-6012345"),
         person("孙小雨", "长子", "男", date(2001, 6, 6), spellings[6])],
    ]
    return ids, households


def plan_for(data, username, filename="花名册.xlsx", **options):
    return read_roster(data, user(username), ImportOptions(**options), filename=filename)


def errors_at(plan, row, column=None):
    return [m for r, c, m in plan.errors if r == row and (column is None or c == column)]


# The village layout

def test_village_layout_goes_in_as_it_is(ctx, tree, users):
    """Title row, two-row header, head-and-member blocks, blank rows, notes; every ID quirk; groups created."""
    ids, households = quirky_village()
    data = to_bytes(village_workbook(households))
    village = db.session.get(Grid, tree["village_a2"])
    plan = plan_for(data, "township", village=village)
    # Without a decision the new village's groups are listed, once per group, not per row.
    assert [(n.text, n.households) for n in plan.groups.values()] == [("第5村民小组", 2), ("第3村民小组", 1)]
    assert [c for _, c, _ in plan.errors] == ["所属组", "所属组"]
    assert "第 4、7 行" in errors_at(plan, 4)[0]

    plan = plan_for(data, "township", village=village, create_groups=True)
    assert plan.errors == [], plan.errors
    assert (plan.table.header_first, plan.table.header_last, plan.layout) == (2, 3, "blocks")
    assert plan.rows == 7 and plan.households_created == 3 and plan.created == 7
    assert plan.new_groups == {"n:5": "第5村民小组", "n:3": "第3村民小组"}
    counts = roster_import.apply_plan(plan, user("township"))
    db.session.commit()
    assert (counts["households_created"], counts["created"], counts["groups_created"]) == (3, 7, 2)
    groups = {g.name: g for g in db.session.get(Grid, tree["village_a2"]).children}
    assert set(groups) == {"第5村民小组", "第3村民小组"} and all(g.level.key == "cluster" for g in groups.values())
    assert {r.id_number for r in db.session.scalars(select(Resident))} == set(ids)
    h = db.session.scalar(select(Household).where(Household.address == "甲二村5组2号"))
    assert h.grid_id == groups["第5村民小组"].id and h.head.name == "赵大海"
    assert [(r.name, r.relation) for r in h.residents] == [("赵大海", "户主"), ("赵小花", "女"), ("钱多多", "儿媳")]
    wang = db.session.scalar(select(Household).where(Household.address == "甲二村5组1号"))
    assert wang.notes == "低保" and wang.phone == "13800138000"
    assert [r.relation for r in wang.residents] == ["户主", "妻"]
    assert db.session.scalar(select(Resident.relation).where(Resident.name == "孙小雨")) == "长子"

    # The same file again: nothing to do, and the groups it named are found now.
    again = plan_for(data, "township", village=db.session.get(Grid, tree["village_a2"]))
    assert again.errors == [] and again.changes_nothing and again.unchanged == 7


def test_groups_match_the_villages_grids_however_spelt(ctx, tree, users):
    village = db.session.get(Grid, tree["village_a2"])
    cluster = gs.level_by_key("cluster")
    five = gs.create_grid(village, "五组", cluster, village.kind)
    two = gs.create_grid(village, "第二村民小组", cluster, village.kind)
    db.session.commit()
    rows = []
    for i, (group, birth) in enumerate([("第5村民小组", "19500101"), ("5组", "19510101"), ("第五组", "19520101"),
                                        ("伍组", "19530101"), ("2组", "19540101"), ("甲二村第二组", "19550101")]):
        idn = number(birth, i + 1)
        rows.append([person(f"户主{i}", "户主", "", "", idn, group=group, address=f"{i}号")])
    plan = plan_for(to_bytes(village_workbook(rows)), "township", village=village)
    assert plan.errors == [] and not plan.groups
    assert [hp.grid.id for hp in plan.households] == [five.id] * 4 + [two.id] * 2


def test_a_group_is_mapped_to_an_existing_grid(ctx, tree, users):
    village = db.session.get(Grid, tree["village_a"])   # 甲村 → 东庄自然村 → 东庄一组
    idn = number("19600101", 5)
    data = to_bytes(village_workbook([[person("王一", "户主", "男", "", idn, group="东头", address="东头1号")]]))
    plan = plan_for(data, "village_admin", village=village)
    assert list(plan.groups) == ["name:东头"] and "不是甲村已有的网格" in plan.errors[0][2]
    plan = plan_for(data, "village_admin", village=village, groups={"name:东头": tree["cluster_a"]})
    assert plan.errors == [] and plan.households[0].grid.id == tree["cluster_a"]
    # A grid outside the village is no answer.
    plan = plan_for(data, "village_admin", village=village, groups={"name:东头": tree["cluster_b"]})
    assert list(plan.groups) == ["name:东头"]


# Everything the file says is checked

def test_every_contradiction_with_the_clerks_row_and_column(ctx, tree, users):
    village = db.session.get(Grid, tree["village_a2"])
    head, wife, son, dup, kid = (number("19600203", 1), number("19620405", 2), number("19880808", 3),
                                 number("19900909", 5), number("20100101", 6))
    households = [
        [person("王建国", "户主", "女", date(1960, 2, 3), head, head="王建国", group="一组", address="1号", phone="1381234567"),  # 5
         person("李秀英", "配偶", "女", "1962-04-06", wife, phone="19412345678"),     # 6 birth contradicts; phone warns
         person("王小明", "子", "男", "1988.09", son),                                # 7 出生年月 contradicts
         person("王重复", "子", "男", "", dup),                                       # 8
         person("王重复", "子", "男", "", dup),                                       # 9 the same row again
         person("王数字", "子", "男", "", 330522199009090041),                        # 10 stored as a number
         person("王日期", "女", "女", "去年", kid),                                   # 11 not a date
         person("王性别", "女", "未知", "", number("20110101", 8)),                   # 12 not a sex
         person("王关系", "干爹", "男", "", number("20120101", 7))],                  # 13 not a relation
    ]
    wb = village_workbook(households)
    ws = wb.active
    ws.insert_rows(4)
    ws.cell(4, 3, "孤儿")           # row 4: a member before any head
    ws.cell(4, 7, number("19990101", 8))
    plan = plan_for(to_bytes(wb), "township", village=village, create_groups=True)
    assert "前面没有户主行" in errors_at(plan, 4, "与户主关系")[0]
    assert "性别“女”与身份证号不符（身份证号显示为男）" in errors_at(plan, 5, "性别")[0]
    assert "手机号应为 11 位，这里是 10 位" in errors_at(plan, 5, "联系电话")[0]
    assert "出生日期 1962-04-06 与身份证号不符（身份证号显示为 1962-04-05）" in errors_at(plan, 6, "出生日期")[0]
    assert not errors_at(plan, 6, "联系电话")
    assert [(6, "联系电话")] == [(r, c) for r, c, _ in plan.warnings] and "19412345678" in plan.warnings[0][2]
    assert "出生日期 1988-09 与身份证号不符" in errors_at(plan, 7, "出生日期")[0]
    assert not errors_at(plan, 8)
    assert errors_at(plan, 9) == [f"整行与第 8 行相同（{dup[:6]}********{dup[-4:]}），同一个人只能填一行，请删除重复的这一行。"]
    assert "被 Excel 存成了数字" in errors_at(plan, 10, "身份证号码")[0]
    assert "出生日期“去年”不是日期" in errors_at(plan, 11, "出生日期")[0]
    assert "性别“未知”应为“男”或“女”" in errors_at(plan, 12, "性别")[0]
    assert "与户主关系“干爹”不在可选值内" in errors_at(plan, 13, "与户主关系")[0]
    assert sorted({r for r, _, _ in plan.errors}) == [4, 5, 6, 7, 9, 10, 11, 12, 13]
    with pytest.raises(Exception, match="处错误"):
        roster_import.apply_plan(plan, user("township"))
    db.session.rollback()
    assert db.session.scalar(select(func.count(Household.id))) == 0


def test_masked_ids_are_refused_once(ctx, tree, users):
    rows = [[person(f"人{i}", "户主", "", "", f"330522********{i:03d}1", head=f"人{i}", group="东庄一组",
                    address=f"{i}号")] for i in range(5)]
    plan = plan_for(to_bytes(village_workbook(rows)), "village_admin", village=db.session.get(Grid, tree["village_a"]))
    assert len(plan.errors) == 1
    row, column, message = plan.errors[0]
    assert (row, column) == (4, "身份证号码") and "脱敏" in message and "共 5 行" in message


def test_relations_follow_gbt_4761_with_common_spellings():
    assert [normalize_relation(x) for x in ("本人", "02", "妻子", "儿子", "长子", "哥哥", "弟", "爷爷", " 女 ", "表哥")] == \
        ["户主", "户主", "妻", "子", "长子", "兄", "弟", "祖父", "女", "表兄弟、表姐妹"]


def test_chinese_numerals_and_group_keys():
    assert [cn_number(t) for t in ("5", "五", "十", "十二", "二十", "二十一", "一百零五", "二〇", "伍", "x")] == \
        [5, 5, 10, 12, 20, 21, 105, 20, 5, None]
    assert {group_key(t) for t in ("第5村民小组", "五组", "5组", "第五组", "第五村民小组", "5")} == {("n", 5)}
    assert group_key("甲村第5组", ["甲村"]) == ("n", 5) and group_key("东庄一组") == group_key("东庄1组")
    assert group_key("东庄组") == group_key("东庄村民小组") == ("name", "东庄")


def test_invisible_characters_and_scientific_numbers():
    assert sheets.clean("\u200b'3305\u00a0") == "3305" and sheets.clean("a\x00b\u3000") == "ab"
    with pytest.raises(InvalidValue, match="被 Excel 存成了数字"):
        normalize_id_number("3.30522E+17")


# Layouts, files, synonyms

def test_gbk_and_utf8_csv_with_synonyms_and_unknown_columns(ctx, tree, users):
    a, b = number("19580101", 1), number("19800202", 2)
    rows = [["户籍登记表"], [],
            ["户主身份证号码", "成员姓名", "公民身份号码", "关系", "民族", "手机号", "门牌", "村民小组", "文化程度"],
            [a, "张一", a, "户主", "汉", "13900001111", "东庄1号", "东庄一组", "小学"],
            [a, "张二", b, "儿子", "汉", "", "", "", "初中"]]
    village = db.session.get(Grid, tree["village_a"])
    for encoding in ("gb18030", "utf-8-sig"):
        plan = plan_for(csv_bytes(rows, encoding), "village_admin", filename="名册.csv", village=village)
        assert plan.errors == [], plan.errors
        assert plan.layout == "head_id" and plan.created == 2 and plan.table.header_last == 3
        assert [c.title for c in plan.table.columns if not plan.mapping.by_column[c.index]] == ["民族", "文化程度"]
    sci = [r[:] for r in rows]
    sci[4][2] = "3.30522E+17"
    plan = plan_for(csv_bytes(sci), "village_admin", filename="名册.csv", village=village)
    assert "被 Excel 存成了数字" in errors_at(plan, 5, "公民身份号码")[0]


def test_old_xls_file(ctx, tree, users):
    """A roster saved as .xls (Excel 97–2003) by LibreOffice: two-row header, blocks, a date cell."""
    data = (FIXTURES / "village_roster.xls").read_bytes()
    plan = plan_for(data, "township", filename="village_roster.xls", village=db.session.get(Grid, tree["village_a2"]),
                    create_groups=True)
    assert plan.errors == [], plan.errors
    assert (plan.table.header_first, plan.table.header_last, plan.households_created, plan.created) == (2, 3, 2, 5)


def test_ambiguous_columns_are_left_to_the_clerk(ctx, tree, users):
    a = number("19580101", 1)
    wb = Workbook()
    wb.active.append(["姓名", "身份证号", "与户主关系", "手机", "电话", "门牌地址", "所属网格"])
    wb.active.append(["张一", a, "户主", "13900001111", "0572-6012345", "东庄1号", "东庄一组"])
    plan = plan_for(to_bytes(wb), "village_admin")
    assert plan.errors and "“手机”和“电话”都像是“联系电话”" in plan.errors[0][2]
    plan = plan_for(to_bytes(wb), "village_admin", columns={4: ""})
    assert plan.errors == [] and plan.mapping.columns["phone"] == 3


def test_header_needs_the_clerk_when_nothing_names_the_id_column(ctx, tree, users):
    a = number("19580101", 1)
    wb = Workbook()
    wb.active.append(["姓名", "号码", "与户主关系", "住址", "组"])
    wb.active.append(["张一", a, "户主", "东庄1号", "东庄一组"])
    plan = plan_for(to_bytes(wb), "village_admin")
    assert plan.errors[0][:2] == (1, "表头") and "没有“身份证号”列" in plan.errors[0][2]
    assert plan.marks[1] == [(None, plan.errors[0][2])]   # the marked file says it on the header row
    plan = plan_for(to_bytes(wb), "village_admin", columns={1: "id_number"})
    assert plan.errors == [] and plan.created == 1


# The browser: mapping remembered, groups, marked file

def _upload(client, data, name, village_id=None):
    client.get("/households/import")
    form = {"file": (io.BytesIO(data), name)}
    if village_id:
        form["village_id"] = str(village_id)
    resp = client.post("/households/import", form, content_type="multipart/form-data")
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    return resp.headers["Location"].rsplit("/", 1)[1]


def _unknown_id_header_file(names):
    wb = Workbook()
    wb.active.append(["姓名", "号码", "与户主关系", "住址", "组"])
    for i, name in enumerate(names):
        idn = number("19580101", 30 + i)
        wb.active.append([name, idn, "户主", f"东庄{i}号", "东庄一组"])
    return to_bytes(wb)


def test_web_mapping_is_remembered_for_the_village(app, client, tree, users):
    client.login("village_admin")
    token = _upload(client, _unknown_id_header_file(["张一"]), "一.xlsx")
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "没有“身份证号”列" in page and 'name="col_1"' in page and "确认导入" not in page
    resp = client.post(f"/households/import/{token}/columns", {"col_1": "id_number", "mapping_name": "甲村名册"})
    assert resp.status_code == 302
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "确认导入" in page
    assert client.post(f"/households/import/{token}/confirm").status_code == 302
    with app.app_context():
        mapping = db.session.scalar(select(ImportMapping))
        assert (mapping.name, mapping.grid_id, mapping.column_map["号码"]) == ("甲村名册", tree["village_a"], "id_number")
        assert db.session.scalar(select(func.count(PendingUpload.token))) == 0
    # The next file of the same layout is read with it at once.
    token = _upload(client, _unknown_id_header_file(["张一", "李二"]), "二.xlsx")
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "确认导入" in page and "新增人员" in page
    # And so does the CLI, by name.


def test_cli_uses_a_mapping_saved_in_the_browser(app, client, tree, users, tmp_path):
    with app.app_context():
        from app.core.imports import remember_mapping

        remember_mapping(db.session.get(Grid, tree["village_a"]), "households", "甲村名册", {"号码": "id_number"}, {})
        db.session.commit()
    path = tmp_path / "名册.xlsx"
    path.write_bytes(_unknown_id_header_file(["张一", "李二"]))
    runner = app.test_cli_runner()
    res = runner.invoke(args=["import-households", str(path), "--as", "village_admin", "--dry-run"])
    assert res.exit_code == 0 and "dry run, roster: 2 households created" in res.stdout  # remembered for 甲村
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--village", "甲村",
                              "--mapping", "甲村名册"])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip().splitlines()[-1] == \
        "roster: 2 households created, 2 residents created, 0 updated, 0 unchanged, 0 errors"
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--mapping", "无此名称"])
    assert res.exit_code == 1 and "找不到名为“无此名称”的列对应" in res.stderr


def test_web_groups_are_mapped_or_created(app, client, tree, users):
    client.login("township")
    _, households = quirky_village()
    token = _upload(client, to_bytes(village_workbook(households)), "花名册.xlsx", tree["village_a2"])
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "所属组对应" in page and "新建村民小组“第5村民小组”" in page and "确认导入" not in page
    client.post(f"/households/import/{token}/groups", {"group_n:5": "new", "group_n:3": "new"})
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "确认导入" in page and "新建村民小组 2 个" in page
    resp = client.post(f"/households/import/{token}/confirm")
    assert resp.status_code == 302
    with app.app_context():
        assert sorted(g.name for g in db.session.get(Grid, tree["village_a2"]).children) == ["第3村民小组", "第5村民小组"]
        assert db.session.scalar(select(func.count(Resident.id))) == 7


def test_marked_error_file_reads_back(app, client, tree, users):
    client.login("township")
    ids, households = quirky_village()
    households[0][1][3] = "男"                         # 李秀英's sex contradicts her ID number (row 5)
    households[1][1][5] = 330522197001010041           # an ID stored as a number (row 8)
    token = _upload(client, to_bytes(village_workbook(households)), "花名册.xlsx", tree["village_a2"])
    client.post(f"/households/import/{token}/groups", {"group_n:5": "new", "group_n:3": "new"})
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "下载标出错误的原文件" in page
    resp = client.get(f"/households/import/{token}/errors.xlsx")
    assert resp.status_code == 200 and "filename*=UTF-8''" in resp.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(resp.data)).active
    assert ws["A1"].value == "甲二村户籍花名册（2026年）"     # the clerk's own file
    assert ws["L3"].value == "错误说明"
    assert "性别“男”与身份证号不符" in ws["L5"].value and "被 Excel 存成了数字" in ws["L8"].value
    assert ws["E5"].fill.fgColor.rgb.endswith("FFC7CE") and ws["G8"].fill.fgColor.rgb.endswith("FFC7CE")
    assert ws["L4"].value is None and ws["C5"].fill.fgColor.rgb in (None, "00000000")
    # Only the uploader gets it.
    other = app.test_client()
    assert other.get(f"/households/import/{token}/errors.xlsx").status_code in (302, 401)


def test_reimport_changes_nothing_then_a_changed_row_updates(app, client, tree, users):
    client.login("village_admin")
    a, b = number("19580101", 1), number("19800202", 2)
    rows = [["姓名", "身份证号", "与户主关系", "联系电话", "门牌地址", "所属组"],
            ["张一", a, "户主", "13900001111", "东庄1号", "东庄一组"], ["张二", b, "子", "", "", ""]]
    data = csv_bytes(rows)
    token = _upload(client, data, "名册.csv")
    client.post(f"/households/import/{token}/confirm")
    token = _upload(client, data, "名册.csv")
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert "文件与台账完全一致" in page and "确认导入" not in page
    rows[2][3] = "13900002222"
    token = _upload(client, csv_bytes(rows), "名册.csv")
    client.post(f"/households/import/{token}/confirm")
    with app.app_context():
        assert db.session.scalar(select(Resident.phone).where(Resident.name == "张二")) == "13900002222"


def test_masked_export_reimported_says_so_once(app, client, tree, users):
    client.login("village_admin")
    a, b = number("19580101", 1), number("19800202", 2)
    token = _upload(client, csv_bytes([["姓名", "身份证号", "与户主关系", "门牌地址", "所属网格"],
                                       ["张一", a, "户主", "东庄1号", "东庄一组"], ["张二", b, "子", "", ""]]), "名册.csv")
    client.post(f"/households/import/{token}/confirm")
    client.get("/households/")
    exported = client.post("/households/export", {}).data
    token = _upload(client, exported, "台账.xlsx")
    page = client.get(f"/households/import/{token}").get_data(as_text=True)
    assert page.count("脱敏的号码无法导入") == 1 and "错误（1 处）" in page


def test_pending_uploads_expire(app, client, tree, users):
    client.login("village_admin")
    token = _upload(client, _unknown_id_header_file(["张一"]), "一.xlsx")
    path = Path(app.instance_path) / "imports" / f"{token}.upload"
    assert path.is_file()
    with app.app_context():
        from datetime import timedelta

        remove_stale(utcnow() + timedelta(hours=25))
        db.session.commit()
        assert db.session.get(PendingUpload, token) is None
    assert not path.exists()
    assert client.get(f"/households/import/{token}").status_code == 404


def test_header_detection_prefers_the_real_header():
    rows = [("甲村花名册",), ("序号", "户主", "成员信息", None, None, "所属组"),
            (None, None, "姓名", "与户主关系", "身份证号码", None), (1, "王一", "王一", "户主", "x", "一组")]
    table = sheets.locate("S", rows, FIELDS)
    assert (table.header_first, table.header_last) == (2, 3)
    assert [c.title for c in table.columns] == ["序号", "户主", "成员信息 › 姓名", "成员信息 › 与户主关系",
                                               "成员信息 › 身份证号码", "所属组"]
    single = sheets.locate("S", [("标题",), ("姓名", "身份证号", "与户主关系"), ("王一", "x", "户主")], FIELDS)
    assert (single.header_first, single.header_last) == (2, 2)


# The unit register through the same engine

def test_unit_register_in_the_villages_layout(app, client, tree, users):
    from app.units.models import Unit
    from stdnum.cn import uscc

    def code(body):
        return body + uscc.calc_check_digit(body)

    a, b = code("91330522MA2B3C4D5"), code("92330522MA2B3C4D6")
    rows = [["甲村生产经营单位台账"],
            ["序号", "企业名称", "统一社会信用代码", "经营地址", "负责人", "电话", "所属行业", "风险等级", "所属组", "民族"],
            [1, "东庄竹木加工厂", a, "东庄1号", "王一", "13900001111", "木材加工", "较大", "东庄一组", ""],
            [2, "李记小卖部", "", "东庄2号", "李二", "19412345678", "零售", "蓝", "东庄一组", ""],
            [3, "东庄竹木加工厂", a, "东庄1号", "王一", "13900001111", "木材加工", "较大", "东庄一组", ""],
            [4, "坏代码厂", b[:-1] + ("0" if b[-1] != "0" else "1"), "东庄3号", "", "", "", "红", "东庄一组", ""]]
    client.login("village_admin")
    client.get("/units/import")
    resp = client.post("/units/import", {"file": (io.BytesIO(csv_bytes(rows)), "单位.csv")},
                       content_type="multipart/form-data")
    token = resp.headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/units/import/{token}").get_data(as_text=True)
    assert "与第 3 行是同一个单位" in page and "校验位不对" in page and "确认导入" not in page
    assert "19412345678" in page  # the unknown prefix is a warning
    rows = rows[:4]
    client.get("/units/import")
    token = client.post("/units/import", {"file": (io.BytesIO(csv_bytes(rows)), "单位.csv")},
                        content_type="multipart/form-data").headers["Location"].rsplit("/", 1)[1]
    page = client.get(f"/units/import/{token}").get_data(as_text=True)
    assert "确认导入" in page, re.findall(r"data-label=\"问题\"[^>]*>([^<]*)", page)
    assert client.post(f"/units/import/{token}/confirm").status_code == 302
    with app.app_context():
        units = {u.name: u for u in db.session.scalars(select(Unit))}
        assert units["东庄竹木加工厂"].risk_grade == "较大风险" and units["东庄竹木加工厂"].credit_code == a
        assert (units["李记小卖部"].kind, units["李记小卖部"].credit_code) == ("个体工商户", None)
        assert units["李记小卖部"].risk_grade == "低风险" and units["李记小卖部"].grid_id == tree["cluster_a"]
        plan = unit_import.read_units(csv_bytes(rows), user("village_admin"), db.session.get(Grid, tree["village_a"]),
                                      filename="单位.csv")
        assert plan.errors == [] and plan.changes_nothing and plan.unchanged == 2


def test_cli_creates_a_new_villages_groups(app, tree, users, tmp_path):
    _, households = quirky_village()
    path = tmp_path / "花名册.xlsx"
    path.write_bytes(to_bytes(village_workbook(households)))
    runner = app.test_cli_runner()
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--village", "330522101202"])
    assert res.exit_code == 1
    assert res.stdout.strip().splitlines() == [
        "roster: 3 households created, 7 residents created, 0 updated, 0 unchanged, 2 errors"]
    assert res.stderr.strip().splitlines()[0].startswith("第 4 行 [所属组]：“第5村民小组”不是甲二村已有的网格（2 户，第 4、7 行）")
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--village", "甲镇/甲二村",
                              "--create-groups", "--dry-run"])
    assert res.exit_code == 0 and res.stdout.strip().splitlines() == [
        "dry run, roster: 3 households created, 7 residents created, 0 updated, 0 unchanged, 0 errors"]
    with app.app_context():
        assert db.session.get(Grid, tree["village_a2"]).children.count() == 0   # a dry run writes nothing
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--village", "甲二村", "--create-groups"])
    assert res.exit_code == 0, res.output
    with app.app_context():
        assert sorted(g.name for g in db.session.get(Grid, tree["village_a2"]).children) == ["第3村民小组", "第5村民小组"]
    res = runner.invoke(args=["import-households", str(path), "--as", "township", "--village", "乙村"])
    assert res.exit_code == 1 and "找不到村“乙村”" in res.stderr   # outside 甲镇


def test_marked_file_of_a_csv_keeps_its_rows_in_place(ctx, tree, users):
    a = number("19580101", 1)
    rows = [["户籍登记表"], ["姓名", "身份证号", "与户主关系", "门牌地址", "所属网格"],
            ["张一", a, "户主", "东庄1号", "东庄一组"], ["=HYPERLINK(\"x\")", a[:-1] + "0", "子", "", ""]]
    data = csv_bytes(rows)
    plan = plan_for(data, "village_admin", filename="名册.csv")
    assert {r for r, _, _ in plan.errors} == {4}
    ws = sheets.marked_workbook(data, plan.table, plan.marks).active
    assert [ws.cell(r, 1).value for r in (1, 2, 3)] == ["户籍登记表", "姓名", "张一"]
    assert ws["F2"].value == "错误说明" and ("身份证号" in ws["F4"].value or "校验位" in ws["F4"].value)
    assert ws["A4"].data_type == "s"   # the clerk's text is written back as text, never as a formula
    assert ws["B4"].fill.fgColor.rgb.endswith("FFC7CE")
