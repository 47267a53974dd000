"""Meeting forms."""
from wtforms import DateField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import ErrorSlot, Form, InWindow
from ..core.idempotency import KeyedForm
from ..core.validators import DEADLINE, PAST
from .models import CADENCES


class PlanForm(KeyedForm, Form):
    kind_id = SelectField("例会类型", coerce=int)
    held_on = DateField("会议日期", validators=[DataRequired("请填写会议日期。")])
    start_time = StringField("开始时间", validators=[Length(max=5)], description="时:分，例如 09:30；可不填。")
    place = StringField("会议地点", validators=[Length(max=100)])
    host = StringField("主持人", validators=[Length(max=40)])
    recorder = StringField("记录人", validators=[Length(max=40)])
    agenda = TextAreaField("会议议程", validators=[Length(max=4000)])
    guests = StringField("列席人员（不在网格人员名单中的）", validators=[Length(max=200)])


class AttendeeForm(KeyedForm, Form):
    """增加参会人员: the person comes from the person picker (radio buttons named resident_id)."""

    role = StringField("身份", validators=[Length(max=60)])


class MinutesForm(Form):
    """Attendance comes as one radio group per attendee (att-<id>), read by the view; a refusal of
    the marks (ServiceError field "attendance") is shown on that group."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.attendance = ErrorSlot()

    reports = TextAreaField("汇报情况", validators=[Length(max=8000)])
    problems = TextAreaField("研究的问题", validators=[Length(max=8000)])
    escalation = TextAreaField("需上报上级网格的问题", validators=[Length(max=4000)],
                               description="本级不能解决的，逐级上报；上级网格的例会页面会看到。")


class DecisionForm(KeyedForm, Form):
    text = TextAreaField("议定事项", validators=[DataRequired("请填写议定事项的内容。"), Length(max=2000)])


class FollowUpForm(Form):
    owner = SelectField("责任人", coerce=int)
    deadline = DateField("办结期限", validators=[DataRequired("请填写办结期限。"), InWindow(DEADLINE)])


class DoneForm(Form):
    result = TextAreaField("办理结果", validators=[DataRequired("请填写办理结果。"), Length(max=2000)])
    done_on = DateField("办结日期", validators=[Optional(), InWindow(PAST)], description="不填即今天。")


class KindForm(KeyedForm, Form):
    name = StringField("例会名称", validators=[DataRequired("请填写例会名称。"), Length(max=60)])
    cadence_months = SelectField("召开频次", coerce=int, choices=list(CADENCES.items()))
    level_key = SelectField("在哪一级网格召开")
    attendees = StringField("应参会人员", validators=[Length(max=200)])
