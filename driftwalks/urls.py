app_name = "driftwalks"

urlpatterns: list = []
