"""Ledger forms."""
from wtforms import BooleanField, DateField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ..core.forms import Form, InWindow, Phone
from ..core.idempotency import KeyedForm
from ..core.privacy import IdNumberField
from ..core.validators import HISTORY
from .models import POLITICAL, RELATIONS, RESIDENT_FLAGS


class CheckboxList(SelectMultipleField):
    """Several choices as checkboxes (large touch targets on a phone)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ResidentForm(KeyedForm, Form):
    name = StringField("姓名", validators=[DataRequired("请填写姓名。"), Length(max=40)])
    id_number = IdNumberField("身份证号", validators=[DataRequired("请填写身份证号。")],
                            description="18 位；性别和出生日期按身份证号自动填写。")
    relation = SelectField("与户主关系", choices=[(r, r) for r in RELATIONS])
    phone = StringField("联系电话", validators=[Optional(), Phone()])
    political_status = SelectField("政治面貌", choices=[(p, p) for p in POLITICAL])
    flags = CheckboxList("标记", choices=[(f, f) for f in RESIDENT_FLAGS])


class HouseholdForm(Form):
    grid_id = SelectField("所属网格（最低一级）", coerce=int)
    address = StringField("门牌地址", validators=[DataRequired("请填写门牌地址。"), Length(max=200)])
    phone = StringField("户联系电话", validators=[Optional(), Phone()])
    notes = TextAreaField("备注", validators=[Length(max=2000)])


class NewHouseholdForm(KeyedForm, HouseholdForm):
    head_name = StringField("户主姓名", validators=[DataRequired("请填写户主姓名。"), Length(max=40)])
    head_id_number = IdNumberField("户主身份证号", validators=[DataRequired("请填写户主身份证号。")])
    head_phone = StringField("户主电话", validators=[Optional(), Phone()])
    head_political = SelectField("户主政治面貌", choices=[(p, p) for p in POLITICAL])


class StatusForm(Form):
    status = SelectField("状态", choices=[("moved_out", "迁出"), ("deceased", "死亡"), ("active", "在册")])
    status_date = DateField("日期", validators=[Optional(), InWindow(HISTORY)])
    note = StringField("说明（迁往何处、原因等）", validators=[Length(max=200)])


class HeadForm(Form):
    head_id = SelectField("新户主", coerce=int)
    reason = StringField("原因", validators=[Length(max=200)])


class SplitForm(Form):
    resident_ids = CheckboxList("分出的成员（第一个勾选的为新户户主）", coerce=int)
    address = StringField("新户门牌地址", validators=[DataRequired("请填写新户的门牌地址。"), Length(max=200)])


class ArchiveForm(Form):
    reason = StringField("注销原因", validators=[DataRequired("请填写注销原因。"), Length(max=200)])


class TagForm(KeyedForm, Form):
    category_id = SelectField("类别", coerce=int, validators=[DataRequired("请选择类别。")])
    start_date = DateField("开始日期", validators=[Optional(), InWindow(HISTORY)])
    reason = StringField("纳入原因", validators=[Length(max=200)])


class EndTagForm(Form):
    end_date = DateField("结束日期", validators=[Optional(), InWindow(HISTORY)])
    end_reason = StringField("结束原因", validators=[DataRequired("请填写结束原因。"), Length(max=200)])


class CategoryForm(KeyedForm, Form):
    grid_id = SelectField("所属村", coerce=int)
    name = StringField("类别名称", validators=[DataRequired("请填写类别名称。"), Length(max=40)])
    is_key = BooleanField("重点户（按重点户的走访规则每月上门）")
