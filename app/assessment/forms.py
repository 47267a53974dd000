"""Assessment forms: publish a period, correct a published figure, enter a manual score."""
from wtforms import DecimalField, HiddenField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from ..core.forms import Form


class FreezeForm(Form):
    kind = HiddenField(validators=[DataRequired()])
    period = HiddenField(validators=[DataRequired()])


class AdjustForm(Form):
    kind = HiddenField(validators=[DataRequired()])
    period = HiddenField(validators=[DataRequired()])
    subject_id = IntegerField("考核对象", validators=[InputRequired("请选择考核对象。")])
    item_name = StringField("考核项", validators=[DataRequired("请选择考核项。"), Length(max=60)])
    points = DecimalField("更正分值", places=1, validators=[InputRequired("请填写更正分值（加分为正，减分为负）。"),
                                                           NumberRange(-1000, 1000, "更正分值应在 -1000 到 1000 之间。")])
    reason = StringField("更正原因", validators=[DataRequired("请填写更正的原因。"), Length(max=300)])


class ManualForm(Form):
    kind = HiddenField(validators=[DataRequired()])
    period = HiddenField(validators=[DataRequired()])
    subject_id = IntegerField("考核对象", validators=[InputRequired("请选择考核对象。")])
    item_id = SelectField("考核项", coerce=int, validate_choice=False)
    points = DecimalField("分值", places=1, validators=[InputRequired("请填写分值。"),
                                                      NumberRange(0, 1000, "分值应在 0 到 1000 之间。")])
    reason = StringField("理由", validators=[DataRequired("请填写评分理由。"), Length(max=300)])
