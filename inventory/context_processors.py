from inventory.roles import role_for


def role(request):
    return {"role": role_for(request.user) if hasattr(request, "user") else ""}
