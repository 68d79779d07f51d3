"""Messages in the user's language (en, zh-CN): engine error codes and short phrases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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
