"""HTTP routes of the ingest capability: the Kinesis Data Firehose endpoint.

The route is thin: it hands headers and the body stream to the
:class:`~ingest.firehose.FirehoseService` the app keeps in ``app.state.firehose``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ingest.firehose import FirehoseService

router = APIRouter(tags=["ingest"])


@router.post(
    "/firehose",
    summary="Kinesis Data Firehose HTTP endpoint delivery",
    responses={
        200: {"description": "every record indexed, a duplicate, or dead-lettered"},
        400: {"description": "malformed request"},
        401: {"description": "missing or wrong X-Amz-Firehose-Access-Key, or none configured"},
        413: {"description": "body larger than firehose.max_body_bytes"},
        503: {
            "description": "busy (firehose.max_concurrent_requests) or OpenSearch "
            "unavailable: nothing acknowledged, retry after Retry-After seconds"
        },
    },
)
async def firehose_delivery(request: Request) -> Response:
    service: FirehoseService = request.app.state.firehose
    result = await service.receive(request.headers, request.stream())
    return Response(
        result.body(),
        status_code=result.status,
        media_type="application/json",
        headers=result.headers(),
    )
