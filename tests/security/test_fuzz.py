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

from tests.factories import PASSWORD, UserFactory

FUZZ_SEED = 20261203
EXAMPLES_PER_OPERATION = 8
FUZZ_CONFIG = {"seed": FUZZ_SEED, "generation": {"deterministic": True}, "request-timeout": 20}


def _session_token(base_url: str) -> str:
    user = UserFactory()
    login = requests.post(
        f"{base_url}/_allauth/app/v1/auth/login",
        json={"email": user.email, "password": PASSWORD},
        timeout=10,
    )
    return login.json()["meta"]["session_token"]


def _titles(failure: BaseException) -> list[str]:
    found = failure.exceptions if isinstance(failure, BaseExceptionGroup) else [failure]
    return [getattr(one, "title", None) or type(one).__name__ for one in found]


def _fuzz(operation, headers: dict, failures: dict) -> None:
    both_modes = strategies.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
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
        except (
            Exception,
            BaseExceptionGroup,
        ) as failure:  # every failure is collected, then reported together
            for title in _titles(failure):
                failures.setdefault(
                    (operation.label, title), f"{case.as_curl_command(headers=headers)}\n{failure}"
                )

    run()


def test_every_operation_answers_within_its_schema(live_server, transactional_db, settings):
    settings.API_RATE_LIMIT_USER = settings.API_RATE_LIMIT_IP = "100000/m"
    headers = {"X-Session-Token": _session_token(live_server.url)}
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

    print(f"fuzzed {len(operations)} operations in {time.perf_counter() - started:.1f} s")
    assert not failures, "\n\n".join(
        f"{label}: {title}\n{shown}" for (label, title), shown in failures.items()
    )
