"""Every route that takes an object's id, found in the URL configuration, hides that object from others.

The routes come from walking `django.urls.get_resolver()`, so a new route with an id parameter that
`OWNED_OBJECTS` does not cover fails `test_every_route_with_a_parameter_is_covered` instead of going
untested. For each covered route, another signed-in user gets 404 on every method (405 where the
route does not take the method) and the object is left as it was; its owner does reach it.
"""

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from tests.factories import (
    ApiKeyFactory,
    ConnectionFactory,
    GoalFactory,
    ImportJobFactory,
    RecordFactory,
    SavedMappingFactory,
    SleepSessionFactory,
)
from users import export

METHODS = ("get", "post", "put", "patch", "delete")
PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


@dataclass(frozen=True)
class Route:
    name: str  # namespaced, "api-v1:goal-detail"; "" for an unnamed pattern
    route: str  # the pattern text from the root, "api/v1/goals/<int:pk>"
    parameters: tuple[str, ...]

    def path(self, **values: object) -> str:
        def fill(match: re.Match) -> str:
            return str(values[match.group(1) or match.group(2)])

        text = PARAMETER.sub(fill, self.route)
        return "/" + re.sub(r"[\^$]", "", text)


def walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for pattern in resolver.url_patterns:
        text = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = ":".join(part for part in (namespace, pattern.namespace or "") if part)
            yield from walk(pattern, text, inner)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name or ""
            parameters = tuple(a or b for a, b in PARAMETER.findall(text))
            yield Route(name=name, route=text, parameters=parameters)


def all_routes() -> list[Route]:
    return list(walk(get_resolver()))


def is_staff_route(route: Route) -> bool:
    return route.route.startswith("admin/")


def is_sandbox_route(route: Route) -> bool:
    """The provider simulators: off in production (`SANDBOX_ENABLED`), they hold no one's data."""
    return route.route.startswith("sandbox/")


def ready_export(user):
    """A real export of `user`'s data, built as the worker builds it."""
    queued = export.start_export(user=user)
    export.build(queued.pk)
    queued.refresh_from_db()
    return queued


def sync_run(user):
    from integrations.models import SyncRun

    return SyncRun.objects.create(connection=ConnectionFactory(user=user), status="succeeded")


# URL name -> (make an object owned by the user, other URL parameters, the owner's first method).
OWNED_OBJECTS: dict[str, tuple[Callable, dict, str]] = {
    "api-v1:api-key-detail": (lambda user: ApiKeyFactory(user=user), {}, "get"),
    "api-v1:api-key-revoke": (lambda user: ApiKeyFactory(user=user), {}, "post"),
    "api-v1:export-detail": (ready_export, {}, "get"),
    "api-v1:export-download": (ready_export, {}, "get"),
    "api-v1:import-detail": (lambda user: ImportJobFactory(user=user), {}, "get"),
    "api-v1:import-cancel": (lambda user: ImportJobFactory(user=user), {}, "post"),
    "api-v1:import-retry": (lambda user: ImportJobFactory(user=user), {}, "post"),
    "api-v1:import-rejects": (lambda user: ImportJobFactory(user=user), {}, "get"),
    "api-v1:import-mapping": (lambda user: SavedMappingFactory(user=user), {}, "get"),
    "api-v1:connection-detail": (lambda user: ConnectionFactory(user=user), {}, "get"),
    "api-v1:connection-sync": (lambda user: ConnectionFactory(user=user), {}, "get"),
    "api-v1:connection-runs": (lambda user: sync_run(user).connection, {}, "get"),
    # The owner posts no choice about the data: a 400 that revokes nothing at the provider.
    "api-v1:connection-disconnect": (lambda user: ConnectionFactory(user=user), {}, "post"),
    "api-v1:record-detail": (lambda user: RecordFactory(user=user), {}, "get"),
    "api-v1:session-detail": (lambda user: SleepSessionFactory(user=user), {}, "get"),
    "api-v1:goal-detail": (lambda user: GoalFactory(user=user), {}, "get"),
    "api-v1:goal-progress": (lambda user: GoalFactory(user=user), {}, "get"),
    "users:revoke-api-key": (lambda user: ApiKeyFactory(user=user), {}, "post"),
    "users:download-export": (ready_export, {}, "get"),
    "imports:detail": (lambda user: ImportJobFactory(user=user), {}, "get"),
    "imports:action": (lambda user: ImportJobFactory(user=user), {"action": "delete"}, "post"),
    "integrations:connection-detail": (lambda user: ConnectionFactory(user=user), {}, "get"),
    "integrations:sync-now": (lambda user: ConnectionFactory(user=user), {}, "post"),
    "integrations:disconnect": (lambda user: ConnectionFactory(user=user), {}, "get"),
    "healthdata:goal-delete": (lambda user: GoalFactory(user=user), {}, "post"),
}

