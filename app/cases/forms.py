"""Case forms. Choices and cross-field rules are checked by the service (Chinese messages)."""
from flask_wtf.file import MultipleFileField
from wtforms import (BooleanField, DateField, HiddenField, IntegerField, PasswordField, SelectField, SelectMultipleField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..accounts.forms import USERNAME_RULE
from ..core.forms import Form, InWindow, Phone
from ..core.idempotency import KeyedForm
from ..core.uploads import PHOTO_ACCEPT
from ..core.validators import DEADLINE
from ..core.uploads import PHOTO_HINT as LIMITS
from .models import HANDLING_CLASSES
from .workflow import SATISFACTION

PHOTO_HINT = "可拍照或从相册选择，" + LIMITS


def _int_or_none(value):
    try:
        return int(value) if value not in (None, "", "None") else None
    except (TypeError, ValueError):
        return None


class CaseForm(KeyedForm, Form):
    title = StringField("问题概述", validators=[DataRequired("请用一句话写明反映的问题。"),
                                            Length(max=100, message="问题概述最多 100 个字。")],
                        description="一句话说明是什么问题，例如：村口路灯不亮")
    description = TextAreaField("详细描述", validators=[Length(max=4000, message="详细描述最多 4000 个字。")])
    location = StringField("地点", validators=[Length(max=200, message="地点最多 200 个字。")])
    grid_id = SelectField("所在网格", coerce=_int_or_none, validate_choice=False)
    category_id = SelectField("事件类别", coerce=_int_or_none, validate_choice=False)
    handling_class = SelectField("处理类别", choices=list(HANDLING_CLASSES.items()), validate_choice=False,
                                 description="一般性：当场处理并登记；需协调：带回村里统一受理；突发性：立即报告村和乡镇；需审批：交审批部门决定")
    source = SelectField("来源", choices=[("worker", "网格员上报"), ("office", "村委会受理（群众来访）")],
                         validate_choice=False)
    reporter_name = StringField("反映人", validators=[Length(max=40, message="反映人姓名最多 40 个字。")])
    reporter_phone = StringField("反映人电话", validators=[Length(max=30, message="电话号码太长。")])
    household_id = HiddenField()
    unit_id = HiddenField()
    photos = MultipleFileField("现场照片", description=PHOTO_HINT, render_kw={"accept": PHOTO_ACCEPT})


class ActionForm(Form):
    """One form for every workflow action; the service says which fields the action needs."""

    version = IntegerField(validators=[Optional()])
    note = TextAreaField("说明", validators=[Length(max=4000, message="说明最多 4000 个字。")])
    assignee_id = SelectField("承办人", coerce=_int_or_none, validate_choice=False)
    department_id = SelectField("移交部门", coerce=_int_or_none, validate_choice=False)
    co_department_ids = SelectMultipleField("会办部门（联合执法，可多选）", coerce=_int_or_none, validate_choice=False)
    deadline = DateField("办理期限", validators=[Optional(), InWindow(DEADLINE)], format="%Y-%m-%d",
                         description="不填则按类别的时限自动计算（工作日，已排除节假日和调休）")
    extend_to = DateField("延期至", validators=[Optional(), InWindow(DEADLINE)], format="%Y-%m-%d")
    satisfaction = SelectField("群众是否满意", choices=[("", "请选择")] + list(SATISFACTION.items()),
                               validate_choice=False)
    category_id = SelectField("事件类别", coerce=_int_or_none, validate_choice=False)
    handling_class = SelectField("处理类别", choices=list(HANDLING_CLASSES.items()), validate_choice=False)
    photos = MultipleFileField("照片", description=PHOTO_HINT, render_kw={"accept": PHOTO_ACCEPT})


class PublicReportForm(KeyedForm, Form):
    what = TextAreaField("您要反映什么问题", validators=[DataRequired("请写明您要反映的问题。"),
                                                  Length(max=1000, message="最多 1000 个字。")])
    where = StringField("在什么地方", validators=[Length(max=200, message="地点最多 200 个字。")])
    reporter_phone = StringField("您的手机号码", validators=[DataRequired("请留下手机号码，便于网格员联系您。"),
                                                      Length(max=30, message="电话号码太长。")],
                                 description="只给负责的网格员看，不会公开。")
    photos = MultipleFileField("照片（可选）", description=LIMITS,
                               render_kw={"accept": PHOTO_ACCEPT})


class ReceiptForm(Form):
    class Meta:
        csrf = False  # a GET lookup; nothing changes

    receipt = StringField("回执码", validators=[DataRequired("请输入回执码。"), Length(max=20)])


class CategoryForm(KeyedForm, Form):
    name = StringField("类别名称", validators=[DataRequired("请填写类别名称。"), Length(max=40, message="最多 40 个字。")])
    department_id = SelectField("默认承办部门", coerce=_int_or_none, validate_choice=False)
    accept_hours = IntegerField("受理时限（小时）", validators=[NumberRange(1, 720, message="受理时限应在 1 到 720 小时之间。")])
    handle_workdays = IntegerField("办理时限（工作日）", validators=[NumberRange(1, 120, message="办理时限应在 1 到 120 个工作日之间。")])
    follow_up_workdays = IntegerField("回访时限（工作日）", validators=[NumberRange(1, 60, message="回访时限应在 1 到 60 个工作日之间。")])
    approval_level = SelectField("需审批事件由哪一级审批", validate_choice=False,
                                 description="处理类别为“需审批”的事件，受理后须经这一级同意才能交办或移交。")
    active = BooleanField("启用", default=True)


class DepartmentForm(KeyedForm, Form):
    name = StringField("部门名称", validators=[DataRequired("请填写部门名称。"), Length(max=40, message="最多 40 个字。")])
    grid_id = SelectField("所属层级", coerce=_int_or_none, validate_choice=False,
                          description="部门属于哪个乡镇或县；本级及以下的事件可以移交给它。")
    phone = StringField("电话", validators=[Length(max=20, message="电话号码太长。")])
    active = BooleanField("启用", default=True)


class CalendarDayForm(KeyedForm, Form):
    day = DateField("日期", validators=[DataRequired("请填写日期（年-月-日）。")], format="%Y-%m-%d")
    is_workday = SelectField("这一天", choices=[("0", "放假（休息）"), ("1", "上班（含调休补班）")], validate_choice=False)
    name = StringField("说明", validators=[Length(max=40, message="说明最多 40 个字。")], description="如：国庆节、国庆调休补班")


class DepartmentUserForm(KeyedForm, Form):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), USERNAME_RULE])
    full_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=40, message="姓名最多 40 个字。")])
    phone = StringField("手机号", validators=[Optional(), Phone()])
    password = PasswordField("初始密码", description="首次登录时必须修改。")
