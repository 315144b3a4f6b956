from django.apps import AppConfig


class ImportsConfig(AppConfig):
    name = "imports"

    def export_user_data(self, user, archive) -> None:
        from imports.exports import export_user_data

        export_user_data(user, archive)

    def erase_user_data(self, user) -> None:
        from imports.exports import erase_user_data

        erase_user_data(user)
