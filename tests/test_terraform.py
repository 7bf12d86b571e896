"""terraform/ tied to the code.

`terraform validate` and `plan` need the google provider, which cannot be downloaded here, so
these tests parse terraform/ with python-hcl2 and check it against what the code says:
infra/path_map.py (functions, public and internal routes), shared.config.Settings (environment),
shared.tasks.queue (queue names), and infra.stage (the bundles Terraform uploads).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from infra import path_map, stage
from shared.config import Settings
from shared.tasks import queue as task_queue

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"

# Environment variables terraform/functions.tf sets that shared.config.Settings does not read
# yet. The Cloud Tasks adapter (shared/tasks/cloud.py) needs them from the composition root:
# WORKERS_URL (task target and OIDC audience), TASKS_MODE (cloud vs local), TASKS_LOCATION
# (queue region), TASKS_INVOKER_SA (OIDC identity). Add each as a Settings field, then delete it
# here: test_pending_settings_are_still_pending fails once a name has become a field.
PENDING_SETTINGS: frozenset[str] = frozenset()

# Deployed by terraform/ before infra/path_map.py routes to them (INTERNAL_ROUTES will gain
# ("/tasks/tick", "scheduler") and ("/tasks", "workers")). Until then they are held to the
# internal-function rules only; once routed, to every rule, with no change needed here.
NOT_YET_ROUTED: frozenset[str] = frozenset()

# One queue per provider family, plus judging and control work (DESIGN.md).
QUEUES: frozenset[str] = frozenset(
    {"inference-openrouter", "inference-huggingface", "inference-custom", "judge", "control"}
)

# python-hcl2 v8 keeps the quotes around string literals and marks blocks unless told otherwise;
# with these options a literal is a plain str, an expression is "${...}", a block is a list.
_HCL = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)
_LOCAL_REF = re.compile(r"^\$\{local\.(\w+)\}$")
_BACKEND_REF = re.compile(r'^\$\{google_compute_backend_service\.public\["(\w+)"\]\.id\}$')
_FUNCTION_URI = re.compile(r'^\$\{google_cloud_run_v2_service\.function\["(\w+)"\]\.uri\}(/.*)$')
# The staged bundle of the function being deployed, as a Cloud Storage URI.
_BUNDLE_URI = (
    "gs://${google_storage_bucket.bundles.name}/"
    "${google_storage_bucket_object.bundle[each.key].name}"
)


# --- reading terraform/ -------------------------------------------------------------------------


@cache
def _files() -> dict[str, dict[str, Any]]:
    parsed: dict[str, dict[str, Any]] = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        parsed[path.name] = hcl2.loads(path.read_text(), serialization_options=_HCL)
    assert parsed, f"no .tf files in {TERRAFORM}"
    return parsed


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for doc in _files().values():
        for entry in doc.get("resource", []):
            for name, body in entry.get(kind, {}).items():
                assert name not in found, f"{kind}.{name} is defined twice"
                found[name] = body
    return found


def _resource(kind: str, name: str) -> dict[str, Any]:
    resources = _resources(kind)
    assert name in resources, f"terraform/ has no {kind}.{name}"
    return resources[name]


def _all_resources() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (kind, name, body)
        for doc in _files().values()
        for entry in doc.get("resource", [])
        for kind, named in entry.items()
        for name, body in named.items()
    ]


@cache
def _locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for doc in _files().values():
        for block in doc.get("locals", []):
            for key, value in block.items():
                assert key not in merged, f"local.{key} is defined twice"
                merged[key] = value
    return merged


def _local(name: str) -> Any:
    assert name in _locals(), f"terraform/ has no local.{name}"
    return _locals()[name]


def _resolve(value: Any) -> Any:
    """A literal as is; a bare ``${local.x}`` as local.x's literal value."""
    if isinstance(value, str) and (m := _LOCAL_REF.match(value)):
        return _local(m.group(1))
    return value


def _variable_default(name: str) -> Any:
    for doc in _files().values():
        for entry in doc.get("variable", []):
            if name in entry:
                return entry[name].get("default")
    raise AssertionError(f"terraform/ has no variable {name!r}")


def _tf_functions() -> dict[str, dict[str, Any]]:
    functions = _local("functions")
    assert isinstance(functions, dict), "local.functions must be a literal map"
    return functions


