"""Patrol and hazard forms; the service checks choices and cross-field rules."""
from flask_wtf.file import MultipleFileField
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..core.forms import Form, InWindow
from ..core.validators import DEADLINE
from ..core.idempotency import KeyedForm
from ..core.uploads import PHOTO_ACCEPT, PHOTO_HINT
from .models import SEVERITIES


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None


class PatrolForm(KeyedForm, Form):
    grid_id = SelectField("网格", coerce=_int_or_none, validate_choice=False)
    unit_id = SelectField("检查的单位（可选）", coerce=_int_or_none, validate_choice=False)
    place = StringField("地点", validators=[Length(max=200, message="地点最多 200 个字。")])
    checked = TextAreaField("检查内容", validators=[DataRequired("请写明检查了什么。"), Length(max=4000, message="最多 4000 个字。")],
                            description="如：消防通道、用电线路、山塘堤坝、河道沿岸")
    findings = TextAreaField("发现情况", validators=[Length(max=4000, message="最多 4000 个字。")])
    hazard = TextAreaField("发现的隐患（没有则不填）", validators=[Length(max=2000, message="最多 2000 个字。")])
    severity = SelectField("隐患等级", choices=list(SEVERITIES.items()), validate_choice=False)
    photos = MultipleFileField("现场照片", description=PHOTO_HINT, render_kw={"accept": PHOTO_ACCEPT})


class HazardActionForm(Form):
    version = IntegerField(validators=[Optional()])
    deadline = DateField("整改期限", validators=[Optional(), InWindow(DEADLINE)], format="%Y-%m-%d")
    measures = TextAreaField("整改期间的安全措施", validators=[Length(max=2000, message="最多 2000 个字。")],
                             description="如：设置警示标志、停用设备、专人值守")
    result = SelectField("复查结果", choices=[("", "请选择"), ("pass", "合格"), ("fail", "不合格")], validate_choice=False)
    note = TextAreaField("说明", validators=[Length(max=4000, message="最多 4000 个字。")])


class RuleForm(Form):
    every_days = IntegerField("每几天至少一次", validators=[NumberRange(1, 366, message="应在 1 到 366 天之间。")])
