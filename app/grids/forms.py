"""Grid forms."""
from wtforms import SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from .models import GRID_ROLES
from ..core.forms import Form, Phone
from ..core.idempotency import KeyedForm


class GridForm(KeyedForm, Form):
    name = StringField("网格名称", validators=[DataRequired("请填写网格名称。"), Length(max=80, message="名称最多 80 个字。")])
    level_id = SelectField("层级", coerce=int)
    kind_id = SelectField("网格类型", coerce=int)
    division_code = StringField("区划代码（可选）", validators=[Optional(), Regexp(r"^\d{12}$", message="区划代码应为 12 位数字。")])
    area_desc = TextAreaField("区域范围（四至、包含的屋场等）", validators=[Length(max=2000)])


class RenameForm(Form):
    name = StringField("网格名称", validators=[DataRequired("请填写网格名称。"), Length(max=80, message="名称最多 80 个字。")])
    area_desc = TextAreaField("区域范围（四至、包含的屋场等）", validators=[Length(max=2000)])


class MoveForm(Form):
    parent_id = SelectField("移到哪个上级网格之下", coerce=int)


class StaffForm(KeyedForm, Form):
    role = SelectField("岗位", choices=list(GRID_ROLES.items()))
    user_id = SelectField("选择账号", coerce=int)
    name = StringField("或填写姓名（无账号人员）", validators=[Length(max=40)])
    phone = StringField("电话", validators=[Optional(), Phone()])
    duty = StringField("分工 / 职责", validators=[Length(max=80)])
