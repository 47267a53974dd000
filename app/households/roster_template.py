"""The roster template: its columns (the export writes the same ones) and the workbook to fill in."""
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ..core import sheets
from ..core.validators import mask_ids_in_text
from . import service
from .grid_names import GridResolver
from .models import DEFAULT_CATEGORIES, POLITICAL, RELATIONS, RESIDENT_FLAGS

SHEET = "户籍名册"
HELP_SHEET = "填写说明"
OPTIONS_SHEET = "可选值"
# (key, header, width)
COLUMNS = [
    ("grid", "所属网格", 26),
    ("address", "门牌地址", 24),
    ("head_id", "户主身份证号", 22),
    ("name", "姓名", 10),
    ("id_number", "身份证号", 22),
    ("relation", "与户主关系", 11),
    ("phone", "联系电话", 15),
    ("political_status", "政治面貌", 13),
    ("flags", "标记", 18),
    ("categories", "户类别", 22),
]
HEADERS = {key: header for key, header, _ in COLUMNS}
ID_COLUMNS = ("head_id", "id_number")
# The template's example row (a made-up person with a valid number); refused on import.
EXAMPLE_ID = "330522198001010015"
EXAMPLE_ROW = ["东庄一组", "东庄村1号", EXAMPLE_ID, "张三", EXAMPLE_ID, "户主", "13800138000", "群众", "", ""]

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="F2DCDB")


def _category_names(user):
    if user is None:
        return [name for _, name, _, _ in DEFAULT_CATEGORIES]
    return [c.name for c in service.categories_for(user)]


def template_workbook(user=None):
    """A workbook to fill in: sheet 户籍名册 (header + one example row) and sheet 填写说明.

    With a user, the explanations list the categories and the grids of that user's scope.
    """
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET
    ws.append([header for _, header, _ in COLUMNS])
    ws.append(EXAMPLE_ROW)
    for i, (key, _, width) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(i)
        ws.column_dimensions[letter].width = width
        ws.cell(1, i).font = HEADER_FONT
        ws.cell(1, i).fill = HEADER_FILL
        if key in ID_COLUMNS or key == "phone":
            # Text, so Excel neither rounds the 18 digits nor shows 3.30522E+17.
            ws.column_dimensions[letter].number_format = "@"
            ws.cell(2, i).number_format = "@"
    ws.freeze_panes = "A2"
    last = 5000
    # The lists live on a hidden sheet: a list written into the rule itself may hold 255 characters,
    # fewer than the GB/T 4761 relations take.
    options = wb.create_sheet(OPTIONS_SHEET)
    options.sheet_state = "hidden"
    for n, (key, values) in enumerate((("relation", RELATIONS), ("political_status", POLITICAL)), start=1):
        source = get_column_letter(n)
        for i, value in enumerate(values, start=1):
            sheets.write(options, i, n, value)
        col = get_column_letter([k for k, _, _ in COLUMNS].index(key) + 1)
        dv = DataValidation(type="list", formula1=f"'{OPTIONS_SHEET}'!${source}$1:${source}${len(values)}",
                            allow_blank=True, showErrorMessage=True, errorTitle="不在可选值内",
                            error=f"{HEADERS[key]}只能从下拉列表中选择。")
        dv.add(f"{col}2:{col}{last}")
        ws.add_data_validation(dv)

    help_ws = wb.create_sheet(HELP_SHEET)
    wb.move_sheet(OPTIONS_SHEET, offset=1)  # after the explanations
    help_ws.column_dimensions["A"].width = 16
    help_ws.column_dimensions["B"].width = 8
    help_ws.column_dimensions["C"].width = 90
    wrap = Alignment(wrap_text=True, vertical="top")
    categories = _category_names(user)
    lines = [
        ("户籍名册填写说明", "", ""),
        ("", "", "每人一行。同一户的人用“户主身份证号”归到一起：户主本人那一行的“与户主关系”填“户主”，"
                 "“户主身份证号”填他自己的身份证号；家庭成员的“户主身份证号”填户主的身份证号。"),
        ("", "", "第 2 行“张三”是示例，导入前请删除。导入时整张表先全部检查，有任何一处错误都不会导入，"
                 "并列出每个错误所在的行和列；改正后重新上传即可。"),
        ("", "", "同一个文件可以重复导入：按身份证号找到已登记的人就更新他的信息，不会重复登记；"
                 "已登记的户按户主身份证号找到。导入不会办理迁出、死亡、分户或迁户，这些请在系统中办理。"),
        ("列名", "必填", "说明"),
        (HEADERS["grid"], "是", "户所在的最低一级网格（如村民小组、屋场）的名称，必须在您的管理范围内。"
                                 "名称有重名时写成“村/自然村/组”这样的路径，用“/”分隔，如“甲村/东庄自然村/东庄一组”。"
                                 "家庭成员行可以不填；填了就必须与户主行相同。"),
        (HEADERS["address"], "是", "门牌地址，最多 200 字。家庭成员行可以不填；填了就必须与户主行相同。"
                                    "已登记的户在户主行填写新地址即可修改地址。"),
        (HEADERS["head_id"], "是", "户主的 18 位身份证号（设成“文本”格式，末位可以是 X）。"
                                    "户主本人行可以不填，视为本人的身份证号。"),
        (HEADERS["name"], "是", "姓名，最多 40 字。"),
        (HEADERS["id_number"], "是", "18 位身份证号，末位可以是 X，必须按“文本”输入：整列先设为“文本”格式，"
                                      "或在号码前加英文单引号 '。存成数字的身份证号（如 3.30522E+17）后几位已丢失，"
                                      "导入时会被拒绝。性别、出生日期按身份证号自动识别。"),
        (HEADERS["relation"], "是", "可选值：" + "、".join(RELATIONS) + "。每户有且只有一个“户主”。"),
        (HEADERS["phone"], "否", "手机号（11 位）或带区号的固定电话，如 0572-6012345。"),
        (HEADERS["political_status"], "否", "可选值：" + "、".join(POLITICAL) + "。不填为“群众”。"),
        (HEADERS["flags"], "否", "可填多个，用“、”或英文逗号分隔。可选值：" + "、".join(RESIDENT_FLAGS) + "。"),
        (HEADERS["categories"], "否", "户的类别，可填多个，用“、”或英文逗号分隔，写在户主行即可。导入只会新增类别，"
                                       "不会移出已有类别。可选值：" + mask_ids_in_text("、".join(categories)) + "。"),
    ]
    for row in lines:
        sheets.append(help_ws, list(row))
    help_ws["A1"].font = Font(bold=True, size=14)
    for cell in help_ws[5]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    for row in help_ws.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = wrap
    if user is not None:
        resolver = GridResolver(user)
        labels = sorted(resolver.label(g) for g in resolver.leaf_ids)
        help_ws.append([])
        sheets.append(help_ws, ["您可以填写的网格", "", f"共 {len(labels)} 个" + ("，下面列出前 500 个" if len(labels) > 500 else "")])
        help_ws.cell(help_ws.max_row, 1).font = HEADER_FONT
        for label in labels[:500]:
            sheets.append(help_ws, ["", "", mask_ids_in_text(label)])
    return wb
