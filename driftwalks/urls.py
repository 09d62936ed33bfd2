from django.urls import path

from driftwalks import views

app_name = "driftwalks"

urlpatterns = [
    path("", views.walk_mine, name="walk-mine"),
    path("start/", views.walk_start, name="walk-start"),
    path("go/", views.count_go, name="count-go"),
    path("bins/<path:code>/count/", views.count_sheet, name="count-sheet"),
    path("bins/<path:code>/count/submit/", views.count_submit, name="count-submit"),
    path("bins/<path:code>/count/found/", views.count_found_line, name="count-found-line"),
    path("find/<int:pk>/", views.find_task, name="find-task"),
    path("find/<int:pk>/count/", views.find_count, name="find-count"),
    path("find/<int:pk>/finish/", views.find_finish, name="find-finish"),
    path("tasks/", views.task_list, name="task-list"),
    path("tasks/new/", views.task_open, name="task-open"),
    path("tasks/assign/", views.task_assign, name="task-assign"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/cancel/", views.task_cancel, name="task-cancel"),
    path("import/", views.count_import, name="count-import"),
    path("opening/<str:storefront>/", views.opening_stock_take, name="opening-stock-take"),
    path("approvals/", views.approval_list, name="approval-list"),
    path("approvals/<int:pk>/decide/", views.approval_decide, name="approval-decide"),
    path("accuracy/", views.accuracy, name="accuracy"),
]
