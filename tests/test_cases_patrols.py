"""Patrols and hazards: a patrol on the phone with a photo and a hazard, due patrols by grid
level and unit risk grade, a hazard from 挂牌督办 to 销号, 上报 as a case, overdue hazards."""
import io
import re
from datetime import timedelta

from sqlalchemy import select, update

from app.cases.models import Case
from app.core.timeutil import local_today, utcnow
from app.extensions import db
from app.patrols.models import Hazard, HazardEvent, Patrol
from tests.factories import photo_bytes, unread
from tests.factories import unit_fixture


def _patrol(app, c, grid_id, hazard="", unit_id="", **extra):
    c.get("/patrols/new")
    resp = c.post("/patrols/new", {"grid_id": grid_id, "unit_id": unit_id, "place": "后山山塘",
                                   "checked": "坝体、溢洪道、警示牌", "findings": "坝脚渗水", "hazard": hazard,
                                   "severity": "general", **extra})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    return int(re.search(r"/patrols/(\d+)$", resp.headers["Location"]).group(1))


def _act(app, c, hazard_id, action, **fields):
    c.get(f"/hazards/{hazard_id}")
    with app.app_context():
        version = db.session.get(Hazard, hazard_id).version
    data = {"action": action, f"{action}-version": version, **{f"{action}-{k}": v for k, v in fields.items()}}
    return c.post(f"/hazards/{hazard_id}/act", data)


def _hazard_id(app):
    with app.app_context():
        return db.session.scalar(select(Hazard.id).order_by(Hazard.id.desc()))


def test_patrol_with_photo_and_hazard_in_scope(app, make_client, tree, users):
    c = make_client()
    c.login("worker")
    patrol_id = _patrol(app, c, tree["cluster_a"], hazard="坝脚渗水，需加固",
                        photos=(io.BytesIO(photo_bytes("JPEG", (3000, 2000))), "dam.jpg"))
    with app.app_context():
        patrol = db.session.get(Patrol, patrol_id)
        assert patrol.photos[0].width == 1600 and patrol.hazards[0].state == "found"
        photo_id = patrol.photos[0].id
    page = c.get(f"/patrols/{patrol_id}").get_data(as_text=True)
    assert "坝脚渗水，需加固" in page
    assert c.get(f"/patrols/{patrol_id}/photos/{photo_id}").mimetype == "image/jpeg"
    other = make_client()
    other.login("worker_b")
    assert other.get(f"/patrols/{patrol_id}").status_code == 404
    assert other.get(f"/hazards/{_hazard_id(app)}").status_code == 404
    assert other.get(f"/patrols/{patrol_id}/photos/{photo_id}").status_code == 404
    c.get("/patrols/new")
    resp = c.post("/patrols/new", {"grid_id": tree["cluster_a"], "checked": ""})
    assert resp.status_code == 422 and "请写明检查了什么" in resp.get_data(as_text=True)


def test_due_patrols_by_level_and_risk_grade(app, make_client, tree, users):
    with app.app_context():
        from app.grids.models import Grid

        unit = unit_fixture(db.session.get(Grid, tree["cluster_a"]))  # 较大风险: every 14 days
        unit_id = unit.id
    c = make_client()
    c.login("leader")
    page = c.get("/patrols/due").get_data(as_text=True)
    assert "东庄自然村" in page and "东庄一组" in page and "从未巡查" in page and unit.name in page
    assert "西庄" not in page  # another township's grids are not listed
    _patrol(app, c, tree["cluster_a"])
    _patrol(app, c, tree["cluster_a"], unit_id=unit_id)
    page = c.get("/patrols/due").get_data(as_text=True)
    assert "东庄一组" not in page and unit.name not in page and "东庄自然村" in page
    # Eight days later the weekly cluster patrol is overdue again, the fortnightly unit check is not.
    with app.app_context():
        db.session.execute(update(Patrol).values(patrolled_at=utcnow() - timedelta(days=9)))
        db.session.commit()
    page = c.get("/patrols/due").get_data(as_text=True)
    assert "东庄一组" in page and unit.name not in page
    # A long list comes in pages (a county sees every overdue cluster of its villages).
    app.config["PAGE_SIZE"] = 1
    try:
        first, second = (c.get(f"/patrols/due?page={n}").get_data(as_text=True) for n in (1, 2))
        assert "第 1 / 2 页，共 2 条" in first and "第 2 / 2 页，共 2 条" in second
        assert ("东庄一组" in first) != ("东庄一组" in second) and ("东庄自然村" in first) != ("东庄自然村" in second)
        assert "第 2 / 2 页" in c.get("/patrols/due?page=9").get_data(as_text=True)  # past the end: the last page
    finally:
        app.config["PAGE_SIZE"] = 50


