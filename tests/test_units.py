"""Units (单位): the credit code check, creating and editing, closing, scoped lists, key supervision."""
import pytest
from sqlalchemy import select
from stdnum.cn import uscc

from app.core.models import AuditLog
from app.core.validators import InvalidValue
from app.extensions import db
from app.grids.models import Grid
from app.units.models import Unit
from app.units import service as us


def code(body="91330522MA2B3C4D5"):
    """A valid 统一社会信用代码 from its first 17 characters."""
    return body + uscc.calc_check_digit(body)


VALID = code()  # 91330522MA2B3C4D57


def wrong_check_digit(valid):
    return valid[:17] + ("1" if valid[17] != "1" else "2")


def unit_form(grid_id, **over):
    data = {"name": "长兴竹木加工厂", "kind": "生产经营单位", "credit_code": VALID, "grid_id": grid_id,
            "industry": "竹木加工", "address": "东庄村口", "contact_name": "陈厂长", "contact_phone": "13905720001",
            "risk_grade": "较大风险", "key_supervision": "y", "notes": ""}
    data.update(over)
    return {k: v for k, v in data.items() if v is not None}


def add_unit(grid_id, name, key=False, status="active", kind="工商企业户", risk="低风险", credit=None):
    unit = Unit(grid_id=grid_id, name=name, kind=kind, credit_code=credit, key_supervision=key, status=status,
                risk_grade=risk)
    db.session.add(unit)
    db.session.commit()
    return unit.id


def test_credit_code_messages_say_what_is_wrong(ctx):
    assert us.parse_credit_code(VALID) == VALID
    assert us.parse_credit_code(" ９１３３０５２２ma2b3c4d57 ") == VALID  # full-width, lower case, spaces
    assert us.parse_credit_code("91330522-MA2B3C4D5-7") == VALID
    with pytest.raises(InvalidValue, match="应为 18 位，这里是 17 位"):
        us.parse_credit_code(VALID[:17])
    with pytest.raises(InvalidValue, match="前 8 位.*只能是数字.*“A”"):
        us.parse_credit_code("9133052A" + VALID[8:])
    with pytest.raises(InvalidValue, match="第 9–18 位.*不用 I、O、Z、S、V.*“IO”"):
        us.parse_credit_code(VALID[:8] + "MAIOB3C4D" + VALID[17])
    with pytest.raises(InvalidValue, match=f"校验位不对（按前 17 位最后一位应为 {VALID[17]}）"):
        us.parse_credit_code(wrong_check_digit(VALID))
    with pytest.raises(InvalidValue, match="为空"):
        us.parse_credit_code("  ")


def test_create_unit_with_valid_and_invalid_code(client, tree, users, app):
    client.login("village_admin")
    page = client.get("/units/new").get_data(as_text=True)
    assert "统一社会信用代码" in page and "东庄一组" in page and "西庄一组" not in page
    bad = client.post("/units/new", unit_form(tree["cluster_a"], credit_code=wrong_check_digit(VALID)))
    assert bad.status_code == 422
    assert f"校验位不对（按前 17 位最后一位应为 {VALID[17]}）" in bad.get_data(as_text=True)
    short = client.post("/units/new", unit_form(tree["cluster_a"], credit_code="9133052212345"))
    assert "应为 18 位，这里是 13 位" in short.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Unit)) is None
    ok = client.post("/units/new", unit_form(tree["cluster_a"], credit_code=VALID.lower()))
    assert ok.status_code == 302
    with app.app_context():
        unit = db.session.scalar(select(Unit))
        assert (unit.credit_code, unit.grid_id, unit.key_supervision, unit.risk_grade) == (VALID, tree["cluster_a"], True, "较大风险")
        assert unit.contact_phone == "13905720001"
        assert db.session.scalar(select(AuditLog).where(AuditLog.entity == "unit", AuditLog.action == "create"))
        unit_id = unit.id
    assert ok.headers["Location"].endswith(f"/units/{unit_id}")
    page = client.get(f"/units/{unit_id}").get_data(as_text=True)
    assert "长兴竹木加工厂" in page and 'href="tel:13905720001"' in page and "重点监管单位" in page
    # The same code again is refused, naming the unit that has it.
    dup = client.post("/units/new", unit_form(tree["cluster_a"], name="另一家"))
    assert "已登记为“长兴竹木加工厂”" in dup.get_data(as_text=True)


