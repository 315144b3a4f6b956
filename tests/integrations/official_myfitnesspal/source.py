"""An official MyFitnessPal API, as a provider app would add it if one opened (registry tests)."""

from tests.integrations.acme.source import Source as AcmeSource


class Source(AcmeSource):
    slug = "myfitnesspal"
    name = "MyFitnessPal"
    data_types = ("steps",)
