"""The grid tree: division imports, levels that must fit, moving subtrees, staff, scoping."""
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.core.forms import ServiceError
from app.core.models import AuditLog
from app.grids.scope import visible_grid_ids
from app.extensions import db
from app.grids import service as gs
from app.grids.models import Grid, GridStaff

COUNTY_FILE = Path(__file__).resolve().parent.parent / "data" / "divisions_330522_changxing.csv"


def test_import_county_file_then_rerun(ctx):
    result = gs.import_divisions(COUNTY_FILE.read_text(encoding="utf-8"))
    db.session.commit()
    assert result.summary() == "divisions: 303 rows, 303 created, 0 updated, 0 errors"
    again = gs.import_divisions(COUNTY_FILE.read_text(encoding="utf-8"))
    assert again.summary() == "divisions: 303 rows, 0 created, 0 updated, 0 errors"
    town = db.session.scalar(select(Grid).where(Grid.division_code == "330522200000"))
    assert town.name == "水口乡" and town.parent.name == "长兴县" and town.level.key == "town"
    villages = db.session.scalar(select(func.count()).select_from(Grid).where(Grid.path.startswith(town.path), Grid.id != town.id))
    assert villages == 9


def test_import_updates_names(ctx):
    gs.import_divisions(COUNTY_FILE.read_text(encoding="utf-8"))
    text = COUNTY_FILE.read_text(encoding="utf-8").replace("水口村委会", "水口村")
    result = gs.import_divisions(text)
    assert (result.created, result.updated, result.errors) == (0, 1, [])


def test_bad_rows_import_nothing_and_name_their_lines(ctx):
    text = "\n".join([
        "code,name,level,parent_code",
        "330522000000,长兴县,county,",
        "33052200100,短代码,town,330522000000",            # line 3: 11 digits
        "330522002000,画溪街道,town,330522999000",          # line 4: unknown parent
        "330522002000,重复,town,330522000000",              # line 5: duplicate of line 4
        "330522003000,太湖街道,town,330522004000",          # line 6: a town under a village
        "330522003001,某县,county,330522000000",           # line 7: county under county
        "330522004000,龙山社区,village,330522000000",
    ])
    result = gs.import_divisions(text)
    assert [e.split("：")[0] for e in result.errors] == ["第 3 行", "第 4 行", "第 5 行", "第 6 行", "第 7 行"]
    assert "12 位" in result.errors[0] and "不存在" in result.errors[1] and "重复" in result.errors[2]
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Grid)) == 0


def test_import_cli(app, tmp_path):
    runner = app.test_cli_runner()
    res = runner.invoke(args=["import-divisions", str(COUNTY_FILE)])
    assert res.exit_code == 0 and res.output.strip() == "divisions: 303 rows, 303 created, 0 updated, 0 errors"
    res = runner.invoke(args=["import-divisions", str(COUNTY_FILE)])
    assert res.output.strip() == "divisions: 303 rows, 0 created, 0 updated, 0 errors"
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,level,parent_code\n330522000000,长兴县,county,\n123,坏,town,330522000000\n", encoding="utf-8")
    res = runner.invoke(args=["import-divisions", str(bad)])
    assert res.exit_code == 1
    assert "第 3 行" in res.output and res.output.strip().endswith("divisions: 2 rows, 0 created, 0 updated, 1 errors")


def test_level_must_fit(ctx, tree):
    village = db.session.get(Grid, tree["village_a"])
    with pytest.raises(ServiceError, match="不能建在"):
        gs.create_grid(village, "错层", gs.level_by_key("town"), gs.kind_by_key("general"))
    # Several kinds can cover the same place: a 党建 grid with the same name is fine.
    gs.create_grid(village, "东庄自然村", gs.level_by_key("natural_village"), gs.kind_by_key("party"))
    with pytest.raises(ServiceError, match="已有名为"):
        gs.create_grid(village, "东庄自然村", gs.level_by_key("natural_village"), gs.kind_by_key("general"))


def test_move_rewrites_the_subtree(tree, make_user, app):
    from app.accounts.models import User

    admin_id = make_user("root", "admin")
    with app.app_context():
        _move_checks(tree, db.session.get(User, admin_id))


def _move_checks(tree, admin):
    nv = db.session.get(Grid, tree["nv_a"])
    cluster = db.session.get(Grid, tree["cluster_a"])
    target = db.session.get(Grid, tree["village_a2"])
    gs.move_grid(admin, nv, target)
    db.session.commit()
    nv, cluster = db.session.get(Grid, tree["nv_a"]), db.session.get(Grid, tree["cluster_a"])
    assert nv.path == f"{target.path}{nv.id}/" and cluster.path == f"{nv.path}{cluster.id}/"
    assert cluster.depth == nv.depth + 1 == target.depth + 2
    with pytest.raises(ServiceError, match="自己或它的下级"):
        gs.move_grid(admin, nv, cluster)
    with pytest.raises(ServiceError, match="区划代码"):
        gs.move_grid(admin, db.session.get(Grid, tree["village_a"]), db.session.get(Grid, tree["town_b"]))


