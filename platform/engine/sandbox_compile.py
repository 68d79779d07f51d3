"""Compiling an expression: parse (expressions only), RestrictedPython's policy plus our guards.

On top of RestrictedPython (no `_` names or attributes, no frame or code attributes, guarded
attribute/item/iteration access) the policy refuses lambdas, `:=`, `*`/`**` unpacking and bytes,
and routes arithmetic, comparisons, displays, comprehension elements and f-strings through the
guards in `sandbox_guards`, each with a "site": the source text used in error messages.
"""

from __future__ import annotations

import ast
import io
import tokenize
from dataclasses import dataclass
from types import CodeType
from typing import Any, cast

from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer

from appblocks.engine.sandbox_guards import EXPRESSION_FILE
from appblocks.engine.sandbox_values import MAX_SOURCE, ExpressionError

# Builtins an expression must never reach. A field could be called `type` or `open`: those are
# just undefined unless the record has such a field, whose value is data. These cannot be fields.
FORBIDDEN_NAMES = frozenset(
    "eval exec compile globals locals vars dir getattr setattr delattr hasattr breakpoint "
    "print printed memoryview bytearray iter super classmethod staticmethod".split()
)

_BINOPS: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: ("_add_", "+"),
    ast.Sub: ("_sub_", "-"),
    ast.Mult: ("_mul_", "*"),
    ast.Div: ("_truediv_", "/"),
    ast.FloorDiv: ("_floordiv_", "//"),
    ast.Mod: ("_mod_", "%"),
    ast.Pow: ("_pow_", "**"),
    ast.LShift: ("_lshift_", "<<"),
    ast.BitOr: ("_or_", "|"),
    ast.BitXor: ("_xor_", "^"),
}


@dataclass(frozen=True, slots=True)
class Compiled:
    """The output of compiling: code, the free names it reads, and its guard sites."""

    code: CodeType
    names: frozenset[str]
    sites: tuple[tuple[str, ...], ...]


def _call(name: str, *args: ast.expr, like: ast.AST) -> ast.Call:
    node = ast.Call(func=ast.Name(name, ast.Load()), args=list(args), keywords=[])
    return ast.copy_location(node, like)


