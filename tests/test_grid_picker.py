"""Grid fields for users with many grids: a search box instead of a list, scoped like every input."""
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.grids import picker
from app.households.models import Household


@pytest.fixture
def small_limit(monkeypatch):
    """The test tree is small: pretend two grids are already too many for a list."""
    monkeypatch.setattr(picker, "SELECT_MAX", 1)


def test_few_grids_keep_the_drop_down_list(client, tree, users):
    client.login("township")
    html = client.get("/households/new").get_data(as_text=True)
    assert '<select id="grid_id"' in html and 'data-pick-for="grid_id"' not in html
    assert "东庄一组" in html and "甲二村" in html


def test_many_grids_become_a_search_box(client, tree, users, small_limit):
    client.login("township")
    html = client.get(f"/households/new?grid_id={tree['cluster_a']}").get_data(as_text=True)
    assert '<select id="grid_id"' not in html
    assert 'type="hidden" name="grid_id" id="grid_id" value="%d"' % tree["cluster_a"] in html
    assert 'value="甲镇 · 甲村 · 东庄自然村 · 东庄一组"' in html  # the chosen grid, named with its place
    for path in ("/units/new", "/cases/new", "/patrols/new"):
        assert 'data-pick-for="grid_id"' in client.get(path).get_data(as_text=True), path


def test_search_lists_lowest_grids_under_a_matching_village_in_scope_only(client, make_client, tree, users):
    client.login("township")
    # a village's name finds the lowest-level grids below it
    html = client.get("/grids/pick?leaf=1&target=grid_id&q=甲村").get_data(as_text=True)
    assert f'data-pick-id="{tree["cluster_a"]}"' in html and "甲镇 · 甲村 · 东庄自然村 · 东庄一组" in html
    assert f'data-pick-id="{tree["village_a"]}"' not in html  # not a lowest-level grid
    # without leaf=1 every matching grid and those below it are offered
    every = client.get("/grids/pick?target=grid_id&q=甲村").get_data(as_text=True)
    assert f'data-pick-id="{tree["village_a"]}"' in every and f'data-pick-id="{tree["nv_a"]}"' in every
    # another town's grids are never offered, whatever is typed
    foreign = client.get("/grids/pick?leaf=1&target=grid_id&q=西庄").get_data(as_text=True)
    assert "西庄" in foreign and "data-pick-id" not in foreign and "没有名称含“西庄”的网格" in foreign
    # LIKE wildcards are plain characters
    assert "data-pick-id" not in client.get("/grids/pick?target=grid_id&q=%25").get_data(as_text=True)
    assert client.get("/grids/pick?target=x%22onclick&q=甲").status_code == 400
    # the county user finds both towns' grids
    admin = make_client()
    admin.login("admin")
    both = admin.get("/grids/pick?leaf=1&target=grid_id&q=庄").get_data(as_text=True)
    assert f'data-pick-id="{tree["cluster_a"]}"' in both and f'data-pick-id="{tree["cluster_b"]}"' in both


def test_search_results_are_capped(client, tree, users, monkeypatch):
    monkeypatch.setattr(picker, "RESULTS", 1)
    client.login("admin")
    html = client.get("/grids/pick?target=grid_id&q=村").get_data(as_text=True)
    assert html.count("data-pick-id") == 1 and "只列出前 1 个" in html


def test_the_chosen_grid_is_checked_like_any_input(app, client, tree, users, small_limit):
    client.login("township")
    client.get("/households/new")  # the form's page, as a person would open it
    from stdnum.cn import ric

    body = "33052219800101001"
    form = {"address": "东庄一组 8 号", "head_name": "王五", "head_id_number": body + ric.calc_check_digit(body + "0"),
            "head_phone": "", "phone": "", "notes": "", "head_political": "群众"}
    for grid_id, message in ((0, "请输入名称查找，并从列表中点选一个网格"),
                             (tree["village_a"], "或不是最低一级网格"),
                             (tree["cluster_b"], "所选网格不在您的管辖范围内")):
        resp = client.post("/households/new", {**form, "grid_id": str(grid_id)})
        assert resp.status_code == 422, grid_id
        html = resp.get_data(as_text=True)
        assert message in html and "东庄一组 8 号" in html
    with app.app_context():
        assert db.session.scalar(select(Household)) is None
    done = client.post("/households/new", {**form, "grid_id": str(tree["cluster_a"])})
    assert done.status_code == 302, re.findall(r"class=\"error\"[^>]*>([^<]*)", done.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(Household.grid_id)) == tree["cluster_a"]