def _function_resource() -> dict[str, Any]:
    fn = _resource("google_cloud_run_v2_service", "function")
    assert fn["for_each"] == "${local.function_config}"
    return fn


def _container() -> dict[str, Any]:
    (template,) = _function_resource()["template"]
    (container,) = template["containers"]
    return dict(container)


@cache
def _routes() -> dict[str, list[tuple[str, str, str | None]]]:
    """Each deployed function's ROUTES as (method, path, scope), loaded as Cloud Run loads
    main.py: functions-framework's create_app, then sys.modules["main"] (main.py registers
    handlers on the app being created). In a child process, because main.py's start-up check
    sets up logging, and with settings that pass it (nothing connects at import)."""
    script = """if True:
        import json, sys
        import functions_framework
        routes = {}
        for name in sys.argv[1:]:
            functions_framework.create_app(target=name, source=f"functions/{name}/main.py")
            routes[name] = [(r.method, r.path, r.scope) for r in sys.modules["main"].ROUTES]
        print(json.dumps(routes))
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "GOOGLE_CLOUD_PROJECT": "demo-podium-routes",
        "FIRESTORE_EMULATOR_HOST": "127.0.0.1:9",
    }
    done = subprocess.run(
        [sys.executable, "-c", script, *sorted(_tf_functions())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.splitlines()[-1])
    return {name: [tuple(r) for r in routes] for name, routes in loaded.items()}


def _public_functions() -> set[str]:
    return {fn for _, fn in path_map.PUBLIC_ROUTES}


def _internal_functions() -> set[str]:
    return {fn for _, fn in path_map.INTERNAL_ROUTES} | NOT_YET_ROUTED


# --- functions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("function", path_map.functions())
def test_every_routed_function_is_deployed_with_its_entry_point(function: str) -> None:
    assert function in _tf_functions(), (
        f"local.functions in terraform/functions.tf lacks {function}"
    )
    # Keyed by folder, and the folder name is the entry point: in build_config here, and in
    # the bundle's project.toml, which the build reads (test_stage_builds_...).
    build = _function_resource()["build_config"][0]
    assert build["function_target"] == "${each.key}"
    assert build["base_image"] == "${local.base_image}"
    # The runtime google_cloudfunctions2_function had: python311.
    assert _local("base_image").endswith("/runtimes/python311")


@pytest.mark.parametrize("function", path_map.functions())
def test_every_routed_function_folder_has_its_entry_point(function: str) -> None:
    main = ROOT / "functions" / function / "main.py"
    assert main.is_file(), f"{main.relative_to(ROOT)} is missing"
    assert re.search(rf"^def {function}\(", main.read_text(), re.MULTILINE), (
        f"{main.relative_to(ROOT)} defines no top-level {function}(request), the entry point"
    )


def test_deployed_functions_are_routed_or_announced() -> None:
    unrouted = set(_tf_functions()) - set(path_map.functions())
    assert unrouted <= NOT_YET_ROUTED, f"deployed but not in infra/path_map.py: {unrouted}"
    assert set(_tf_functions()) >= NOT_YET_ROUTED


def test_public_flag_matches_the_path_map() -> None:
    for name, fn in _tf_functions().items():
        expected = name in _public_functions()
        assert fn["public"] is expected, f"{name}: public should be {expected}"
        assert not (expected and name in _internal_functions()), (
            f"{name} is both public and internal"
        )


def test_public_functions_only_take_load_balancer_traffic() -> None:
    ingress = _function_resource()["ingress"]
    assert ingress == (
        '${each.value.public ? "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER" : local.internal_ingress}'
    )
    # The operator's choice for the internal ones, never the load balancer's setting.
    assert "LOAD_BALANCER" not in _local("internal_ingress")
    assert _local("public_functions") == (
        "${{for name, fn in local.function_config : name => fn if fn.public}}"
    )
    assert _local("internal_functions") == (
        "${{for name, fn in local.function_config : name => fn if !fn.public}}"
    )


def test_only_public_functions_admit_everyone() -> None:
    everyone = {"allUsers", "allAuthenticatedUsers"}
    for kind, name, body in _all_resources():
        members = [*body.get("members", []), body.get("member")]
        if everyone & set(members):
            assert body.get("for_each") == "${local.public_functions}", (
                f"{kind}.{name} grants {everyone & set(members)} beyond the public functions"
            )
    invoker = _resource("google_cloud_run_v2_service_iam_member", "task_invoker")
    assert invoker["for_each"] == "${local.internal_functions}"
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "serviceAccount:${google_service_account.invoker.email}"


# --- load balancer ------------------------------------------------------------------------------


def _path_rules() -> dict[str, str]:
    url_map = _resource("google_compute_url_map", "https")
    rules: dict[str, str] = {}
    for matcher in url_map["path_matcher"]:
        assert "dynamic" not in matcher, "write path rules out literally, so they can be checked"
        for rule in matcher.get("path_rule", []):
            m = _BACKEND_REF.match(rule["service"])
            assert m, f"path rule {rule['paths']} routes to {rule['service']}"
            for path in rule["paths"]:
                assert path not in rules, f"path {path} appears in two rules"
                rules[path] = m.group(1)
    return rules


def test_url_map_path_rules_are_the_public_routes() -> None:
    expected: dict[str, str] = {}
    for prefix, function in path_map.PUBLIC_ROUTES:
        expected[prefix] = function
        expected[prefix.rstrip("/") + "/*"] = function
    assert _path_rules() == expected


def test_url_map_default_is_the_default_function() -> None:
    url_map = _resource("google_compute_url_map", "https")
    default = f'${{google_compute_backend_service.public["{path_map.DEFAULT_FUNCTION}"].id}}'
    assert url_map["default_service"] == default
    matchers = {m["name"]: m for m in url_map["path_matcher"]}
    for host_rule in url_map["host_rule"]:
        assert matchers[host_rule["path_matcher"]]["default_service"] == default


def _module_calls(path: Path) -> list[ast.Call]:
    """Calls made at a module's top level (what runs when functions-framework imports it)."""
    tree = ast.parse(path.read_text())
    return [
        node.value
        for node in tree.body
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
    ]


