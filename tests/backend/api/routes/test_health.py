"""GET /health."""


def test_health_counts_suites_and_runs(client, tiny_suite):
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["suites"] == 1
    assert body["runs"] == len([p for p in tiny_suite.iterdir() if (p / "manifest.json").exists()])


def test_openapi_documents_every_route_with_a_response_model_and_errors(client):
    spec = client.get("/openapi.json").json()
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("description") or op.get("summary"), (method, path)
            assert "$ref" in str(op["responses"]["200"]), (method, path)
            if "{suite}" in path:
                assert {"404", "422", "503"} <= set(op["responses"]), (method, path)
