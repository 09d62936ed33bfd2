"""Django's username and password backend, loading the user with their preferences.

Every page reads the user's language (``inventory.middleware.UserLanguageMiddleware``);
joining the preference row into the user's own query keeps each page's query count."""

from django.contrib.auth import backends, get_user_model


class ModelBackend(backends.ModelBackend):
    def get_user(self, user_id):
        users = get_user_model()._default_manager.select_related("preference")
        try:
            user = users.get(pk=user_id)
        except users.model.DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