@pytest.mark.parametrize("function", sorted(_tf_functions()))
def test_bad_settings_stop_a_deployed_function_before_it_listens(function: str) -> None:
    # Each deployed main.py checks its settings at import, before functions-framework listens,
    # so a broken configuration fails the start-up probe at once (see the next test).
    calls = _module_calls(ROOT / "functions" / function / "main.py")
    boots = [c for c in calls if isinstance(c.func, ast.Name) and c.func.id == "boot" and c.args]
    assert [ast.literal_eval(c.args[0]) for c in boots] == [function], (
        f"functions/{function}/main.py must call boot({function!r}) at import"
    )


@pytest.mark.parametrize("function", sorted(_tf_functions()))
def test_every_function_is_ready_only_once_its_probe_route_answers(function: str) -> None:
    container = _container()
    (probe,) = container["startup_probe"]
    (http_get,) = probe["http_get"]
    # A route of this function that needs no token: Cloud Run's probe carries none.
    assert ("GET", http_get["path"], None) in _routes()[function], (
        f"{function} has no unauthenticated GET {http_get['path']} for its start-up probe"
    )
    # On the port the container listens on (Cloud Run sets PORT to it).
    (port,) = container["ports"]
    assert http_get["port"] == port["container_port"] == "${local.container_port}"
    # Each try must outlast the probe route's own Firestore read (5 s), and Cloud Run caps a
    # start-up probe's period at 240 s and wants the timeout below the period.
    assert 5 < probe["timeout_seconds"] < probe["period_seconds"] <= 240
    assert probe["period_seconds"] * probe["failure_threshold"] >= 60, "cold starts need time"


def test_health_url_is_a_route_of_the_default_function() -> None:
    outputs = {k: v for f in _files().values() for o in f.get("output", []) for k, v in o.items()}
    url = outputs["health_url"]["value"]
    path = "/" + url.split("}/", 1)[1]
    assert url.startswith("https://${var.domain}/")
    # The URL map sends paths no rule matches to the default function, which must serve it,
    # without a token (an uptime check has none).
    assert path_map.function_for(path) is None
    assert ("GET", path, None) in _routes()[path_map.DEFAULT_FUNCTION]