def test_code_optional_only_for_getihu(client, tree, users, app):
    client.login("leader")
    client.get("/units/new")
    refused = client.post("/units/new", unit_form(tree["cluster_a"], credit_code="", kind="工商企业户"))
    assert "请填写统一社会信用代码（只有没有代码的个体工商户可以不填" in refused.get_data(as_text=True)
    assert client.post("/units/new", unit_form(tree["cluster_a"], name="老王小卖部", credit_code="",
                                               kind="个体工商户", key_supervision=None)).status_code == 302
    assert client.post("/units/new", unit_form(tree["cluster_a"], name="李家面馆", credit_code="",
                                               kind="个体工商户", key_supervision=None)).status_code == 302
    with app.app_context():
        assert sorted(db.session.scalars(select(Unit.name).where(Unit.credit_code.is_(None)))) == ["李家面馆", "老王小卖部"]


def test_unit_form_refuses_bad_phone_and_foreign_grid(client, tree, users, app):
    client.login("village_admin")
    client.get("/units/new")
    phone = client.post("/units/new", unit_form(tree["cluster_a"], contact_phone="12345"))
    assert "不是有效的手机号或固定电话" in phone.get_data(as_text=True)
    foreign = client.post("/units/new", unit_form(tree["cluster_b"]))
    assert "请选择您管理范围内的网格" in foreign.get_data(as_text=True)
    kind = client.post("/units/new", unit_form(tree["cluster_a"], kind="外星企业"))
    assert "单位类型“外星企业”不在可选值内" in kind.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Unit)) is None


def test_edit_and_close_but_never_delete(client, tree, users, app):
    with app.app_context():
        uid = add_unit(tree["cluster_a"], "东庄农家乐", credit=code("92330522MA2B3C4D5"), kind="个体工商户")
    client.login("worker")
    page = client.get(f"/units/{uid}/edit").get_data(as_text=True)
    assert "东庄农家乐" in page
    resp = client.post(f"/units/{uid}/edit", unit_form(tree["cluster_a"], name="东庄农家乐（新）", kind="个体工商户",
                                                        credit_code=code("92330522MA2B3C4D5"), risk_grade="一般风险"))
    assert resp.status_code == 302
    client.get(f"/units/{uid}")
    assert client.post(f"/units/{uid}/status", {"status": "closed"}).status_code == 302
    again = client.post(f"/units/{uid}/status", {"status": "closed"})
    assert "已是“已关停”状态" in again.get_data(as_text=True)
    with app.app_context():
        unit = db.session.get(Unit, uid)
        assert (unit.name, unit.risk_grade, unit.status) == ("东庄农家乐（新）", "一般风险", "closed")
        changes = db.session.scalars(select(AuditLog.summary).where(AuditLog.entity == "unit", AuditLog.action == "update")).all()
        assert any("已关停" in s or "closed" in s for s in changes)
    # Closed units leave the default list and stay findable.
    assert "东庄农家乐" not in client.get("/units/").get_data(as_text=True)
    assert "东庄农家乐" in client.get("/units/?status=closed").get_data(as_text=True)
    assert client.post(f"/units/{uid}/status", {"status": "active"}).status_code == 302
    assert not [r for r in client.app.url_map.iter_rules() if r.endpoint.startswith("units.") and "DELETE" in r.methods]


