"""Notice-board form."""
from wtforms import StringField, TextAreaField
from wtforms.validators import Length

from ..core.forms import Form


class NoticeForm(Form):
    services = TextAreaField("服务内容（每行一项）", validators=[Length(max=2000)],
                             description="不填则使用通用的服务内容；下级网格没有自己设置的，沿用本网格的。")
    complaint_phone = StringField("监督（投诉）电话", validators=[Length(max=40)],
                                  description="手机号，或带区号的固定电话。")
    office_hours = StringField("服务时间", validators=[Length(max=100)])
