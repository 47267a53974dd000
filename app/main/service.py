"""First-run set-up: the first administrator and the root grid."""
from ..accounts.models import User
from ..accounts.service import password_problems
from ..core import audit
from ..core.forms import ServiceError
from ..core.models import Setting
from ..core.public import record_address
from ..extensions import db
from ..grids import service as grid_service


def is_set_up():
    return Setting.get("setup_done") == "1"


def run_setup(*, org_name, org_level, division_code, username, full_name, phone, password, min_length,
              public_address=None):
    """Create the first admin and the root grid, once; record the public address printed in QR codes
    (the address the administrator used, unless changed). Raises ServiceError."""
    if is_set_up():
        raise ServiceError("系统已经初始化。")
    recorded = record_address(public_address) if public_address else None
    problems = password_problems(password, min_length, username)
    if problems:
        raise ServiceError(" ".join(problems), "password")
    grid_service.ensure_reference_data()
    root = grid_service.create_grid(None, org_name, grid_service.level_by_key(org_level),
                                    grid_service.kind_by_key("general"), division_code or None)
    user = User(username=username, full_name=full_name, phone=phone or "", role="admin")
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    user.grids = [root]
    Setting.put("org_name", org_name)
    Setting.put("setup_done", "1")
    where = f"，访问地址 {recorded}" if recorded else ""
    audit.record("setup", "user", user.id, f"初始化系统：{org_name}，管理员 {username}{where}", actor=(user.id, username))
    return user
