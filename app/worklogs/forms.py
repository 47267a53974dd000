"""Work-log forms."""
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..core.forms import Form
from ..core.idempotency import KeyedForm


class LogForm(KeyedForm, Form):
    content = TextAreaField("其他工作", validators=[Length(max=8000)],
                            description="当天的走访已自动列出；这里写其他工作：会议、巡查、宣传、代办事项等。")


class AmendForm(KeyedForm, Form):
    content = TextAreaField("补充说明", validators=[DataRequired("请填写补充说明的内容。"), Length(max=4000)])


class CheckForm(Form):
    week = HiddenField()
    comment = TextAreaField("检查意见", validators=[Length(max=2000)])
