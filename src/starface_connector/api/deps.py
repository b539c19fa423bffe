"""Request-scoped dependencies: the container, and who is asking."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..bootstrap import Container
from ..service.accounts import Principal


async def container(request: Request) -> Container:
    """The one typed way into ``app.state`` (async: no worker thread just to read it)."""
    return cast(Container, request.app.state.container)


Services = Annotated[Container, Depends(container)]
_bearer = HTTPBearer(auto_error=False, description="Token from POST /api/v1/auth/login")


def current_principal(
    services: Services,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Rights are read on every request: a revoked admin flag or a deletion counts at once."""
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = services.accounts.principal_for(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or expired token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


def admin_principal(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "administrator rights required")
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]
Admin = Annotated[Principal, Depends(admin_principal)]