def test_scope_sees_subtrees_only(ctx, tree, users):
    from app.accounts.models import User

    worker = db.session.get(User, users["worker"])
    township = db.session.get(User, users["township"])
    seen = set(db.session.scalars(select(Grid.id).where(Grid.id.in_(visible_grid_ids(worker)))))
    assert seen == {tree["cluster_a"]}
    seen = set(db.session.scalars(select(Grid.id).where(Grid.id.in_(visible_grid_ids(township)))))
    assert seen == {tree[k] for k in ("town_a", "village_a", "nv_a", "cluster_a", "village_a2")}


def test_tree_lazy_children_and_grid_page(client, tree, users):
    client.login("township")
    html = client.get("/grids/").get_data(as_text=True)
    assert "甲镇" in html and "乙镇" not in html and "甲村" not in html  # children not loaded yet
    frag = client.get(f"/grids/{tree['town_a']}/children", headers={"HX-Request": "true"})
    body = frag.get_data(as_text=True)
    assert "甲村" in body and "<html" not in body and "HX-Request" in frag.headers["Vary"]
    full = client.get(f"/grids/{tree['town_a']}/children").get_data(as_text=True)
    assert "<html" in full and "甲村" in full
    page = client.get(f"/grids/{tree['village_a']}").get_data(as_text=True)
    assert "东庄自然村" in page and "服务团队现有 0 人" in page


def test_create_rename_move_through_the_browser_forms(client, tree, users, app):
    client.login("village_admin")
    client.get(f"/grids/{tree['nv_a']}/new")
    with app.app_context():
        cluster_level = gs.level_by_key("cluster").id
        general = gs.kind_by_key("general").id
    resp = client.post(f"/grids/{tree['nv_a']}/new", {"name": "东庄二组", "level_id": cluster_level, "kind_id": general})
    assert resp.status_code == 302
    new_id = int(resp.headers["Location"].rstrip("/").split("/")[-1])
    client.get(f"/grids/{new_id}/edit")
    assert client.post(f"/grids/{new_id}/edit", {"name": "东庄第二组", "area_desc": "东至小河"}).status_code == 302
    client.get(f"/grids/{new_id}/move")
    moved = client.post(f"/grids/{new_id}/move", {"parent_id": tree["village_a"]})
    assert moved.status_code == 302 and moved.headers["Location"] == f"/grids/{new_id}"
    # Official units with a division code are not renamed by a village admin.
    assert client.get(f"/grids/{tree['village_a']}/edit").status_code == 403
    with app.app_context():
        grid = db.session.get(Grid, new_id)
        assert grid.name == "东庄第二组" and grid.parent_id == tree["village_a"]
        audit = db.session.scalars(select(AuditLog).where(AuditLog.entity == "grid", AuditLog.entity_id == str(new_id)).order_by(AuditLog.id)).all()
        assert [a.action for a in audit][:2] == ["create", "update"]
        assert "东庄二组 → 东庄第二组" in audit[1].summary and audit[1].actor_name == "village_admin"


def test_assign_staff_and_team_warning(client, tree, users, app):
    client.login("leader")
    client.get(f"/grids/{tree['village_a']}/staff/new")
    resp = client.post(f"/grids/{tree['village_a']}/staff/new", {"role": "worker", "user_id": users["worker"], "duty": "联系东庄"})
    assert resp.status_code == 302
    html = client.post(f"/grids/{tree['village_a']}/staff/new", {"role": "worker", "user_id": users["worker"]}).get_data(as_text=True)
    assert "已是本网格的网格员" in html
    html = client.post(f"/grids/{tree['village_a']}/staff/new", {"role": "team_member", "user_id": 0, "phone": "13800000000"}).get_data(as_text=True)
    assert "请选择一个账号，或填写姓名" in html
    html = client.post(f"/grids/{tree['village_a']}/staff/new", {"role": "team_member", "user_id": 0, "name": "村医",
                                                                 "phone": "1380013800"}).get_data(as_text=True)
    assert "不是有效的手机号或固定电话" in html
    for i in range(5):
        client.post(f"/grids/{tree['village_a']}/staff/new", {"role": "team_member", "user_id": 0, "name": f"队员{i}", "phone": "13800000000"})
    page = client.get(f"/grids/{tree['village_a']}").get_data(as_text=True)
    assert "服务团队现有" not in page and "联系东庄" in page
    with app.app_context():
        from app.accounts.models import User

        worker = db.session.get(User, users["worker"])
        # Now serving the village, the worker can see it.
        assert tree["village_a"] in {g.id for g in worker.grids}
        staff_id = db.session.scalar(select(GridStaff.id).where(GridStaff.name == "队员0"))
    assert client.post(f"/grids/{tree['village_a']}/staff/{staff_id}/remove").status_code == 302


