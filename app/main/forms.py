"""First-run set-up form."""
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, Regexp

from ..accounts.forms import USERNAME_RULE
from ..core.forms import Form, Phone


class SetupForm(Form):
    org_name = StringField("市、县或乡镇名称", validators=[DataRequired("请填写市、县或乡镇名称。"), Length(max=80)])
    org_level = SelectField("层级", choices=[("city", "市"), ("county", "县（区）"), ("town", "乡镇（街道）")], default="county")
    division_code = StringField("区划代码（12 位，可选）", validators=[Optional(), Regexp(r"^\d{12}$", message="区划代码应为 12 位数字。")])
    username = StringField("管理员用户名", validators=[DataRequired("请填写用户名。"), USERNAME_RULE])
    full_name = StringField("管理员姓名", validators=[DataRequired("请填写姓名。"), Length(max=40)])
    phone = StringField("手机号", validators=[Optional(), Phone()])
    password = PasswordField("密码", validators=[DataRequired("请设置密码。")])
    confirm = PasswordField("再次输入密码", validators=[DataRequired("请再次输入密码。"),
                                                   EqualTo("password", "两次输入的密码不一致。")])
    public_address = StringField("本系统的访问地址", validators=[DataRequired("请填写访问地址。"), Length(max=200)])