def _constant(node: ast.AST) -> bool:
    """Whether `node` is a literal made only of constants (Python folds those at compile time)."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_constant(e) for e in node.elts)
    return False


class SandboxPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy for `eval` mode, narrowed to expressions and guarded further."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.problems: list[tuple[str, ast.AST]] = []
        self.sites: list[tuple[str, ...]] = []

    # RestrictedPython reports through error(); keep the node for a position.
    def error(self, node: ast.AST, info: str) -> None:
        self.problems.append((info, node))

    def refuse(self, node: ast.AST, info: str) -> None:
        """Record a problem with an analyst's message."""
        self.problems.append((info, node))

    def segment(self, node: ast.AST) -> str:
        """The source text of `node`, as the analyst wrote it."""
        text = ast.get_source_segment(self.text, node)
        return " ".join(text.split()) if text else ast.unparse(node)

    def site(self, *nodes: ast.AST) -> ast.Constant:
        """Register the source texts of `nodes`; the guard receives the index."""
        self.sites.append(tuple(self.segment(n) for n in nodes))
        return ast.Constant(len(self.sites) - 1)

    # --- names and attributes ---

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id.startswith("_") and node.id != "_":
            self.refuse(node, f"names starting with `_` are not allowed: `{node.id}`")
            return node
        if node.id in FORBIDDEN_NAMES:
            self.refuse(node, f"`{node.id}` is not available in expressions")
            return node
        return super().visit_Name(node)

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        if node.attr.startswith("_"):
            self.refuse(node, f"attributes starting with `_` are not allowed: `.{node.attr}`")
            return node
        if node.attr in INSPECT_ATTRIBUTES:
            self.refuse(node, f"`.{node.attr}` is not available in expressions")
            return node
        site = self.site(node.value, node)
        new = super().visit_Attribute(node)
        if isinstance(new, ast.Call):
            new.args.append(site)
        return new

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        site = self.site(node.value, node)
        new = super().visit_Subscript(node)
        if isinstance(new, ast.Call):
            new.args.append(site)
        return new

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bytes):
            self.refuse(node, "bytes (b'...') are not supported in expressions")
        elif isinstance(node.value, complex):
            self.refuse(node, "complex numbers (1j) are not supported in expressions")
        return super().visit_Constant(node)

    # --- what an expression may not contain ---

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        self.refuse(
            node,
            "functions (`lambda`) are not allowed in expressions; use a comprehension, "
            "or key='field' in sorted, min and max",
        )
        return node

    def visit_NamedExpr(self, node: ast.NamedExpr) -> Any:
        self.refuse(node, "assignments (`:=`) are not allowed in expressions")
        return node

    def visit_Starred(self, node: ast.Starred) -> Any:
        self.refuse(node, "`*` unpacking is not allowed in expressions")
        return node

    def visit_Call(self, node: ast.Call) -> Any:
        if any(k.arg is None for k in node.keywords):
            self.refuse(node, "`**` unpacking is not allowed in expressions")
            return node
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_NAMES:
            self.refuse(node.func, f"`{node.func.id}` is not available in expressions")
            return node
        return super().visit_Call(node)

    # --- guarded operations ---

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        guard = _BINOPS.get(type(node.op))
        if guard is None:
            return super().visit_BinOp(node)
        site = self.site(node.left, node.right, node)
        node = self.node_contents_visit(node)
        return _call(guard[0], node.left, node.right, site, like=node)

    def visit_Compare(self, node: ast.Compare) -> Any:
        node = self.node_contents_visit(node)
        node.comparators = [
            c if _constant(c) else _call("_cmp_", c, like=c) for c in node.comparators
        ]
        # `x in s` hashes x (a nested tuple is walked in full): count the left side too.
        if isinstance(node.ops[0], (ast.In, ast.NotIn)) and not _constant(node.left):
            node.left = _call("_cmp_", node.left, like=node.left)
        return node

    def _display(self, node: ast.List | ast.Tuple) -> Any:
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load) and not _constant(node):
            return _call("_lit_", node, like=node)
        return node

    def visit_List(self, node: ast.List) -> Any:
        return self._display(node)

    def visit_Tuple(self, node: ast.Tuple) -> Any:
        return self._display(node)

    def visit_Set(self, node: ast.Set) -> Any:
        node = self.node_contents_visit(node)
        if _constant(node):
            return node
        return _call("_set_", ast.List(node.elts, ast.Load()), like=node)

    def visit_Dict(self, node: ast.Dict) -> Any:
        if any(k is None for k in node.keys):
            self.refuse(node, "`**` unpacking is not allowed in expressions")
            return node
        node = self.node_contents_visit(node)
        if all(
            k is not None and _constant(k) and _constant(v)
            for k, v in zip(node.keys, node.values, strict=True)
        ):
            return node
        pairs: list[ast.expr] = [
            ast.Tuple([k, v], ast.Load())
            for k, v in zip(node.keys, node.values, strict=True)
            if k is not None
        ]
        return _call("_dict_", ast.List(pairs, ast.Load()), like=node)

    def visit_ListComp(self, node: ast.ListComp) -> Any:
        node = cast(ast.ListComp, super().visit_ListComp(node))
        if not _constant(node.elt):
            node.elt = _call("_elt_", node.elt, like=node.elt)
        return node

    def visit_SetComp(self, node: ast.SetComp) -> Any:
        node = cast(ast.SetComp, super().visit_SetComp(node))
        if not _constant(node.elt):
            node.elt = _call("_elt_", node.elt, like=node.elt)
        return node

    def visit_DictComp(self, node: ast.DictComp) -> Any:
        node = cast(ast.DictComp, super().visit_DictComp(node))
        node.key = _call("_elt_", node.key, like=node.key)
        node.value = _call("_elt_", node.value, like=node.value)
        return node

    def visit_JoinedStr(self, node: ast.JoinedStr) -> Any:
        # f'{x!r:>{w}}' becomes _fstr_((_fmt_(x, 114, _fstr_(('>', _fmt_(w, -1, ''))))),), so
        # every conversion and format spec goes through a guard that checks sizes first.
        parts: list[ast.expr] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                spec: ast.expr = ast.Constant("")
                if value.format_spec is not None:
                    spec = self.visit_JoinedStr(cast(ast.JoinedStr, value.format_spec))
                inner = self.visit(value.value)
                parts.append(
                    _call("_fmt_", inner, ast.Constant(value.conversion), spec, like=value)
                )
            else:
                parts.append(value)
        return _call("_fstr_", ast.Tuple(parts, ast.Load()), like=node)


def _position(text: str, lineno: int | None, col: int | None, *, in_bytes: bool) -> int | None:
    """The 0-based offset in the analyst's source of a position in the wrapped text."""
    if lineno is None:
        return None
    lines = text.split("\n")[1:-1]  # without the "(" and ")" lines we added
    index = min(max(lineno - 2, 0), len(lines) - 1)
    line = lines[index]
    column = max(col or 0, 0)
    if in_bytes:  # ast columns count UTF-8 bytes, SyntaxError columns characters
        column = len(line.encode()[:column].decode(errors="ignore"))
    return sum(len(x) + 1 for x in lines[:index]) + min(column, len(line))


