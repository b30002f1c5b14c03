"""Project-local source rules, checked by parsing the code with `ast` (fast, no external tool).

Each rule lists its exceptions by file with the reason; a new use anywhere else fails the test.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PACKAGES = ("connectors", "reviews", "pipeaccess")


def _sources():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative:
                continue
            yield relative, ast.parse(path.read_text(), filename=relative)


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _is_literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def test_mark_safe_and_format_html_only_take_literals():
    """ASVS 5.0 V1.2.1 (output encoding for HTML): markup is built from literals, never from (synced) data.

    `format_html` escapes its arguments, so only its format string must be a literal;
    `mark_safe` must only ever see a literal.
    """
    findings = []
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _call_name(node)
            if name == "mark_safe" and not (node.args and _is_literal(node.args[0])):
                findings.append(f"{relative}:{node.lineno} mark_safe on a non-literal")
            if name == "format_html" and not (node.args and _is_literal(node.args[0])):
                findings.append(f"{relative}:{node.lineno} format_html with a non-literal format string")
    assert findings == []


# Template variables that may be output with |safe, each with why it is safe.
SAFE_FILTER_ALLOWED: dict[str, str] = {}


def test_templates_use_safe_only_on_known_safe_variables():
    """ASVS 5.0 V1.2.1: autoescaping is never switched off for data (`|safe`, `{% autoescape off %}`)."""
    findings = []
    for template in sorted(ROOT.glob("**/templates/**/*.html")):
        if ".venv" in template.parts:
            continue
        text = template.read_text()
        relative = template.relative_to(ROOT).as_posix()
        findings.extend(
            f"{relative}: {match.group(0)}"
            for match in re.finditer(r"\{\{\s*([^}|]+?)\s*\|[^}]*\bsafe\b", text)
            if match.group(1) not in SAFE_FILTER_ALLOWED
        )
        if re.search(r"\{%\s*autoescape\s+off", text):
            findings.append(f"{relative}: autoescape off")
    assert findings == []


HTTP_MODULES = ("requests", "urllib.request", "http.client", "urllib3", "httpx", "aiohttp", "pycurl")
# Files allowed to talk HTTP directly, and why.
HTTP_ALLOWED = {
    "connectors/http.py": "the guarded client every connector uses",
    "connectors/netguard.py": "the SSRF guard the client mounts (an HTTPAdapter, checks every connect)",
    "connectors/bench.py": "the benchmark drives the local simulators (loopback), never a real upstream",
    "reviews/bench_scale_web.py": "the web bench loads the gunicorn it started on 127.0.0.1, never a real upstream",
}


def test_outbound_http_only_through_the_guarded_client():
    """ASVS 5.0 V1.3.6 (SSRF protection): upstream calls go through connectors/http.py and its SSRF guard only."""
    findings = []
    for relative, tree in _sources():
        if relative in HTTP_ALLOWED or relative.startswith("connectors/simulators/"):
            continue
        for node in ast.walk(tree):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            findings.extend(
                f"{relative}:{node.lineno} imports {module}"
                for module in modules
                if any(module == banned or module.startswith(banned + ".") for banned in HTTP_MODULES)
            )
    assert findings == []


SECRET_NAME = re.compile(r"(token|secret|password|passwd|api_?key|credential|private_?key)", re.IGNORECASE)
# Names that match the pattern but hold no secret value.
NOT_SECRET = re.compile(
    r"(_id|_ids|_ref|_refs|_name|_names|_count|_kind|_type|_url|_path|_field|_fields|_prefix)$|^has_"
)
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "log"}


def _named_values(node: ast.AST):
    """Names and attributes whose value ends up in the call (not the names of functions called)."""
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            yield child.id
        elif isinstance(child, ast.Attribute):
            yield child.attr


def _secret_names(nodes) -> list[str]:
    return sorted(
        {
            name
            for node in nodes
            for name in _named_values(node)
            if SECRET_NAME.search(name) and not NOT_SECRET.search(name)
        }
    )


def test_no_secret_values_in_log_calls():
    """ASVS 5.0 V16.2.5 (no sensitive data in logs): log calls never pass token/secret/password values."""
    findings = []
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            receiver = node.func.value
            receiver_name = receiver.id if isinstance(receiver, ast.Name) else getattr(receiver, "attr", "")
            if node.func.attr not in LOG_METHODS or "log" not in receiver_name.lower():
                continue
            names = _secret_names([*node.args, *(keyword.value for keyword in node.keywords)])
            if names:
                findings.append(f"{relative}:{node.lineno} logs {names}")
    assert findings == []


def _is_task(function: ast.FunctionDef) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if name in {"shared_task", "task"}:
            return True
    return False


def test_celery_tasks_take_ids_not_secrets():
    """ASVS 5.0 V14.2.4 / V13.3.1 (secrets not exposed in transit/storage): task arguments, which sit in the
    broker, name no secret; tasks take ids and read secrets where they are kept."""
    findings = []
    task_names = set()
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and _is_task(node):
                task_names.add(node.name)
                arguments = [arg.arg for arg in [*node.args.args, *node.args.kwonlyargs]]
                secret = [a for a in arguments if SECRET_NAME.search(a) and not NOT_SECRET.search(a)]
                if secret:
                    findings.append(f"{relative}:{node.lineno} task {node.name} takes {secret}")
    assert task_names, "no Celery task found: the rule would pass vacuously"
    for relative, tree in _sources():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            if node.func.attr not in {"delay", "apply_async", "send_task", "s", "si", "signature"}:
                continue
            names = _secret_names([*node.args, *(keyword.value for keyword in node.keywords)])
            if names:
                findings.append(f"{relative}:{node.lineno} enqueues {names}")
    assert findings == []
