"""Agreement forms."""
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from ..core.forms import Form, InWindow
from ..core.validators import PLANNED
from ..core.idempotency import KeyedForm
from .models import AGREEMENT_KINDS, PARTIES
from .service import SCAN_MAX_BYTES

TEXT = [Length(max=8000)]


class DraftForm(KeyedForm, Form):
    kind = SelectField("责任状类型", choices=[("", "请选择类型")] + list(AGREEMENT_KINDS.items()))
    period_start = DateField("责任期限自", validators=[DataRequired("请填写开始日期。")])
    period_end = DateField("至", validators=[DataRequired("请填写结束日期。"), InWindow(PLANNED, "责任期限的结束日期")])


class AgreementForm(Form):
    title = StringField("标题", validators=[DataRequired("请填写标题。"), Length(max=100)])
    party_a = StringField("甲方", validators=[DataRequired("请填写甲方。"), Length(max=80)])
    party_a_rep = StringField("甲方代表", validators=[Length(max=40)])
    party_b = StringField("乙方", validators=[DataRequired("请填写乙方。"), Length(max=80)])
    party_b_rep = StringField("乙方代表", validators=[Length(max=40)])
    period_start = DateField("责任期限自", validators=[DataRequired("请填写开始日期。")])
    period_end = DateField("至", validators=[DataRequired("请填写结束日期。"), InWindow(PLANNED, "责任期限的结束日期")])
    area = TextAreaField("一、定区域", validators=TEXT)
    people = TextAreaField("二、定人员", validators=TEXT)
    duties = TextAreaField("三、定职责", validators=TEXT)
    tasks = TextAreaField("四、定任务", validators=TEXT)
    rewards = TextAreaField("五、定奖惩", validators=TEXT)


class ScanForm(KeyedForm, Form):
    file = FileField("签字盖章后的照片或扫描件", validators=[FileRequired("请选择要上传的照片或扫描件。")],
                     description=f"JPEG、PNG 图片或 PDF，不超过 {SCAN_MAX_BYTES // 1048576} MB。")


class SignatureForm(KeyedForm, Form):
    party = SelectField("签名方", choices=list(PARTIES.items()))
    signer_name = StringField("签名人姓名", validators=[DataRequired("请填写签名人姓名。"), Length(max=40)])
    signature = HiddenField()


class ActionForm(Form):
    """A bare POST (issue, new version): only the CSRF token."""


class WordingForm(Form):
    """A township's or village's own wording (placeholders such as {户数} allowed)."""

    duties = TextAreaField("三、定职责", validators=TEXT)
    tasks = TextAreaField("四、定任务", validators=TEXT, description="一行一项。")
    rewards = TextAreaField("五、定奖惩", validators=TEXT)