_STATEMENTS = {
    ast.FunctionDef: "def",
    ast.ClassDef: "class",
    ast.Return: "return",
    ast.Delete: "del",
    ast.For: "for",
    ast.While: "while",
    ast.If: "if",
    ast.With: "with",
    ast.Raise: "raise",
    ast.Try: "try",
    ast.TryStar: "try",
    ast.Assert: "assert",
    ast.Global: "global",
    ast.Nonlocal: "nonlocal",
    ast.Pass: "pass",
    ast.Break: "break",
    ast.Continue: "continue",
}


def _statement_problem(source: str) -> str | None:
    """A message when `source` is a statement rather than an expression."""
    try:
        module = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError):
        return None
    if not module.body or isinstance(module.body[0], ast.Expr):
        return None
    first = module.body[0]
    if isinstance(first, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        return "assignments (`=`) are not allowed; write an expression (to compare, use `==`)"
    if isinstance(first, (ast.Import, ast.ImportFrom)):
        return "`import` is not allowed in expressions"
    keyword = _STATEMENTS.get(type(first), type(first).__name__.lower())
    return f"only an expression is allowed here, not a statement (`{keyword}`)"


def _closes_too_early(source: str) -> bool:
    """Whether a bracket in `source` closes one that `source` did not open."""
    depth = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.OP and token.string in "([{":
                depth += 1
            elif token.type == tokenize.OP and token.string in ")]}":
                depth -= 1
                if depth < 0:
                    return True
    except (tokenize.TokenError, SyntaxError):
        pass
    return False


def free_names(tree: ast.AST, helpers: frozenset[str]) -> set[str]:
    """Names read by `tree` (fields), except comprehension variables and called helpers."""
    # A helper's name that is read but not called (`date > today()`) is a field of that name.
    read: set[str] = set()
    called: set[str] = set()
    _free(tree, frozenset(), read, called)
    return (read - {"user"}) | (called - helpers)


def _free(node: ast.AST, bound: frozenset[str], read: set[str], called: set[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id not in bound:
            read.add(node.id)
        return
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id not in bound:
            called.add(node.func.id)
        for child in [*node.args, *node.keywords]:
            _free(child, bound, read, called)
        return
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        local = bound
        for i, gen in enumerate(node.generators):
            _free(gen.iter, bound if i == 0 else local, read, called)  # the first runs outside
            local = local | {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
            for cond in gen.ifs:
                _free(cond, local, read, called)
        results = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for result in results:
            _free(result, local, read, called)
        return
    for child in ast.iter_child_nodes(node):
        _free(child, bound, read, called)


def compile_source(source: str, builtin_names: frozenset[str]) -> Compiled:
    """Parse, check and transform `source` (an expression) into guarded code."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be text", source=None)
    if len(source) > MAX_SOURCE:
        raise ExpressionError(
            f"the expression is too long ({len(source):,} characters; the limit is {MAX_SOURCE:,})",
            source=source,
        )
    if not source.strip():
        raise ExpressionError("the expression is empty", source=source)
    # Parentheses allow an expression over several lines; line 1 is the "(" so columns match.
    text = f"(\n{source}\n)"
    try:
        tree = ast.parse(text, EXPRESSION_FILE, mode="eval")
    except SyntaxError as exc:
        message = _statement_problem(source.strip()) or f"syntax error: {exc.msg}"
        raise ExpressionError(
            message,
            source=source,
            position=_position(text, exc.lineno, (exc.offset or 1) - 1, in_bytes=False),
        ) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExpressionError(
            "the expression cannot be read (nested too deeply?)", source=source
        ) from None
    if _closes_too_early(source):
        # `a) + (b` parses inside our parentheses; it is not an expression on its own.
        raise ExpressionError("syntax error: unbalanced parentheses", source=source)
    try:
        names = free_names(tree, builtin_names)
        policy = SandboxPolicy(text)
        tree = policy.visit(tree)
        if policy.problems:
            info, node = policy.problems[0]
            raise ExpressionError(
                info.removeprefix("Line None: "),
                source=source,
                position=_position(
                    text,
                    getattr(node, "lineno", None),
                    getattr(node, "col_offset", None),
                    in_bytes=True,
                ),
            )
        ast.fix_missing_locations(tree)
        code = compile(tree, EXPRESSION_FILE, "eval", dont_inherit=True)
    except (RecursionError, MemoryError):
        raise ExpressionError("the expression is nested too deeply", source=source) from None
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error: {exc.msg}", source=source) from None
    except (ValueError, TypeError) as exc:
        raise ExpressionError(f"the expression cannot be compiled: {exc}", source=source) from None
    return Compiled(code, frozenset(names), tuple(policy.sites))
