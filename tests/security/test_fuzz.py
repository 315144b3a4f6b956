"""The API fuzzed from its own OpenAPI schema, on a live server, as a signed-in user.

Every operation of `/api/v1/schema/` gets generated input, valid and invalid, from a fixed seed and a
bounded number of examples, so a run is repeatable and stays within CI's time. Each response must be
below 500, match the status codes, content types and bodies the schema declares, and reject what the
schema forbids. Schema-valid input may still be refused with a 400: the API checks more than a schema
can say (an end after its start, a metric's own unit, a file's contents), so that one check is off.
Inputs it once broke on are kept as plain tests in `test_fuzz_regressions.py`.
"""

import time

import hypothesis
import requests
import schemathesis
from hypothesis import strategies
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.factories import (
    PASSWORD,
    ConnectionFactory,
    GoalFactory,
    ImportJobFactory,
    RecordFactory,
    SavedMappingFactory,
    SleepSessionFactory,
    UserFactory,
)
from users import api_keys

FUZZ_SEED = 20261203
EXAMPLES_PER_OPERATION = 5
FUZZ_CONFIG = {"seed": FUZZ_SEED, "generation": {"deterministic": True}, "request-timeout": 20}


def _own_objects(user) -> dict[str, int | str]:
    """One object of each kind the user owns, by the path that reads it, so updates reach real rows."""
    return {
        "/api/v1/api-keys/{id}": api_keys.create_api_key(user=user, name="script", scope="read").key.pk,
        "/api/v1/connections/{id}": ConnectionFactory(user=user).pk,
        "/api/v1/goals/{id}": GoalFactory(user=user).pk,
        "/api/v1/imports/{id}": ImportJobFactory(user=user).pk,
        "/api/v1/imports/mappings/{id}": SavedMappingFactory(user=user).pk,
        "/api/v1/records/{id}": RecordFactory(user=user).pk,
        "/api/v1/sessions/{id}": SleepSessionFactory(user=user).pk,
        "/api/v1/preferences/{category}": "activity",
    }


def _session_token(base_url: str, user) -> str:
    login = requests.post(
        f"{base_url}/_allauth/app/v1/auth/login",
        json={"email": user.email, "password": PASSWORD},
        timeout=10,
    )
    return login.json()["meta"]["session_token"]


def _titles(failure: BaseException) -> list[str]:
    found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else [failure]
    return [getattr(one, "title", None) or type(one).__name__ for one in found]


def _fuzz(operation, headers: dict, failures: dict, path_parameters: dict | None = None) -> None:
    both_modes = strategies.one_of(
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path_parameters),
        operation.as_strategy(GenerationMode.NEGATIVE, path_parameters=path_parameters),
    )

    @hypothesis.seed(FUZZ_SEED)
    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=both_modes)
    def run(case):
        try:
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
        except (Exception, BaseExceptionGroup) as failure:  # collected, then reported together
            for title in _titles(failure):
                failures.setdefault(
                    (operation.label, title), f"{case.as_curl_command(headers=headers)}\n{failure}"
                )

    run()


def test_every_operation_answers_within_its_schema(live_server, transactional_db, settings, sandbox):
    settings.API_RATE_LIMIT_USER = settings.API_RATE_LIMIT_IP = "100000/m"
    user = UserFactory()
    own_objects = _own_objects(user)
    headers = {"X-Session-Token": _session_token(live_server.url, user)}
    schema = schemathesis.openapi.from_url(
        f"{live_server.url}/api/v1/schema/?format=json",
        config=schemathesis.Config.from_dict(FUZZ_CONFIG),
        headers=headers,
        timeout=20,
    )
    schema.config.update(base_url=live_server.url, headers=headers)
    failures: dict[tuple[str, str], str] = {}
    started = time.perf_counter()

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        _fuzz(operation, headers, failures)
    for operation in operations:  # again on the user's own objects, deletions last
        real = next((value for path, value in own_objects.items() if operation.path.startswith(path)), None)
        if real is not None and operation.method.upper() != "DELETE":
            _fuzz(operation, headers, failures, {"id" if "{id}" in operation.path else "category": real})
    for operation in operations:
        real = own_objects.get(operation.path)
        if real is not None and operation.method.upper() == "DELETE":
            _fuzz(operation, headers, failures, {"id": real})

    print(f"fuzzed {len(operations)} operations in {time.perf_counter() - started:.1f} s")
    assert not failures, "\n\n".join(
        f"{label}: {title}\n{shown}" for (label, title), shown in failures.items()
    )
