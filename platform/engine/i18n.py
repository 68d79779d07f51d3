"""Messages in the user's language (en, zh-CN): engine error codes and short phrases."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from importlib.resources import files
from string import Formatter
from typing import Any

from babel.messages.pofile import read_po

from appblocks.engine.record_errors import MESSAGES

LOCALES = ("en", "zh-CN")
DEFAULT_LOCALE = "en"

# zh-CN texts of the engine's message codes (record_errors.MESSAGES holds the English).
ZH_CN: dict[str, str] = {
    "invalid": "{detail}",
    "unknown_field": "“{name}”不是{entity}的字段",
    "unique_together": "已有记录使用了相同的 {fields} 组合",
    "bad_line_id": "明细行的 id 必须是整数",
    "unknown_entity": "不存在实体 {entity}",
    "computed": "是计算字段,不能填写",
    "state": "由流程流转设置,不能直接填写",
    "system": "由平台设置,不能填写",
    "required": "必填",
    "link_missing": "不存在 id 为 {id} 的{target}记录",
    "unique": "已有记录使用了这个值",
    "foreign_line": "明细行 {id} 不属于这条记录",
    "not_a_record": "应为字段值组成的对象",
    "rule": "{message}",
    "rule_failed": "{message}(规则无法校验:{detail})",
    "not_found": "{entity} {id} 不存在",
    "version_conflict": "{entity} {id} 已被他人修改(当前版本 {current}),请刷新后重试",
    "missing_version": "请提供要修改的 {entity} {id} 的版本号(_version)",
    "restricted": "无法删除 {entity} {id}:仍有 {count} 条{by_entity}记录通过“{by_field}”引用它",
    "restricted_cascade": "无法删除 {entity} {id}:仍有 {count} 条{by_entity}记录通过“{by_field}”引用将被一并删除的记录",
    "invalid_record": "记录有 {count} 处错误",
    "query_unknown_field": "“{path}”不是{entity}的字段",
    "query_not_a_link": "{entity}的“{field}”不是关联字段,无法沿“{path}”查询",
    "query_path_too_long": "“{path}”经过的关联太多(最多 {limit} 层)",
    "query_unknown_operator": "“{op}”不是筛选运算符(可用:{ops})",
    "query_bad_operator": "运算符“{op}”不适用于“{path}”({ftype})",
    "query_bad_value": "筛选“{path}”:{detail}",
    "query_bad_shape": "{detail}",
    "query_too_deep": "筛选条件嵌套过深(最多 {limit} 层)",
    "query_bad_sort": "无法按“{key}”排序:{detail}",
    "query_bad_cursor": "分页游标无效,请从第一页重新开始",
    "query_bad_limit": "limit 必须在 1 到 {max} 之间",
    "query_bad_search": "搜索文字过长(最多 {max} 个字符)",
    "query_bad_search_text": "搜索文字包含无法搜索的字符",
    "query_bad_expand": "无法展开“{field}”:{detail}",
}

# zh-CN of short plain phrases used by the web layer (keyed by their English text).
ZH_CN_PLAIN: dict[str, str] = {
    "Bad request": "请求有误",
    "Not signed in": "未登录",
    "Not allowed": "无权操作",
    "Not found": "未找到",
    "Method not allowed": "不支持该方法",
    "Conflict": "冲突",
    "Request body too large": "请求内容过大",
    "Unsupported media type": "不支持的内容类型",
    "Invalid input": "输入有误",
    "Version required": "需要版本号",
    "Too many attempts": "尝试次数过多",
    "Server error": "服务器错误",
    "Error": "错误",
    "the request is not valid": "请求内容无效",
    "is required": "必填",
    "Sign in": "登录",
    "Sign out": "退出",
    "User name": "用户名",
    "Password": "密码",
    "Wrong user name or password.": "用户名或密码错误。",
    "Too many failed sign-ins; wait 15 minutes.": "登录失败次数过多,请 15 分钟后再试。",
}


def negotiate(*candidates: str | None) -> str:
    """The first supported locale among explicit choices and Accept-Language headers."""
    for candidate in candidates:
        if not candidate:
            continue
        for part in candidate.split(","):
            tag = part.split(";")[0].strip()
            if not tag:
                continue
            if tag.lower().startswith("zh"):
                return "zh-CN"
            if tag.lower().startswith("en"):
                return "en"
    return DEFAULT_LOCALE


def translate(key: str, params: Mapping[str, Any], locale: str, *, plain: bool = False) -> str:
    """A message code (or, with plain=True, an English phrase) in `locale`."""
    if plain:
        return ZH_CN_PLAIN.get(key, key) if locale == "zh-CN" else key
    template = (ZH_CN if locale == "zh-CN" else MESSAGES).get(key) or MESSAGES.get(key, key)
    # A blueprint's own message (a business rule's) comes in both locales: pick the caller's.
    own = params.get("message_zh" if locale == "zh-CN" else "message_en")
    if own is not None:
        params = {**params, "message": own}
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


# --- blueprint validation messages ----------------------------------------------------------
# A validator says what is wrong as an English template with named `{placeholders}` (marked
# with N_ so Babel extracts it) and keyword parameters; the zh-CN templates are in the catalog
# ui/translations/zh_CN/LC_MESSAGES/engine.po (msgid: the English template).

ENGINE_CATALOG = "engine.po"


def N_(template: str) -> str:
    """Marks an English message template for extraction (translated when rendered)."""
    return template


class Message:
    """A text in the reader's language: an English template and its parameters. A parameter
    may itself be a Message (a reason inside a sentence), rendered in the same language."""

    __slots__ = ("template", "params")

    def __init__(self, template: str, /, **params: Any) -> None:
        self.template = template
        self.params = params

    def text(self, locale: str = DEFAULT_LOCALE) -> str:
        return render(self.template, self.params, locale)

    def __str__(self) -> str:
        return self.text()

    def __format__(self, spec: str) -> str:
        return format(self.text(), spec)

    def __repr__(self) -> str:
        return f"Message({self.template!r}, **{self.params!r})"


@cache
def engine_catalog(locale: str) -> Mapping[str, str]:
    """English template -> the template in `locale`, from the engine's .po catalog."""
    if locale not in LOCALES or locale == DEFAULT_LOCALE:
        return {}
    folder = files("appblocks.ui").joinpath("translations", locale.replace("-", "_"))
    entry = folder.joinpath("LC_MESSAGES", ENGINE_CATALOG)
    if not entry.is_file():
        return {}
    out: dict[str, str] = {}
    with entry.open("rb") as handle:
        for message in read_po(handle, locale=locale.replace("-", "_")):
            if isinstance(message.id, str) and isinstance(message.string, str):
                if message.id and message.string and not message.fuzzy:
                    out[message.id] = message.string
    return out