def test_hazard_from_supervision_to_closing(app, make_client, tree, users):
    worker, leader, township = make_client(), make_client(), make_client()
    worker.login("worker")
    leader.login("leader")
    township.login("township")
    _patrol(app, worker, tree["cluster_a"], hazard="竹木加工厂消防通道堵塞")
    hid = _hazard_id(app)
    # Only the township may list it for supervised rectification (挂牌督办).
    assert "确认挂牌督办" not in leader.get(f"/hazards/{hid}").get_data(as_text=True)
    resp = _act(app, township, hid, "supervise", deadline=(local_today() + timedelta(days=10)).isoformat())
    assert "请写明整改期间采取的安全措施" in resp.get_data(as_text=True)
    resp = _act(app, township, hid, "supervise", deadline="2020-01-01", measures="设置警示标志")
    assert "整改期限不能早于今天" in resp.get_data(as_text=True)
    assert _act(app, township, hid, "supervise", deadline=(local_today() + timedelta(days=10)).isoformat(),
                measures="设置警示标志，专人值守，停用西侧车间", note="挂牌督办").status_code == 302
    with app.app_context():
        h = db.session.get(Hazard, hid)
        assert h.state == "supervised" and h.severity == "major" and "专人值守" in h.measures
    # Listed publicly on the grid's intake page (no account needed).
    from tests.factories import grid_public_code

    public = make_client().get(f"/q/{grid_public_code(tree['cluster_a'])}").get_data(as_text=True)
    assert "挂牌督办" in public and "竹木加工厂消防通道堵塞" in public
    assert _act(app, worker, hid, "rectified", note="已清理通道").status_code == 302
    # A failed re-inspection sends it back; a passed one allows 销号.
    assert _act(app, leader, hid, "review", result="fail", note="通道仍有杂物").status_code == 302
    assert db_state(app, hid) == "rectifying"
    assert _act(app, worker, hid, "rectified", note="杂物全部清走").status_code == 302
    assert _act(app, leader, hid, "review", result="pass", note="复查合格").status_code == 302
    assert _act(app, leader, hid, "close").status_code == 302
    with app.app_context():
        h = db.session.get(Hazard, hid)
        assert h.state == "closed" and h.closed_at is not None
        steps = [e.action for e in db.session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hid)
                                                    .order_by(HazardEvent.id))]
    assert steps == ["found", "supervise", "rectified", "review", "rectified", "review", "close"]
    assert "竹木加工厂消防通道堵塞" not in make_client().get(f"/q/{grid_public_code(tree['cluster_a'])}").get_data(as_text=True)


def db_state(app, hid):
    with app.app_context():
        return db.session.get(Hazard, hid).state


def test_hazard_fixed_on_spot_or_reported_as_a_case(app, make_client, tree, users):
    worker, leader = make_client(), make_client()
    worker.login("worker")
    leader.login("leader")
    _patrol(app, worker, tree["cluster_a"], hazard="电线裸露")
    hid = _hazard_id(app)
    assert _act(app, worker, hid, "fix_on_spot", note="已用绝缘胶布包好").status_code == 302
    assert db_state(app, hid) == "review"
    _patrol(app, worker, tree["cluster_a"], hazard="山体滑坡迹象")
    hid2 = _hazard_id(app)
    assert _act(app, leader, hid2, "report", note="需国土所评估").status_code == 302
    with app.app_context():
        h = db.session.get(Hazard, hid2)
        case = db.session.get(Case, h.case_id)
        assert h.state == "reported" and case.source == "patrol" and case.source_ref == f"hazard:{hid2}"
        # Found in 东庄一组, whose desk is the village: reported up, it waits at 甲镇's desk.
        assert case.grid_id == tree["cluster_a"] and case.current_grid_id == tree["town_a"]
        assert "上报至 甲镇" in case.events[0].detail
    assert any("山体滑坡迹象" in t for t in unread(app, users["township"]))


