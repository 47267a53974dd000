"""Unit forms. Choices are checked by the service (Chinese messages), not by WTForms."""
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from ..core.forms import Form, Phone
from ..core.idempotency import KeyedForm
from .models import RISK_GRADES, UNIT_KINDS
from .service import UNIT_STATUS


class UnitForm(KeyedForm, Form):
    name = StringField("单位名称", validators=[DataRequired("请填写单位名称。"),
                                           Length(max=100, message="单位名称最多 100 个字。")])
    kind = SelectField("单位类型", choices=[(k, k) for k in UNIT_KINDS], validate_choice=False)
    credit_code = StringField("统一社会信用代码", validators=[Length(max=30, message="统一社会信用代码应为 18 位。")],
                              description="18 位数字和大写字母，见营业执照；没有代码的个体工商户可不填。")
    grid_id = SelectField("所属网格", coerce=int, validate_choice=False)
    industry = StringField("行业", validators=[Length(max=60, message="行业最多 60 个字。")],
                           description="如：竹木加工、农家乐、危化品经营")
    address = StringField("地址", validators=[Length(max=200, message="地址最多 200 个字。")])
    contact_name = StringField("联系人", validators=[Length(max=40, message="联系人姓名最多 40 个字。")])
    contact_phone = StringField("联系电话", validators=[Optional(), Phone()])
    risk_grade = SelectField("安全评估分级", choices=[(g, g) for g in RISK_GRADES], validate_choice=False)
    key_supervision = BooleanField("重点监管单位")
    notes = TextAreaField("备注", validators=[Length(max=2000, message="备注最多 2000 个字。")])


class UnitStatusForm(Form):
    status = SelectField("状态", choices=list(UNIT_STATUS.items()), validate_choice=False)
