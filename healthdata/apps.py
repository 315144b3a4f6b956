from django.apps import AppConfig


class HealthdataConfig(AppConfig):
    name = "healthdata"

    def export_user_data(self, user, archive) -> None:
        from healthdata.exports import export_user_data

        export_user_data(user, archive)

    def erase_user_data(self, user) -> None:
        from healthdata.exports import erase_user_data

        erase_user_data(user)