def test_a_hazard_step_refused_because_someone_acted_first_says_who_and_keeps_the_typing(app, make_client, tree, users):
    """Two desks open the same hazard; the leader sets a deadline first, the village office then presses 上报
    with a note: 409, who did what first, and the note and measures shown again — nothing saved twice."""
    leader, office = make_client(), make_client()
    leader.login("leader")
    office.login("village_admin")
    worker = make_client()
    worker.login("worker")
    _patrol(app, worker, tree["cluster_a"], hazard="配电箱门锁损坏")
    hid = _hazard_id(app)
    office.get(f"/hazards/{hid}")
    with app.app_context():
        seen = db.session.get(Hazard, hid).version
    deadline = (local_today() + timedelta(days=7)).isoformat()
    assert _act(app, leader, hid, "set_deadline", deadline=deadline, measures="贴封条").status_code == 302
    resp = office.post(f"/hazards/{hid}/act", {"action": "set_deadline", "set_deadline-version": seen,
                                                "set_deadline-deadline": deadline,
                                                "set_deadline-measures": "断电并设置警示牌",
                                                "set_deadline-note": "已通知电工明天来修"})
    assert resp.status_code == 409
    html = resp.get_data(as_text=True)
    assert 'id="hazard-refused"' in html and "leader（网格长）于" in html
    assert "已“限期整改”，您的“限期整改”没有保存" in html
    assert "断电并设置警示牌</textarea>" in html and "已通知电工明天来修</textarea>" in html
    # Still open to the office (上报 from 整改中): that form is offered with the new version.
    resp = office.post(f"/hazards/{hid}/act", {"action": "report", "report-version": seen, "report-note": "需供电所处理"})
    assert resp.status_code == 409 and "需供电所处理</textarea>" in resp.get_data(as_text=True)
    with app.app_context():
        version = db.session.get(Hazard, hid).version
        steps = [e.action for e in db.session.scalars(select(HazardEvent).where(HazardEvent.hazard_id == hid))]
    assert steps == ["found", "set_deadline"]
    assert f'name="report-version" type="hidden" value="{version}"' in resp.get_data(as_text=True)


def test_overdue_hazards_per_grid(app, make_client, tree, users):
    leader = make_client()
    leader.login("leader")
    _patrol(app, leader, tree["cluster_a"], hazard="护栏缺失")
    hid = _hazard_id(app)
    _act(app, leader, hid, "set_deadline", deadline=local_today().isoformat(), measures="拉警戒线")
    with app.app_context():
        db.session.execute(update(Hazard).where(Hazard.id == hid).values(deadline_at=utcnow() - timedelta(days=1)))
        db.session.commit()
    page = leader.get(f"/hazards/?overdue=1&grid_id={tree['nv_a']}").get_data(as_text=True)
    assert "护栏缺失" in page and "due-late" in page
    assert "护栏缺失" not in leader.get(f"/hazards/?overdue=1&grid_id={tree['village_a2']}").get_data(as_text=True)


def test_patrol_rules_are_editable(app, make_client, users):
    c = make_client()
    c.login("admin")
    page = c.get("/patrols/rules").get_data(as_text=True)
    rule_id = int(re.search(r'name="rule_id" value="(\d+)"', page).group(1))
    assert c.post("/patrols/rules", {"rule_id": rule_id, f"r{rule_id}-every_days": 0}).status_code == 422
    assert c.post("/patrols/rules", {"rule_id": rule_id, f"r{rule_id}-every_days": 10}).status_code == 302
    w = make_client()
    w.login("worker")
    assert w.get("/patrols/rules").status_code == 403


def test_a_major_hazard_alerts_village_grid_leader_and_township_at_once(app, make_client, tree, users, make_user):
    """重大隐患, like a 突发 case: the village, the grid's 网格长 and the township hear at once."""
    from app.accounts.models import User
    from app.grids import service as gs
    from app.grids.models import Grid

    group_leader = make_user("group_leader", "worker", [tree["cluster_a"]])
    with app.app_context():
        gs.assign_staff(db.session.get(Grid, tree["cluster_a"]), "leader", db.session.get(User, group_leader), "", "")
        db.session.commit()
    worker = make_client()
    worker.login("worker")
    _patrol(app, worker, tree["cluster_a"], hazard="液化气站阀门泄漏", severity="major")
    hid = _hazard_id(app)
    for who in (users["leader"], users["village_admin"], users["township"], group_leader):
        texts = unread(app, who)
        assert any(t.startswith("【重大隐患】液化气站阀门泄漏") for t in texts), (who, texts)
    assert not unread(app, users["worker_b"])
    # The message opens the hazard's page.
    leader = make_client()
    leader.login("leader")
    with app.app_context():
        from app.notifications.models import Notification

        note_id = db.session.scalar(select(Notification.id).where(Notification.user_id == users["leader"]))
    leader.get("/notifications")
    resp = leader.post(f"/notifications/{note_id}/open")
    assert resp.headers["Location"].endswith(f"/hazards/{hid}")
