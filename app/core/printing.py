"""Checks for the print stack (WeasyPrint needs CJK fonts and libharfbuzz-subset)."""
import ctypes.util
import shutil
import subprocess


def cjk_fonts_present():
    """True when fontconfig knows at least one font covering Chinese."""
    if not shutil.which("fc-list"):
        return False
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def harfbuzz_subset_present():
    """True when libharfbuzz-subset can be loaded (without it CJK PDFs are ~40x slower)."""
    return ctypes.util.find_library("harfbuzz-subset") is not None


def print_stack_problems():
    """Chinese descriptions of what is missing, with the Debian package to install."""
    problems = []
    if not cjk_fonts_present():
        problems.append("未找到中文字体，PDF 中的汉字将无法显示。请安装：apt-get install fonts-noto-cjk")
    if not harfbuzz_subset_present():
        problems.append("未找到 libharfbuzz-subset，生成中文 PDF 会慢几十倍（两页约 20 秒）。请安装：apt-get install libharfbuzz-subset0")
    return problems


def warn_if_print_stack_missing(logger, font_folder=None):
    """Log a clear warning at start-up for each missing piece; with ``font_folder``, also make the
    print font there now (it logs why when it cannot), so the first document is not the one to wait."""
    problems = print_stack_problems()
    for problem in problems:
        logger.warning("打印环境检查：%s", problem)
    if font_folder is not None and not problems:
        from . import printfont

        printfont.fonts(font_folder)