# Routes whose parameters name no one's object, and why.
NOT_OBJECT_IDS = {
    "integrations:connect": "a provider slug: the connection it makes is the requester's own",
    "integrations:connect-return": "a provider slug: it reads the requester's own connection",
    "integrations:webhook": "a provider slug: deliveries are checked by the provider's signature",
    "healthdata:category": "a metric category of the requester's own dashboard",
    "api-v1:preference-detail": "a category of the requester's own source order",
    "account_confirm_email": "allauth's signed one-time key",
    "account_reset_password_from_key": "allauth's signed one-time key",
}


def id_routes() -> list[Route]:
    return [
        route
        for route in all_routes()
        if route.parameters and not is_staff_route(route) and not is_sandbox_route(route)
    ]


def test_every_route_with_a_parameter_is_covered():
    uncovered = [
        f"{route.name or '(unnamed)'} {route.route}"
        for route in id_routes()
        if route.name not in OWNED_OBJECTS and route.name not in NOT_OBJECT_IDS
    ]

    assert not uncovered, f"Add these routes to OWNED_OBJECTS or NOT_OBJECT_IDS: {uncovered}"
    assert {route.name for route in id_routes()} >= set(OWNED_OBJECTS), "a mapped route is gone"


def signed_in(user, *, api: bool):
    if api:
        client = APIClient()
        client.force_authenticate(user)
    else:
        client = Client()
        client.force_login(user)
    return client


def snapshot(instance) -> dict | None:
    found = type(instance).objects.filter(pk=instance.pk).first()
    return model_to_dict(found) if found is not None else None


@pytest.mark.parametrize("name", sorted(OWNED_OBJECTS))
def test_another_users_object_is_not_found_on_every_method(name, user, other_user, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    route = next(route for route in id_routes() if route.name == name)
    make, extra, owner_method = OWNED_OBJECTS[name]
    owned = make(user)
    path = route.path(pk=owned.pk, **extra)
    api = name.startswith("api-v1:")
    before = snapshot(owned)

    intruder = signed_in(other_user, api=api)
    statuses = {method: getattr(intruder, method)(path).status_code for method in METHODS}

    assert set(statuses.values()) <= {404, 405}, statuses
    assert 404 in statuses.values(), statuses
    if api:
        assert intruder.get(path).json()["error"]["code"] in ("not_found", "method_not_allowed")
    assert snapshot(owned) == before
    owner_status = getattr(signed_in(user, api=api), owner_method)(path).status_code
    assert owner_status != 404, f"the owner cannot reach {path}: the object factory is wrong"


PUBLIC_ADMIN = {"admin:login", "admin:logout"}  # the staff sign-in form, and signing out


def admin_paths() -> list[str]:
    """Every admin route, its parameters filled with a value that names an object or a page."""
    values = {"object_id": 1, "id": 1, "content_type_id": 1, "app_label": "users", "url": "users/user/1/"}
    routes = [route for route in all_routes() if is_staff_route(route) and route.name not in PUBLIC_ADMIN]
    return sorted({route.path(**values) for route in routes})


STAFF_ONLY_PATHS = ["/health", "/health/detailed", "/metrics"]


def test_every_admin_route_is_found_by_the_walk():
    paths = admin_paths()

    for model in admin.site._registry:
        meta = model._meta
        assert f"/admin/{meta.app_label}/{meta.model_name}/1/change/" in paths


@pytest.mark.parametrize("path", [*admin_paths(), *STAFF_ONLY_PATHS])
def test_staff_only_routes_refuse_a_signed_in_user(path, user):
    client = Client()
    client.force_login(user)

    for method in ("get", "post"):
        response = getattr(client, method)(path)
        if path.startswith("/admin/"):
            assert response.status_code in (302, 404), (method, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/admin/login/")
        else:
            assert response.status_code in (403, 404, 405), (method, response.status_code)


def test_a_staff_user_reaches_the_staff_only_routes(staff_user):
    client = Client()
    client.force_login(staff_user)

    assert client.get("/admin/").status_code == 200
    assert client.get(f"/admin/users/user/{staff_user.pk}/change/").status_code == 200
    assert client.get("/metrics").status_code == 200
