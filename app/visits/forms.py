"""Visit and visit-rule forms."""
from wtforms import BooleanField, DateTimeLocalField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from ..core.forms import Form
from ..core.idempotency import KeyedForm
from ..core.uploads import PHOTO_ACCEPT, PHOTO_HINT
from ..households.forms import CheckboxList
from .models import METHODS, PERIODS, TARGETS, VISITORS


class VisitEditForm(Form):
    """Correcting a saved visit: everything but the household (photos: see the edit view)."""

    method = RadioField("走访方式", choices=list(METHODS.items()), default="door",
                        validators=[InputRequired("请选择走访方式。")])
    visited_at = DateTimeLocalField("走访时间", format="%Y-%m-%dT%H:%M",
                                    validators=[DataRequired("请填写走访时间（年-月-日 时:分）。")])
    companions = StringField("同行人员", validators=[Length(max=200)], description="可不填，如：村主任 王某")
    learned = TextAreaField("了解到的情况", validators=[Length(max=4000)])
    problems = TextAreaField("发现的问题", validators=[Length(max=4000)], description="每行一个问题；可以以后转为事件办理。")
    photos = MultipleFileField("现场照片", description="可选，" + PHOTO_HINT, render_kw={"accept": PHOTO_ACCEPT})


class VisitForm(KeyedForm, VisitEditForm):
    household_id = SelectField("走访对象", coerce=int, validate_choice=False)


class RuleForm(KeyedForm, Form):
    name = StringField("规则名称", validators=[DataRequired("请填写规则名称。"), Length(max=80)])
    target = SelectField("适用于", choices=list(TARGETS.items()))
    categories = CheckboxList("指定的类别", validate_choice=False,
                              description="适用于“指定类别的户”时勾选；户在任一勾选的类别中即适用。")
    methods = CheckboxList("计入的走访方式", choices=list(METHODS.items()), description="都不选表示任何方式都计入。")
    period = SelectField("频次（至少一次）", choices=list(PERIODS.items()))
    visitor = SelectField("计入谁的走访", choices=list(VISITORS.items()))
    active = BooleanField("启用", default=True)