def test_list_filters_and_search(client, tree, users, app):
    with app.app_context():
        add_unit(tree["cluster_a"], "东庄竹木厂", key=True, kind="生产经营单位", risk="较大风险", credit=VALID)
        add_unit(tree["cluster_a"], "东庄超市", kind="个体工商户")
        add_unit(tree["village_a2"], "甲二村砖厂", kind="生产经营单位", risk="重大风险")
        add_unit(tree["cluster_b"], "乙村化工厂", key=True, risk="重大风险")
    client.login("township")

    def names(url):
        html = client.get(url).get_data(as_text=True)
        return [n for n in ("东庄竹木厂", "东庄超市", "甲二村砖厂", "乙村化工厂") if n in html]

    assert names("/units/") == ["东庄竹木厂", "东庄超市", "甲二村砖厂"]
    html = client.get("/units/").get_data(as_text=True)
    assert html.index("甲二村砖厂") < html.index("东庄竹木厂") < html.index("东庄超市")  # highest risk first
    assert names(f"/units/?grid_id={tree['village_a']}") == ["东庄竹木厂", "东庄超市"]
    assert names("/units/?kind=生产经营单位") == ["东庄竹木厂", "甲二村砖厂"]
    assert names("/units/?risk_grade=重大风险") == ["甲二村砖厂"]
    assert names("/units/?key=1") == ["东庄竹木厂"]
    assert names("/units/?q=竹木") == ["东庄竹木厂"]
    assert names(f"/units/?q={VALID[:10].lower()}") == ["东庄竹木厂"]
    assert client.get(f"/units/?grid_id={tree['cluster_b']}").status_code == 404
    frag = client.get("/units/?q=超市", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "东庄超市" in frag and "<html" not in frag


def test_key_supervision_list_is_scoped_to_the_subtree(client, tree, users, app):
    with app.app_context():
        add_unit(tree["cluster_a"], "东庄竹木厂", key=True, risk="一般风险")
        add_unit(tree["cluster_a"], "东庄烟花仓库", key=True, risk="重大风险")
        add_unit(tree["cluster_a"], "东庄超市")
        add_unit(tree["cluster_a"], "已关停石料厂", key=True, status="closed")
        add_unit(tree["village_a2"], "甲二村砖厂", key=True)
        add_unit(tree["cluster_b"], "乙村化工厂", key=True)
    client.login("township")
    town = client.get(f"/grids/{tree['town_a']}/key-units").get_data(as_text=True)
    assert "东庄竹木厂" in town and "甲二村砖厂" in town and "共 3 家" in town
    assert "东庄超市" not in town and "已关停石料厂" not in town and "乙村化工厂" not in town
    assert town.index("东庄烟花仓库") < town.index("东庄竹木厂")
    client.login("leader")
    village = client.get(f"/grids/{tree['village_a']}/key-units").get_data(as_text=True)
    assert "东庄竹木厂" in village and "甲二村砖厂" not in village
    assert client.get(f"/grids/{tree['cluster_b']}/key-units").status_code == 404
    # The grid page links to it with the count.
    grid_page = client.get(f"/grids/{tree['village_a']}").get_data(as_text=True)
    assert f"/grids/{tree['village_a']}/key-units" in grid_page
    assert "<strong>2</strong><span>重点监管单位</span>" in grid_page
    with app.app_context():
        assert us.key_unit_count(db.session.get(Grid, tree["county"])) == 4


def test_worker_cannot_see_branch_b_units(make_client, tree, users, app):
    with app.app_context():
        mine = add_unit(tree["cluster_a"], "东庄竹木厂")
        foreign = add_unit(tree["cluster_b"], "乙村化工厂", key=True)
    c = make_client()
    c.login("worker")
    assert c.get(f"/units/{mine}").status_code == 200
    assert c.get(f"/units/{foreign}").status_code == 404
    assert c.get(f"/units/{foreign}/edit").status_code == 404
    c.get("/units/")
    assert c.post(f"/units/{foreign}/status", {"status": "closed"}).status_code == 404
    assert "乙村化工厂" not in c.get("/units/?status=all").get_data(as_text=True)
    assert "乙村化工厂" not in c.get("/units/?q=化工").get_data(as_text=True)
    b = make_client()
    b.login("worker_b")
    assert b.get(f"/units/{foreign}").status_code == 200 and b.get(f"/units/{mine}").status_code == 404


def test_auditor_sees_but_cannot_edit(make_client, tree, users, app):
    with app.app_context():
        uid = add_unit(tree["cluster_a"], "东庄竹木厂", key=True)
    c = make_client()
    c.login("auditor")
    page = c.get(f"/units/{uid}").get_data(as_text=True)
    assert "东庄竹木厂" in page and "标记关停" not in page and f"/units/{uid}/edit" not in page
    assert "登记单位" not in c.get("/units/").get_data(as_text=True)
    assert c.get(f"/units/{uid}/edit").status_code == 403
    assert c.get("/units/new").status_code == 403
    assert c.post(f"/units/{uid}/edit", unit_form(tree["cluster_a"])).status_code == 403
    assert c.post("/units/new", unit_form(tree["cluster_a"])).status_code == 403
    assert c.post(f"/units/{uid}/status", {"status": "closed"}).status_code == 403
    with app.app_context():
        assert db.session.get(Unit, uid).status == "active"
