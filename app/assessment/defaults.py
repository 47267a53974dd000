"""The default schemes and bands, built from the plans; data only (the migration inserts the same rows)."""
DEFAULT_BANDS = [("五星", 900), ("四星", 800), ("三星", 700), ("二星", 600), ("一星", 0)]
# The default schemes, built from the plans (篇一 千分制; 篇四 日报周查月考核; 篇二/篇三 例会).
# (name, kind, formula, points, unit points, description)
_WORKER_ITEMS = [
    ("走访", "auto", "visits_done", 200, 0, "按走访规则应走访的户次完成情况（篇二、篇四）"),
    ("民情日记/工作日志", "auto", "log_days", 150, 0, "每个工作日填写工作日志（篇一、篇四 日报）"),
    ("事件办理", "auto", "cases_in_time", 200, 0, "负责网格内事件按期办结（篇一、篇四 限时办理）"),
    ("巡查", "auto", "patrols_done", 150, 0, "按频次巡查网格和生产经营单位（篇三、篇五）"),
    ("例会", "auto", "attendance", 100, 0, "按时参加例会（篇二、篇四）"),
    ("台账", "manual", "", 100, 0, "台账底数清、情况明、信息准，由上级检查评分"),
    ("群众满意度", "auto", "satisfaction", 100, 0, "事件回访群众满意（篇二、篇四）"),
    ("督查抽查扣分", "deduction", "", 200, 10, "镇督查组检查、抽查发现履职不到位，每次扣分，累计不超过上限（篇二）"),
    ("突发事件迟报漏报", "deduction", "", 100, 50, "突发性事件未及时上报，每次扣 50 分（篇一）"),
    ("表彰奖励", "bonus", "", 50, 10, "受到表彰、群众书面表扬等加分"),
]
_AREA_ITEMS = [
    ("走访", "auto", "visits_done", 200, 0, "全部户按走访规则的完成情况"),
    ("民情日记/工作日志", "auto", "log_days", 150, 0, "本村网格员工作日志填写情况"),
    ("事件办理", "auto", "cases_in_time", 200, 0, "本村事件按期办结"),
    ("巡查", "auto", "patrols_done", 100, 0, "按频次巡查网格和生产经营单位"),
    ("隐患整改", "auto", "hazards_in_time", 50, 0, "隐患按期整改销号（篇五）"),
    ("例会", "auto", "meetings_held", 100, 0, "各级例会按期召开（篇二、篇四）"),
    ("台账", "manual", "", 100, 0, "台账与公示，由乡镇检查评分"),
    ("群众满意度", "auto", "satisfaction", 100, 0, "事件回访群众满意"),
    ("督查抽查扣分", "deduction", "", 200, 20, "乡镇督查、抽查发现的问题"),
    ("通报表扬", "bonus", "", 50, 10, "受到县、乡镇通报表扬"),
]
# 篇四 党员分类积分量化考评: points per month for what a party member did, summed over a year.
_PARTY_ITEMS = [
    ("联系户", "tally", "member_links", 60, 10, "与户结对联系，每户每月计 10 分（篇四：确保每一户都有党员、干部或村民代表联系结对）"),
    ("参加会议", "tally", "member_meetings", 40, 10, "出席例会、党员大会等会议，每次 10 分（篇二、篇四）"),
    ("志愿服务", "bonus", "", 30, 5, "义务服务、“1+1”创业帮带、“一创三联”等，由村党组织登记，每次 5 分"),
    ("其他表现", "bonus", "", 20, 0, "受到表彰、群众书面表扬等"),
    ("违反纪律", "deduction", "", 50, 10, "无故缺席组织生活、违反村规民约等，每次扣 10 分"),
]
# 篇四 服务团队成员应知应会能力的考核 (日报周查月考核): meetings attended, and the leaders' check.
_TEAM_ITEMS = [
    ("参加例会", "tally", "member_meetings", 30, 10, "出席网格例会、服务团队例会，每次 10 分（篇四 三级例会）"),
    ("应知应会", "manual", "", 70, 0, "村情户情、政策法规、服务技能的掌握，由乡镇、村检查评分（篇四 应知应会能力考核）"),
    ("群众评价", "bonus", "", 20, 5, "群众书面表扬、走访回访中群众点名肯定，每次 5 分"),
    ("履职不到位", "deduction", "", 50, 10, "督查、抽查发现不熟悉责任网格情况等，每次扣 10 分"),
]
TEAM_BANDS = [("优秀", 90), ("良好", 80), ("合格", 60), ("不合格", 0)]
PARTY_BANDS = [("优秀", 80), ("良好", 60), ("合格", 30), ("待改进", 0)]  # of a month's points
DEFAULT_SCHEMES = {
    "worker": ("网格员千分制考核", _WORKER_ITEMS),
    "village": ("行政村网格化管理千分制考核", _AREA_ITEMS),
    "grid": ("网格千分制考核", _AREA_ITEMS),
    "party_member": ("党员分类积分量化考评", _PARTY_ITEMS),
    "team": ("服务团队成员应知应会考核", _TEAM_ITEMS),
}
# How a longer period is made of months, per kind (the others: pooled).
DEFAULT_COMBINE = {"party_member": "sum", "team": "mean"}
DEFAULT_BANDS_OF = {"party_member": PARTY_BANDS, "team": TEAM_BANDS}
