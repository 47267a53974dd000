"""Account forms."""
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from .models import ROLE_CHOICES
from ..core.forms import Form, Phone
from ..core.idempotency import KeyedForm
from ..core.inputs import nfkc


class LoginForm(Form):
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), Length(max=40)])
    password = PasswordField("密码", validators=[DataRequired("请输入密码。")])
    remember = BooleanField("在这台设备上保持登录")


class ChangePasswordForm(Form):
    old_password = PasswordField("当前密码", validators=[DataRequired("请输入当前密码。")])
    new_password = PasswordField("新密码", validators=[DataRequired("请输入新密码。")])
    confirm = PasswordField("再次输入新密码", validators=[DataRequired("请再次输入新密码。")])

    def validate_confirm(self, field):
        if field.data != self.new_password.data:
            raise ValidationError("两次输入的新密码不一致。")


USERNAME_RULE = Regexp(r"^[A-Za-z0-9_.\-]{2,40}$", message="用户名只能用字母、数字、下划线、点和减号，2 到 40 个字符。")


class UserForm(KeyedForm, Form):
    # Typed with a Chinese input method, ｗａｎｇ０１ is wang01.
    username = StringField("用户名", validators=[DataRequired("请输入用户名。"), USERNAME_RULE], filters=[nfkc])
    full_name = StringField("姓名", validators=[DataRequired("请输入姓名。"), Length(max=40, message="姓名最多 40 个字。")])
    phone = StringField("手机号", validators=[Optional(), Phone()])
    # The least privilege unless the person creating the account chooses more.
    role = SelectField("角色", choices=ROLE_CHOICES, default="worker")
    grids = SelectMultipleField("负责的网格", coerce=int, validate_choice=False)
    password = PasswordField("初始密码", description="用户首次登录时必须修改。")