def render(template: str, params: Mapping[str, Any], locale: str = DEFAULT_LOCALE) -> str:
    """`template` in `locale` (the English when the catalog has no translation), filled in;
    a template without parameters is shown as written (its braces are not placeholders)."""
    if not params:
        return engine_catalog(locale).get(template) or template
    values = {k: v.text(locale) if isinstance(v, Message) else v for k, v in params.items()}
    for text in (engine_catalog(locale).get(template), template):
        if text:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError, AttributeError):
                continue
    return template


def recognise(text: str, templates: Sequence[str]) -> Message:
    """A Message for an English text made elsewhere from one of `templates` (e.g. a naming
    rule's reason); a text of no known shape stays as it is (`{detail}`) in every language."""
    for template in templates:
        pattern = _template_pattern(template)
        found = pattern.match(text)
        if found is not None:
            message = Message(template, **found.groupdict())
            if message.text() == text:
                return message
    return Message(N_("{detail}"), detail=text)


@cache
def _template_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for literal, name, _spec, _conversion in Formatter().parse(template):
        parts.append(re.escape(literal))
        if name:
            parts.append(f"(?P<{name}>.*?)")
    return re.compile("^" + "".join(parts) + "$", re.S)


#: the naming rules' reasons (engine/names.py), so that they too read in the user's language
NAME_TEMPLATES = (
    N_("a name must be a string"),
    N_("'{name}' starts with '_', which is reserved for system columns"),
    N_(
        "'{name}' is not a valid name: use lower-case letters, digits and '_', "
        "starting with a letter, at most {limit} characters"
    ),
    N_("'{name}' is an SQL keyword; choose another name"),
)

#: the field types' complaints about a value (fieldtypes), the common shapes
VALUE_TEMPLATES = (
    N_("must be at least {limit}"),
    N_("must be at most {limit}"),
    N_("must be on or after {limit}"),
    N_("must be on or before {limit}"),
    N_("is too large"),
    N_("'{value}' is not a number"),
    N_("'{value}' is not a whole number"),
    N_("'{value}' is not a date (use YYYY-MM-DD)"),
    N_("'{value}' is not one of the options: {options}"),
    N_("is {length} characters long; at most {limit} allowed"),
)
