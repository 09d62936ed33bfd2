app_name = "replenishment"

urlpatterns: list = []
