"""Checks for the print stack (WeasyPrint needs CJK fonts and libharfbuzz-subset)."""
import ctypes.util
import shutil
import subprocess

from . import printfont


def _fontconfig_zh_fonts():
    """How many fonts covering Chinese fontconfig itself knows (the library, for installs without
    fc-list such as the one-file release); None when libfontconfig cannot be loaded."""
    try:
        fc = ctypes.CDLL("libfontconfig.so.1")
    except OSError:
        return None
    fc.FcInitLoadConfigAndFonts.restype = ctypes.c_void_p
    fc.FcNameParse.restype = ctypes.c_void_p
    fc.FcNameParse.argtypes = [ctypes.c_char_p]
    fc.FcObjectSetBuild.restype = ctypes.c_void_p
    fc.FcFontList.restype = ctypes.POINTER(ctypes.c_int)  # FcFontSet starts with int nfont
    fc.FcFontList.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    for name in ("FcConfigDestroy", "FcPatternDestroy", "FcObjectSetDestroy", "FcFontSetDestroy"):
        getattr(fc, name).argtypes = [ctypes.c_void_p]
    config = fc.FcInitLoadConfigAndFonts()
    pattern = fc.FcNameParse(b":lang=zh")
    objects = fc.FcObjectSetBuild(b"family", None)
    fonts = fc.FcFontList(config, pattern, objects)
    try:
        return fonts[0] if fonts else 0
    finally:
        if fonts:
            fc.FcFontSetDestroy(fonts)
        fc.FcObjectSetDestroy(objects)
        fc.FcPatternDestroy(pattern)
        fc.FcConfigDestroy(config)


def cjk_fonts_present():
    """True when fontconfig knows at least one font covering Chinese, or the release's print faces
    (GB 2312; its fontconfig font has only the ideographs outside it, so fontconfig says no "zh")."""
    if printfont.prebuilt():
        return True
    if not shutil.which("fc-list"):
        return bool(_fontconfig_zh_fonts())
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    return bool(out.strip())


def harfbuzz_subset_present():
    """True when libharfbuzz-subset can be loaded (without it CJK PDFs are ~40x slower)."""
    try:
        ctypes.CDLL("libharfbuzz-subset.so.0")  # found the way WeasyPrint finds it (LD_LIBRARY_PATH too)
        return True
    except OSError:
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
        printfont.fonts(font_folder)
