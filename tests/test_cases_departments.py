"""Departments with accounts: a department of a township (or the county) has users who see exactly
the cases handed to it, sign for, answer, ask for more time and are urged; co-handling departments
(联合执法) each answer; the desk no longer answers for a department that has accounts."""
from datetime import timedelta

from sqlalchemy import select

from app.accounts.models import User
from app.cases.models import Case, CaseEvent, Department
from app.extensions import db
from tests.factories import act, unread


def _dept(app, name, grid_id=None):
    with app.app_context():
        dept = db.session.scalar(select(Department).where(Department.name == name))
        assert dept.grid_id == grid_id
        return dept.id


def _add_department_with_account(app, township, tree, name, username):
    """The township adds a department of 甲镇 and an account for it through the settings pages."""
    township.get("/cases/settings")
    resp = township.post("/cases/settings/departments/new", {"dept-name": name, "dept-grid_id": tree["town_a"],
                                                              "dept-phone": "0572-1234567", "dept-active": "y"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    dept_id = _dept(app, name, tree["town_a"])
    page = township.get(f"/users/departments/{dept_id}")
    assert page.status_code == 200 and f"{name}的账号" in page.get_data(as_text=True)
    resp = township.post(f"/users/departments/{dept_id}", {
        "username": username, "full_name": f"{name}老周", "phone": "13700000001", "password": "Dept-pass-2026!"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        assert user.role == "department" and user.department_id == dept_id and user.must_change_password
        user.must_change_password = False
        user.set_password("Dept-pass-2026!")
        db.session.commit()
        return dept_id, user.id


def _login(make_client, username, password="Dept-pass-2026!"):
    c = make_client()
    assert c.login(username, password).status_code == 302
    return c


def test_a_department_user_receives_signs_for_is_urged_and_answers(app, make_client, tree, users, report):
    township = make_client()
    township.login("township")
    dept_id, police_id = _add_department_with_account(app, township, tree, "甲镇水利站", "slz1")
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    # The village transfers to the township's department (offered: the level above has it).
    assert "甲镇水利站" in leader.get(f"/cases/{report}").get_data(as_text=True)
    assert act(app, leader, report, "transfer", department_id=dept_id, note="请水利站到场").status_code == 302
    assert any("您有交办事件" in t for t in unread(app, police_id))
    police = _login(make_client, "slz1")
    listing = police.get("/cases/").get_data(as_text=True)
    assert "村口路灯不亮" in listing
    home = police.get("/").get_data(as_text=True)
    assert "村口路灯不亮" in home and "未办结 <strong>1</strong> 件" in home
    # Nothing else: no grid, no household, no other case.
    assert police.get(f"/grids/{tree['cluster_a']}").status_code == 404
    assert "东庄" not in police.get("/households/").get_data(as_text=True)
    # The desk no longer answers for a department that has its own account.
    page = leader.get(f"/cases/{report}").get_data(as_text=True)
    assert "确认反馈结果" not in page and "确认催办" in page
    assert act(app, police, report, "start", note="已签收").status_code == 302
    with app.app_context():
        later = (db.session.get(Case, report).deadline_at + timedelta(days=10)).date().isoformat()
    assert act(app, police, report, "request_extension", extend_to=later, note="需等水位下降").status_code == 302
    assert act(app, leader, report, "refuse_extension", note="请按期办理").status_code == 302
    assert any("不同意延期" in t for t in unread(app, police_id))
    assert act(app, leader, report, "urge", note="抓紧").status_code == 302
    assert any(t.startswith("催办") for t in unread(app, police_id))
    assert act(app, police, report, "reply", note="已疏通排水渠").status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        assert case.state == "replied"
        ev = case.events[-1]
        assert ev.action == "reply" and ev.actor_id == police_id and "甲镇水利站" in ev.detail
    # The leader hears of the answer.
    assert any("甲镇水利站 反馈" in t for t in unread(app, users["leader"]))


def test_co_handling_departments_each_answer(app, make_client, tree, users, report):
    township = make_client()
    township.login("township")
    lead_id, lead_user = _add_department_with_account(app, township, tree, "甲镇环保站", "hbz1")
    co_id, co_user = _add_department_with_account(app, township, tree, "甲镇国土所", "gts1")
    no_account = _dept(app, "甲镇派出所", tree["town_a"])  # the fixture's, whose only account is "department"
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    resp = act(app, leader, report, "transfer", department_id=lead_id, co_department_ids=[co_id, no_account],
               note="联合执法")
    assert resp.status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        assert {c.department_id for c in case.co_departments} == {co_id, no_account}
        assert "会办：" in case.events[-1].detail and "甲镇国土所" in case.events[-1].detail
    assert any("您有交办事件" in t for t in unread(app, co_user))
    assert any("您有交办事件" in t for t in unread(app, users["department"]))
    co = _login(make_client, "gts1")
    page = co.get(f"/cases/{report}").get_data(as_text=True)
    assert "确认会办反馈" in page and "确认反馈结果" not in page and "确认签收办理" not in page
    assert act(app, co, report, "co_reply", note="已核查用地情况").status_code == 302
    assert "确认会办反馈" not in co.get(f"/cases/{report}").get_data(as_text=True)  # answered once
    police = make_client()
    police.login("department")
    assert act(app, police, report, "co_reply", note="已到场维持秩序").status_code == 302
    lead = _login(make_client, "hbz1")
    assert act(app, lead, report, "reply", note="已责令整改").status_code == 302
    with app.app_context():
        events = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == report,
                                                            CaseEvent.action == "co_reply")).all()
        assert [(e.actor_id, e.detail) for e in events] == [(co_user, "甲镇国土所 会办反馈"),
                                                             (users["department"], "甲镇派出所 会办反馈")]
    html = leader.get(f"/cases/{report}").get_data(as_text=True)
    assert "甲镇国土所（已反馈）" in html and "甲镇派出所（已反馈）" in html


def test_department_users_see_only_their_departments_cases(app, make_client, tree, users, report):
    """The fixture's 派出所 user sees nothing until a case is handed to 派出所; another town's department
    is not offered to a case of 甲镇; the township manages only its own departments' accounts."""
    police = make_client()
    police.login("department")
    assert police.get(f"/cases/{report}").status_code == 404
    assert "村口路灯不亮" not in police.get("/cases/").get_data(as_text=True)
    with app.app_context():
        other = Department(name="乙镇派出所", grid_id=tree["town_b"])
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    html = act(app, leader, report, "transfer", department_id=other_id, note="x").get_data(as_text=True)
    assert "请选择移交的部门" in html
    township = make_client()
    township.login("township")
    assert township.get(f"/users/departments/{other_id}").status_code == 404
    assert township.get(f"/cases/settings/departments/{other_id}").status_code == 404
    # The user list's form does not offer the department role (it needs a department).
    assert "部门工作人员" not in township.get("/users/new").get_data(as_text=True)


def _stat(html, label):
    """The number shown above ``label`` in the home screen's department counts."""
    import re

    m = re.search(r"<strong>(\d+)</strong><span>" + label + "</span>", html)
    assert m, label
    return int(m.group(1))


def test_a_department_users_home_shows_its_cases_to_sign_in_progress_and_late_and_no_grid(
        app, make_client, tree, users, report):
    police = make_client()
    police.login("department")
    home = police.get("/").get_data(as_text=True)
    assert 'id="my-grids"' not in home and "我的网格" not in home and "我的联系户" not in home
    assert "甲镇派出所的事件" in home
    # nor links to the grids, the ledger, meetings or assessment, which hold nothing for a department
    for place in ("/grids/", "/households/", "/meetings/", "/assessment/"):
        assert f'href="{place}"' not in home, place
    assert 'href="/cases/"' in home
    assert (_stat(home, "待签收"), _stat(home, "办理中"), _stat(home, "已超期")) == (0, 0, 0)
    dept_id = _dept(app, "甲镇派出所", tree["town_a"])
    leader = make_client()
    leader.login("leader")
    act(app, leader, report, "accept")
    assert act(app, leader, report, "transfer", department_id=dept_id, note="请派出所处理").status_code == 302
    home = police.get("/").get_data(as_text=True)
    assert (_stat(home, "待签收"), _stat(home, "办理中"), _stat(home, "已超期")) == (1, 0, 0)
    assert act(app, police, report, "start", note="已签收").status_code == 302
    with app.app_context():
        case = db.session.get(Case, report)
        case.deadline_at = case.deadline_at - timedelta(days=60)
        db.session.commit()
    home = police.get("/").get_data(as_text=True)
    assert (_stat(home, "待签收"), _stat(home, "办理中"), _stat(home, "已超期")) == (0, 1, 1)
    assert "村口路灯不亮" in home
    # A grid user's home keeps the grid card and shows no department counts.
    page = leader.get("/").get_data(as_text=True)
    assert 'id="my-grids"' in page and "待签收</span>" not in page
    assert all(f'href="{place}"' in page for place in ("/grids/", "/households/", "/meetings/", "/assessment/"))