def test_internal_functions_are_not_behind_the_load_balancer() -> None:
    for kind in ("google_compute_region_network_endpoint_group", "google_compute_backend_service"):
        for name, body in _resources(kind).items():
            assert body.get("for_each") == "${local.public_functions}", f"{kind}.{name}"
    url_map = _resource("google_compute_url_map", "https")
    backends = [
        url_map["default_service"],
        *(m["default_service"] for m in url_map["path_matcher"]),
    ]
    routed = set(_path_rules().values())
    for backend in backends:
        m = _BACKEND_REF.match(backend)
        assert m, backend
        routed.add(m.group(1))
    assert not routed & _internal_functions()


def test_http_only_redirects_to_https() -> None:
    redirect = _resource("google_compute_url_map", "http_redirect")
    assert redirect["default_url_redirect"][0]["https_redirect"] is True
    assert "default_service" not in redirect


# --- scheduler ----------------------------------------------------------------------------------


def test_scheduler_tick_reaches_the_scheduler_as_the_invoker() -> None:
    job = _resource("google_cloud_scheduler_job", "tick")
    target = job["http_target"][0]
    m = _FUNCTION_URI.match(target["uri"])
    assert m, target["uri"]
    function, path = m.groups()
    assert (function, path) == ("scheduler", "/tasks/tick")
    if function in path_map.functions():
        assert path_map.function_for(path) == function
    oidc = target["oidc_token"][0]
    assert oidc["service_account_email"] == "${google_service_account.invoker.email}"
    assert oidc["audience"] == target["uri"].removesuffix(path)


# --- environment --------------------------------------------------------------------------------


def _env_blocks() -> list[dict[str, Any]]:
    blocks = [d["env"] for d in _container().get("dynamic", []) if "env" in d]
    assert "env" not in _container(), "write env as the two dynamic blocks, so they can be checked"
    return blocks


def _plain_env_names() -> set[str]:
    plain = [b for b in _env_blocks() if "value_source" not in b["content"][0]]
    assert len(plain) == 1, "plain env: one dynamic block over local.function_env"
    assert plain[0]["content"][0] == {"name": "${env.key}", "value": "${env.value}"}
    env = _resolve(plain[0]["for_each"])
    assert isinstance(env, dict), "the plain env must come from a literal map or local.<map>"
    return set(env)


def _secret_env_names() -> set[str]:
    secret = [b for b in _env_blocks() if "value_source" in b["content"][0]]
    assert len(secret) == 1, "secret env: one dynamic block over fn.secrets"
    assert secret[0]["for_each"] == "${toset(each.value.secrets)}"
    assert secret[0]["content"][0]["name"] == "${env.value}"
    (source,) = secret[0]["content"][0]["value_source"]
    (ref,) = source["secret_key_ref"]
    assert ref["secret"] == "${google_secret_manager_secret.this[env.value].secret_id}"
    return {name for fn in _tf_functions().values() for name in fn["secrets"]}


def _settings_fields() -> set[str]:
    return {name.lower() for name in Settings.model_fields}


def test_every_environment_variable_is_a_settings_field() -> None:
    names = _plain_env_names() | _secret_env_names()
    missing = {n for n in names if n.lower() not in _settings_fields()} - PENDING_SETTINGS
    assert not missing, f"set by terraform/ but not fields of shared.config.Settings: {missing}"


def test_pending_settings_are_still_pending() -> None:
    stale = PENDING_SETTINGS - _plain_env_names()
    assert not stale, f"PENDING_SETTINGS names what terraform/ no longer sets: {stale}"
    wired = {n for n in PENDING_SETTINGS if n.lower() in _settings_fields()}
    assert not wired, f"now Settings fields: remove {wired} from PENDING_SETTINGS"


def test_functions_read_only_declared_secrets() -> None:
    declared = _local("secrets")
    for name, fn in _tf_functions().items():
        assert set(fn["secrets"]) <= set(declared), f"{name} reads an undeclared secret"
    assert {name.lower() for name in declared} <= _settings_fields()


# --- queues -------------------------------------------------------------------------------------


def test_queues_cover_every_provider_family_and_the_code() -> None:
    queue = _resource("google_cloud_tasks_queue", "this")
    assert queue["for_each"] == "${var.queues}"
    assert queue["name"] == "${each.key}"
    defaults = set(_variable_default("queues"))
    assert defaults >= QUEUES
    in_code = {
        value
        for key, value in vars(task_queue).items()
        if key.startswith("QUEUE_") and isinstance(value, str)
    }
    assert in_code <= defaults, f"shared/tasks/queue.py enqueues on {in_code - defaults}"


