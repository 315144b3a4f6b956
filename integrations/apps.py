from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from allauth.socialaccount.signals import social_account_added, social_account_updated

        from integrations.signals import connection_from_social_login

        social_account_added.connect(connection_from_social_login, dispatch_uid="integrations.added")
        social_account_updated.connect(connection_from_social_login, dispatch_uid="integrations.updated")

    def export_user_data(self, user, archive) -> None:
        from integrations.exports import export_user_data

        export_user_data(user, archive)

    def before_erase_user(self, user) -> None:
        from integrations.exports import revoke_all

        revoke_all(user)