def test_list_filters_name_towns_and_villages_and_keep_a_deeper_choice(client, tree, users):
    client.login("admin")
    for path in ("/units/", "/cases/", "/cases/overview", "/patrols/", "/hazards/", "/households/"):
        html = client.get(path).get_data(as_text=True)
        assert f'<option value="{tree["village_a"]}">' in html, path
        assert "东庄自然村</option>" not in html and "东庄一组</option>" not in html, path  # not every house cluster
    # a list opened for a house cluster (from its grid page) says so in its filter
    html = client.get(f"/patrols/?grid_id={tree['cluster_a']}").get_data(as_text=True)
    assert f'<option value="{tree["cluster_a"]}" selected>甲镇 · 甲村 · 东庄自然村 · 东庄一组</option>' in html
    html = client.get(f"/units/?grid_id={tree['village_a']}").get_data(as_text=True)
    assert f'<option value="{tree["village_a"]}" selected>' in html


def test_an_id_from_another_town_in_the_address_reveals_nothing(client, tree, users, small_limit):
    client.login("township")
    html = client.get(f"/households/new?grid_id={tree['cluster_b']}").get_data(as_text=True)
    assert "西庄" not in html and 'id="grid_id-q" name="q" value=""' in html


def test_a_prefilled_top_grid_is_named_in_the_box(client, tree, users, small_limit):
    client.login("admin")
    html = client.get("/cases/new").get_data(as_text=True)  # prefilled with the admin's own grid, the county
    assert f'name="grid_id" id="grid_id" value="{tree["county"]}"' in html
    assert 'id="grid_id-q" name="q" value="测试县"' in html
    html = client.get(f"/cases/new?grid_id={tree['town_a']}").get_data(as_text=True)
    assert 'id="grid_id-q" name="q" value="甲镇"' in html


def test_the_user_form_lists_few_grids_and_defaults_to_the_least_role(client, tree, users):
    client.login("township")
    html = client.get("/users/new").get_data(as_text=True)
    assert 'id="grids" multiple name="grids"' in html and "东庄一组" in html
    assert '<option selected value="worker">网格员</option>' in html
    assert html.count("<option selected") == 1  # nothing else chosen for the new user


def test_the_user_form_takes_several_grids_through_the_search_box(app, client, tree, users, small_limit):
    from app.accounts.models import User

    client.login("township")
    html = client.get("/users/new").get_data(as_text=True)
    assert '<select id="grids"' not in html and 'data-pick-for="grids"' in html
    assert '<ul id="grids" class="pick-chosen" data-pick-name="grids">' in html
    base = {"username": "newleader", "full_name": "新网格长", "phone": "", "role": "leader", "password": "Initial-pass-2026"}
    # a foreign grid is refused with the form kept, and nothing is saved
    resp = client.post("/users/new", {**base, "grids": [tree["cluster_a"], tree["cluster_b"]]})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 422 and "不在您的管理范围内" in page and 'value="newleader"' in page
    # the in-scope choice stays ticked, named with its place; the foreign one is not named
    assert f'name="grids" value="{tree["cluster_a"]}" checked> 甲镇 · 甲村 · 东庄自然村 · 东庄一组' in page
    assert "西庄" not in page
    assert client.post("/users/new", {**base, "grids": [tree["cluster_a"], tree["village_a2"]]}).status_code == 302
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "newleader"))
        assert sorted(g.id for g in user.grids) == sorted([tree["cluster_a"], tree["village_a2"]])
        uid = user.id
    # editing shows the user's grids as ticked boxes; unticking one (not sending it) drops it
    html = client.get(f"/users/{uid}").get_data(as_text=True)
    assert f'name="grids" value="{tree["village_a2"]}" checked> 甲镇 · 甲二村' in html
    assert client.post(f"/users/{uid}", {**base, "grids": [tree["village_a2"]]}).status_code == 302
    with app.app_context():
        assert [g.id for g in db.session.get(User, uid).grids] == [tree["village_a2"]]