# --- secrets ------------------------------------------------------------------------------------

_SECRET_LITERALS = [
    re.compile(r"sk-or-v1-[0-9a-f]{16,}"),  # OpenRouter
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style keys
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),  # Fernet key
]
_SECRET_ATTRIBUTES = {"secret_data", "secret_data_wo", "password", "private_key", "api_key"}


def _attribute_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {n for v in value.values() for n in _attribute_names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _attribute_names(v)}
    return set()


def _secret_literals(text: str) -> list[str]:
    return [m.group(0) for pattern in _SECRET_LITERALS for m in pattern.finditer(text)]


@pytest.mark.parametrize(
    "planted",
    [
        "sk-or-v1-" + "0123456789abcdef" * 4,
        "hf_" + "AbCdEfGhIjKlMnOpQrStUvWx",
        "x8Kf2bq3Tn9vYw1ZrL0eDpH5sJmA7cU4gQ6iOoXyB-s=",  # the shape of a Fernet key
    ],
)
def test_secret_literal_patterns_catch_a_planted_value(planted: str) -> None:
    assert _secret_literals(f'value = "{planted}"')


def test_no_secret_values_in_terraform() -> None:
    assert not _resources("google_secret_manager_secret_version"), (
        "secret versions carry values (and put them in the state): add them with gcloud"
    )
    for name, doc in _files().items():
        assert not _attribute_names(doc) & _SECRET_ATTRIBUTES, name
    for path in sorted(TERRAFORM.rglob("*.tf*")):
        found = _secret_literals(path.read_text())
        assert not found, f"{path.relative_to(ROOT)} holds what looks like a secret: {found}"


# --- bundles ------------------------------------------------------------------------------------


def test_terraform_uploads_what_infra_stage_builds() -> None:
    obj = _resource("google_storage_bucket_object", "bundle")
    assert obj["for_each"] == "${local.functions}"
    assert obj["source"] == "${local.bundle_dir}/${each.key}.zip"
    assert obj["name"] == "${each.key}-${local.bundle_md5[each.key]}.zip"
    assert _local("bundle_dir") == '${coalesce(var.bundle_dir, "${path.module}/../build")}'
    assert (TERRAFORM / ".." / "build").resolve() == stage.REPO_ROOT / "build"


def test_each_service_runs_the_image_built_from_its_staged_bundle() -> None:
    # build_config records the staged bundle; the Cloud Run Admin API does not build from it
    # (functions.tf), so terraform_data.image builds that same object into the image the
    # service runs, tagged with the bundle's hash: a new bundle, a new image, a new revision.
    service = _function_resource()
    assert service["build_config"][0]["source_location"] == _BUNDLE_URI
    build = _resource("terraform_data", "image")
    assert build["for_each"] == "${local.functions}"
    assert build["input"] == "${local.images[each.key]}"
    # Only triggers_replace re-runs the provisioner; a changed input alone is updated in place,
    # which would hand the service a tag nobody built.
    assert build["triggers_replace"] == "${local.images[each.key]}"
    ((kind, exec_),) = build["provisioner"][0].items()
    assert kind == "local-exec"
    env = exec_["environment"]
    assert env["SOURCE"] == _BUNDLE_URI
    assert env["IMAGE"] == "${local.images[each.key]}"
    assert '"$SOURCE"' in exec_["command"] and "image=$IMAGE" in exec_["command"]
    assert _container()["image"] == "${terraform_data.image[each.key].output}"
    assert _local("bundle_md5") == (
        '${{for name in keys(local.functions) : name => filemd5("${local.bundle_dir}/${name}.zip")}}'
    )
    images = _local("images")
    assert images.startswith("${{for name, md5 in local.bundle_md5 : name => ")
    assert images.endswith(':${md5}"}}'), images


