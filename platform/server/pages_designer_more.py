"""Pages: the designer's editors of views, dashboards, workflows and roles.

Each area has its own module (`pages_designer_more_views`, `_workflows`, `_dashboards`,
`_roles`); this router gathers them so the app registers one router for all of them. The
shared parts (the workspace, saving an edit through the engine, answering htmx) are in
`pages_designer_more_base`.
"""

from __future__ import annotations

from fastapi import APIRouter

from appblocks.server import (
    pages_designer_more_dashboards,
    pages_designer_more_roles,
    pages_designer_more_views,
    pages_designer_more_workflows,
)

router = APIRouter(include_in_schema=False)
router.include_router(pages_designer_more_views.router)
router.include_router(pages_designer_more_workflows.router)
router.include_router(pages_designer_more_roles.router)
router.include_router(pages_designer_more_dashboards.router)
