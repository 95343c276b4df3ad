"""Issue 19: the OpenAPI document gives every rate-limited operation its 429 with
`Retry-After`, and only those (mtq/http/ratelimit.py counts every path but a few)."""

from __future__ import annotations

from mtq.http.openapi import openapi_document
from mtq.http.openapi_limits import rate_limited


def test_every_rate_limited_operation_documents_429_with_retry_after() -> None:
    document = openapi_document()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if not rate_limited(path):
                assert "429" not in responses, (method, path)
                continue
            too_many = responses["429"]
            assert "Retry-After" in too_many["headers"], (method, path)
            schema = too_many["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}
            checked += 1
    assert checked >= 30
    assert "429" not in document["paths"]["/health"]["get"]["responses"]
    assert "ErrorBody" in document["components"]["schemas"]
    control = document["paths"]["/accounts/{account_id}/pause"]["post"]["responses"]
    assert "control" in control["429"]["description"]
