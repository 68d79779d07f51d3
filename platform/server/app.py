"""The FastAPI application factory: one router per area, errors as problem+json."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.sessions import SessionMiddleware

from appblocks.server import (
    api_apps,
    api_blueprints,
    api_records,
    api_workflows,
    auth,
    pages,
    pages_designer,
    pages_designer_more,
    pages_import,
    pages_lists,
    pages_portal,
    pages_records,
    pages_tasks,
    pages_views,
)
from appblocks.server.limits import BodyLimit, BodyTooLarge
from appblocks.server.openapi import install_openapi
from appblocks.server.problems import install_handlers, problem_response
from appblocks.server.runtime import Runtime
from appblocks.server.settings import Settings
from appblocks.server.web import install_page_errors

SESSION_COOKIE = "appblocks_session"


def create_app(settings: Settings, runtime: Runtime | None = None) -> FastAPI:
    """A new application serving the API (and, later, the pages) for `settings`."""
    app = FastAPI(
        title="appblocks",
        version="1",
        description="REST API of every installed app: one typed schema per entity.",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.runtime = runtime or Runtime(settings)
    install_handlers(app)
    api_workflows.install_workflow_errors(app)

    async def too_large(request: Request, exc: Exception) -> JSONResponse:
        return problem_response(
            request, 413, f"the request body is larger than {settings.max_body_bytes:,} bytes"
        )

    app.add_exception_handler(BodyTooLarge, too_large)
    app.mount("/static", StaticFiles(packages=[("appblocks.ui", "static")]), name="static")
    app.include_router(auth.router)
    app.include_router(api_apps.router)
    app.include_router(api_blueprints.router)
    app.include_router(api_workflows.router)
    app.include_router(api_records.router)
    # Pages: fixed paths first, then `/{app}/views/...`, then the generic entity pages, and
    # `/{app}` last, so that no pattern shadows a more specific page.
    for router in (
        pages.router,
        pages_tasks.router,
        pages_designer.router,
        pages_designer_more.router,
        pages_portal.router,
        pages_views.router,
        pages_import.router,
        pages_records.router,
        pages_lists.router,
        pages.late_router,
    ):
        app.include_router(router)
    install_openapi(app)
    install_page_errors(app)
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        same_site="lax",
        https_only=settings.cookie_secure,
        max_age=12 * 3600,
    )
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    return app
