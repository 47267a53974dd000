"""What each account role may do, in one table, checked in views (never only in templates)."""
from functools import wraps

from flask import abort
from flask_login import current_user

PERMISSIONS = {
    # Create, rename and move grids in scope; edit levels and kinds is admin only.
    "manage_grids": {"admin", "township", "village_admin"},
    "manage_reference": {"admin"},
    # Put people into grid roles and service teams.
    "assign_staff": {"admin", "township", "village_admin", "leader"},
    # Create, disable, re-enable users and reset passwords (lower ranks, own scope).
    "manage_users": {"admin", "township", "village_admin"},
    # Browse the audit log.
    "view_audit": {"admin", "auditor"},
    # The ledger: record households, members, categories and units in one's grids.
    "edit_ledger": {"admin", "township", "village_admin", "leader", "worker"},
    # See a full ID number (each reveal is audited); everyone else sees it masked.
    "reveal_id": {"admin", "township", "village_admin"},
    # Add a village's own household categories.
    "manage_categories": {"admin", "township", "village_admin"},
    # Excel: import rosters; export lists (masked unless reveal_id).
    "import_ledger": {"admin", "township", "village_admin"},
    "export_ledger": {"admin", "township", "village_admin", "leader"},
    # Decide which worker links which households (联系户).
    "assign_contacts": {"admin", "township", "village_admin", "leader"},
    # Be the linked worker of households (联系户, 篇二), and keep a daily work log (篇四).
    "link_households": {"worker", "leader"},
    "keep_worklog": {"worker", "leader"},
    # Visits count as a cadre's (驻村干部) for the yearly rule.
    "visit_as_cadre": {"admin", "township", "village_admin", "leader"},
    # Visits and one's own daily work log.
    "record_visits": {"admin", "township", "village_admin", "leader", "worker"},
    # Coverage per grid and worker, households nobody visited (read-only for auditors).
    "oversee_visits": {"admin", "township", "village_admin", "leader", "auditor"},
    # Change a village's visit rules (the defaults are the admin's).
    "manage_visit_rules": {"admin", "township", "village_admin"},
    # 周查: check workers' weekly logs.
    "check_worklogs": {"admin", "township", "village_admin", "leader"},
    # Meetings: plan, record minutes, decisions and follow-ups; add a village's own kinds.
    "run_meetings": {"admin", "township", "village_admin", "leader"},
    "manage_meeting_kinds": {"admin", "township", "village_admin"},
    # Responsibility agreements: draft, issue, attach the signed paper, new versions
    # (township → village agreements only by township staff: see agreements.service).
    "manage_agreements": {"admin", "township", "village_admin"},
    # What a grid's notice board says beyond its ledger (services, complaint phone).
    "edit_notices": {"admin", "township", "village_admin", "leader"},
    # Cases: raise one (worker on the phone, village office).
    "report_case": {"admin", "township", "village_admin", "leader", "worker"},
    # The desk of a case: accept, assign, transfer, escalate, close … the cases held at one's grids
    # (the workflow table, app/cases/workflow.py, says which step needs the desk, the holder or the reporter).
    "dispatch_cases": {"admin", "township", "village_admin", "leader"},
    # Case categories with their time limits, and the departments cases are transferred to.
    "manage_case_settings": {"admin", "township"},
    # Accounts of a department (role "department": 派出所, 水利站 … of a township or the county).
    # A department user holds no permission of this table: they see and answer exactly the cases
    # handed to their department (app/cases/service.py case_clause, workflow.py relations).
    "manage_department_users": {"admin", "township"},
    # Record patrols (巡查) and the hazards they find, fix a hazard on the spot, report it rectified.
    "patrol": {"admin", "township", "village_admin", "leader", "worker"},
    # Set a hazard's deadline, report it up, review and close it; 挂牌督办 (the hazard step table,
    # app/patrols/service.py, names which step needs which).
    "handle_hazards": {"admin", "township", "village_admin", "leader"},
    "supervise_hazards": {"admin", "township"},
    # Assessment (考核): rankings and scores of the workers and grids in scope (everyone sees their own);
    # entering manual scores, deductions and bonuses, publishing a period and correcting it; the schemes.
    "view_assessment": {"admin", "township", "village_admin", "leader", "auditor"},
    "assess": {"admin", "township"},
    # Statistics of the grids in scope (cases, field work, build-out) and the leaders' dashboard.
    "view_stats": {"admin", "township", "village_admin", "leader", "auditor"},
    "manage_schemes": {"admin", "township"},
    # 季度自评 (篇三): a grid's own staff fill in its quarterly self-evaluation; the level above rates it
    # (app/assessment/selfeval.py: the village rates the grids inside it, the township its villages).
    "fill_self_evaluations": {"village_admin", "leader", "worker"},
    "rate_self_evaluations": {"admin", "township", "village_admin", "leader"},
    # 党员分类积分 (篇四): enter a party member's 志愿服务, commendations and deductions, with evidence.
    "score_party_members": {"admin", "township", "village_admin", "leader"},
    # The working-day calendar that amends the official holidays.
    "manage_calendar": {"admin"},
    # The installation's settings: its public address (printed in QR codes).
    "manage_installation": {"admin"},
}


def roles_with(permission):
    """The roles granted the permission (to find the users who hold it)."""
    return PERMISSIONS[permission]


def can(user, permission):
    """Whether the user's role grants the permission."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.role in PERMISSIONS[permission]


# The permissions whose pages sit in the 管理 menu (top bar and phone bottom bar link to it).
ADMIN_MENU = ("manage_categories", "manage_users", "view_audit", "manage_reference", "manage_case_settings",
              "manage_calendar", "manage_installation")


def has_admin_menu(user):
    """Whether the user has any page in the 管理 menu."""
    return any(can(user, p) for p in ADMIN_MENU)


def require(permission):
    """View decorator: 403 unless the current user has the permission."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not can(current_user, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission  # lets the route matrix's test take the check away and see it fail
        return wrapped

    return decorator