def _fake_repo(root: Path) -> Path:
    (root / "functions" / "fn").mkdir(parents=True)
    (root / "functions" / "fn" / "main.py").write_text("def fn(request):\n    return 'ok'\n")
    (root / "shared" / "domain" / "__pycache__").mkdir(parents=True)
    (root / "shared" / "__init__.py").write_text("")
    (root / "shared" / "domain" / "__init__.py").write_text("X = 1\n")
    (root / "shared" / "domain" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    (root / "requirements.txt").write_text("flask==3.1.3\n")
    (root / "requirements.lock").write_text("flask==3.1.3 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    return root


def test_stage_builds_a_bundle_with_main_at_the_root(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    archive = stage.stage_function("fn", out=tmp_path / "build", root=root)
    assert archive == tmp_path / "build" / "fn.zip"
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == [
            "main.py",
            "project.toml",
            "requirements.txt",
            "shared/__init__.py",
            "shared/domain/__init__.py",
        ]
        assert zf.read("main.py") == (root / "functions" / "fn" / "main.py").read_bytes()
        # What the buildpacks build (terraform/functions.tf): this entry point, on Python 3.11.
        build_env = {
            e["name"]: e["value"]
            for e in tomllib.loads(zf.read("project.toml").decode())["build"]["env"]
        }
        assert build_env == {"GOOGLE_FUNCTION_TARGET": "fn", "GOOGLE_PYTHON_VERSION": "3.11.x"}
        # The build installs exactly the lock, hash-checked.
        lock = (root / "requirements.lock").read_bytes()
        assert zf.read("requirements.txt") == b"--require-hashes\n" + lock


def test_stage_is_reproducible(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    first = stage.stage_function("fn", out=tmp_path / "a", root=root).read_bytes()
    (root / "requirements.lock").touch()  # a new mtime alone must not change the bundle
    second = stage.stage_function("fn", out=tmp_path / "b", root=root).read_bytes()
    assert first == second


def test_stage_refuses_a_function_without_main(tmp_path: Path) -> None:
    root = _fake_repo(tmp_path / "repo")
    built, errors = stage.stage(["fn", "ghost"], out=tmp_path / "build", root=root)
    assert [p.name for p in built] == ["fn.zip"]
    assert len(errors) == 1
    assert "functions/ghost/main.py is missing" in errors[0]


def test_workers_know_how_many_deliveries_the_queues_make() -> None:
    # The worker's "final attempt" must be the queue's: both read var.queues' max_attempts.
    text = (ROOT / "terraform" / "functions.tf").read_text()
    assert "TASK_MAX_ATTEMPTS" in text
    assert 'q.max_attempts if name != "control"' in text


def test_every_collection_group_query_has_a_collection_group_index() -> None:
    # The emulator does not enforce indexes, so a missing one would first show in production.
    import re

    queried = set()
    for path in (ROOT / "shared" / "repositories").glob("*.py"):
        queried |= set(re.findall(r'collection_group\("([a-z_]+)"\)', path.read_text()))
    text = (ROOT / "terraform" / "firestore.tf").read_text()
    # Each `collection = "x"` up to the next one: an index entry or a field override.
    spans = list(re.finditer(r'collection\s*=\s*"([a-z_]+)"', text))
    indexed = {
        m.group(1)
        for i, m in enumerate(spans)
        if "COLLECTION_GROUP"
        in text[m.end() : spans[i + 1].start() if i + 1 < len(spans) else None]
    }
    assert queried, "no collection-group queries found: has the repository layout changed?"
    assert queried <= indexed, f"collection-group queries without an index: {queried - indexed}"


def test_workers_outlive_the_tasks_dispatch_deadline() -> None:
    # Cloud Tasks gives up on a worker after the dispatch deadline; a request timeout shorter
    # than that would cut chunks off that Cloud Tasks is still waiting for.
    (template,) = _function_resource()["template"]
    assert template["timeout"] == "${each.value.timeout_seconds}s"
    timeout = _tf_functions()["workers"]["timeout_seconds"]
    assert timeout >= Settings.model_fields["task_dispatch_deadline_seconds"].default
    assert timeout <= 3600, "Cloud Run's longest request timeout"


def test_the_throughput_benchmark_models_a_worker_as_deployed() -> None:
    """benchmarks/run_throughput.py runs one worker instance serving as many tasks at once
    as Cloud Run sends it: the figures mean nothing for another concurrency."""
    from benchmarks.run_throughput import WORKER_TASKS

    assert _tf_functions()["workers"]["concurrency"] == WORKER_TASKS
