from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from inventory.account_views import (
    LoginView,
    PasswordResetView,
    password_reset_offered,
    profile,
)
from inventory.api import api
from inventory.views import home

# Django's auth URLs (django.contrib.auth.urls), with password reset only where mail is
# configured (see inventory.account_views).
accounts = [
    path("login/", LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("profile/", profile, name="profile"),
    path("password_change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password_change/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "password_reset/",
        password_reset_offered(PasswordResetView.as_view()),
        name="password_reset",
    ),
    path(
        "password_reset/done/",
        password_reset_offered(auth_views.PasswordResetDoneView.as_view()),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        password_reset_offered(auth_views.PasswordResetConfirmView.as_view()),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        password_reset_offered(auth_views.PasswordResetCompleteView.as_view()),
        name="password_reset_complete",
    ),
]

handler403 = "inventory.denied_views.permission_denied"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include(accounts)),
    path("demo-storefront/", include("inventory.storefront.demo.urls")),
    path("returns/", include("returns.urls")),
    path("replenishment/", include("replenishment.urls")),
    path("walks/", include("driftwalks.urls")),
    path("", home, name="home"),
    path("", include("inventory.urls")),
]