# Set-up without a division code, then the county's file

def _set_up(name="长兴县", level="county"):
    from app.main import service as setup

    user = setup.run_setup(org_name=name, org_level=level, division_code="", username="chief", full_name="王主任",
                           phone="", password="Changxing-2026", min_length=8)
    db.session.commit()
    return user


def test_the_county_file_adopts_the_root_set_up_without_a_code(ctx):
    admin = _set_up()
    root_id = admin.grids[0].id
    result = gs.import_divisions(COUNTY_FILE.read_text(encoding="utf-8"))
    db.session.commit()
    assert not result.errors and result.created == 302  # every row but the root, which was there already
    roots = db.session.scalars(select(Grid).where(Grid.parent_id.is_(None))).all()
    assert [(g.id, g.name, g.division_code) for g in roots] == [(root_id, "长兴县", "330522000000")]
    town = db.session.scalar(select(Grid).where(Grid.division_code == "330522200000"))
    assert town.parent_id == root_id
    # the admin, bound to the root, now reaches every imported grid
    from app.grids.scope import can_see_grid

    assert can_see_grid(db.session.get(type(admin), admin.id), town)


def test_a_root_that_does_not_match_the_file_is_a_question_not_a_second_root(ctx):
    _set_up(name="长兴")
    result = gs.import_divisions(COUNTY_FILE.read_text(encoding="utf-8"))
    db.session.rollback()
    assert result.errors and "已有未填区划代码的根网格“长兴”" in result.errors[0]
    assert "先把“长兴”改名为“长兴县”" in result.errors[0]
    assert db.session.scalar(select(func.count(Grid.id))) == 1


def test_set_up_offers_a_city_and_the_name_can_be_changed_later(app, client):
    html = client.get("/setup").get_data(as_text=True)
    assert '<option value="city">市</option>' in html
    form = {"org_name": "湖州市", "org_level": "city", "division_code": "", "username": "chief",
            "full_name": "王主任", "phone": "", "password": "Changxing-2026", "confirm": "Changxing-2026",
            "public_address": "http://localhost"}
    assert client.post("/setup", form).status_code == 302
    with app.app_context():
        root = db.session.scalar(select(Grid))
        assert (root.name, root.level.key) == ("湖州市", "city")
    client.login("chief", "Changxing-2026")
    settings = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="org_name"' in settings and "湖州市" in settings
    resp = client.post("/admin/settings/name", {"org_name": "湖州市村网格"}, follow_redirects=True)
    assert "已修改系统名称" in resp.get_data(as_text=True)
    assert "湖州市村网格" in client.get("/").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(AuditLog.summary).where(AuditLog.entity_id == "org_name")) == \
            "系统名称：湖州市 → 湖州市村网格"
    empty = client.post("/admin/settings/name", {"org_name": " "}, follow_redirects=True)
    assert "请填写名称" in empty.get_data(as_text=True)


def test_an_empty_grid_can_be_deleted(app, client, tree, users):
    from app.households import service as hs
    from tests.factories import Admin, idn

    with app.app_context():
        spare = gs.create_grid(db.session.get(Grid, tree["nv_a"]), "东庄二组（误建）", gs.level_by_key("cluster"),
                               gs.kind_by_key("general"))
        busy = gs.create_grid(db.session.get(Grid, tree["nv_a"]), "东庄三组", gs.level_by_key("cluster"),
                              gs.kind_by_key("general"))
        hs.create_household(Admin(), busy, "东庄三组1号", hs.ResidentData(name="李四", id_number=idn()))
        db.session.commit()
        spare_id, busy_id = spare.id, busy.id
    client.login("village_admin")
    page = client.get(f"/grids/{spare_id}").get_data(as_text=True)
    assert "删除空网格" in page
    assert "删除空网格" not in client.get(f"/grids/{busy_id}").get_data(as_text=True)
    refused = client.post(f"/grids/{busy_id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "不是空网格（有户 1 条、人员 1 条）" in refused
    resp = client.post(f"/grids/{spare_id}/delete", follow_redirects=True).get_data(as_text=True)
    assert "已删除空网格“东庄二组（误建）”" in resp
    with app.app_context():
        assert db.session.get(Grid, spare_id) is None and db.session.get(Grid, busy_id) is not None
    assert client.post(f"/grids/{tree['village_a']}/delete").status_code == 403  # coded: the admin's
