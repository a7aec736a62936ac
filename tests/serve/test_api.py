"""The HTTP API over tiny runs: each endpoint answers what the task's own Python API (the path
of its command) answers, and every bound gives a clear JSON error."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tiny_series import series_csv
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks import classify, detect, forecast, lm, tag, translate

# ---------------------------------------------------------------------------- the server


def test_health_and_runs_list_every_run_with_its_task_and_endpoints(client, served_runs):
    assert client.get("/health").json() == {
        "status": "ok",
        "runs": [p.name for p in served_runs.values()],
    }
    listed = {run["name"]: run for run in client.get("/v1/runs").json()}
    for task, path in served_runs.items():
        run = listed[path.name]
        assert run["task"] == task
        info = json.loads(CliRunner().invoke(app, ["info", str(path), "--json"]).stdout)
        assert run["description"]["model"] == info["model"]
    assert listed["lm-run"]["units"] == 2 * 8
    assert listed["lm-run"]["endpoints"] == ["generate", "generate/stream", "activations", "units"]


def test_openapi_documents_one_endpoint_per_task(client):
    paths = client.get("/openapi.json").json()["paths"]
    for endpoint in ["generate", "generate/stream", "classify", "tag", "translate", "forecast",
                     "detect", "transcribe", "units", "activations"]:  # fmt: skip
        assert f"/v1/{{run}}/{endpoint}" in paths
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "://" not in docs.text  # rendered in the page, no Swagger UI from a CDN


def test_metrics_are_the_columns_of_metrics_csv(client, served_runs):
    expected = pd.read_csv(served_runs["lm"] / "metrics.csv")
    columns = client.get("/v1/lm-run/metrics").json()["columns"]
    assert list(columns) == list(expected.columns)
    np.testing.assert_allclose(columns["val_loss"], expected["val_loss"])


def test_the_web_ui_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>rnnkit</title>" in page.text
    assert "://" not in page.text  # nothing fetched from elsewhere
    for asset in ["app.js", "charts.js", "style.css"]:
        response = client.get(f"/static/{asset}")
        assert response.status_code == 200
        # the SVG namespace is a name, not a download; no other address may appear
        assert "://" not in response.text.replace("http://www.w3.org/2000/svg", "")


# ---------------------------------------------------------------------------- the tasks


def test_generate_gives_the_text_of_rnnkit_generate(client, served_runs):
    body = {"prime": "he said", "length": 30, "temperature": 0.8, "top_k": 5, "seed": 7}
    answer = client.post("/v1/lm-run/generate", json=body).json()
    expected = "".join(lm.generate(served_runs["lm"], "he said", 30, 0.8, 5, 1.0, 7))
    assert answer["text"] == expected
    assert "".join(p["text"] for p in answer["pieces"]) == expected


def test_streamed_generation_sends_one_event_per_character_then_done(client):
    body = {"prime": "she", "length": 12, "seed": 2, "units": [3]}
    whole = client.post("/v1/lm-run/generate", json=body).json()
    with client.stream("POST", "/v1/lm-run/generate/stream", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.read().decode().split("\n\n")
    data = [json.loads(e[len("data: ") :]) for e in events if e.startswith("data: ")]
    assert events[-2] == "event: done\ndata: {}"
    assert [d["text"] for d in data] == [p["text"] for p in whole["pieces"]]
    np.testing.assert_allclose(
        [d["activations"] for d in data], [p["activations"] for p in whole["pieces"]], atol=1e-6
    )


def test_activations_and_unit_search(client):
    answer = client.post("/v1/lm-run/activations", json={"text": "he said", "units": [0, 9]})
    assert answer.status_code == 200
    assert answer.json()["pieces"] == list("he said")
    assert np.array(answer.json()["activations"]).shape == (7, 2)
    found = client.post("/v1/lm-run/units", json={"signal": "brackets", "count": 3}).json()
    assert found["source"] == "validation text" and len(found["units"]) == 3
    assert all(-1 <= u["correlation"] <= 1 for u in found["units"])


def test_classify_gives_the_probabilities_of_rnnkit_predict(client, served_runs):
    texts = ["a fine good film", "a bad dull film", "good"]
    answer = client.post("/v1/classify-run/classify", json={"texts": texts}).json()
    expected = classify.predict_texts(served_runs["classify"], texts)
    for got, want in zip(answer["predictions"], expected, strict=True):
        assert got["label"] == want.label
        assert got["probabilities"] == pytest.approx(want.probabilities, abs=1e-6)


def test_tag_gives_the_tags_of_rnnkit_predict(client, served_runs):
    texts = ["John lives in Paris", "Paris lives"]
    answer = client.post("/v1/tag-run/tag", json={"texts": texts}).json()
    expected = tag.predict_texts(served_runs["tag"], texts)
    assert answer["tags"] == [[list(pair) for pair in sentence] for sentence in expected]


def test_translate_gives_the_translation_and_attention_rows_that_sum_to_one(client, served_runs):
    answer = client.post(
        "/v1/translate-run/translate", json={"texts": ["abc", "cab"], "attention": True}
    ).json()
    assert answer["translations"] == translate.translate(served_runs["translate"], ["abc", "cab"])
    attention = answer["attention"]
    weights = np.array(attention["weights"])
    assert weights.shape == (len(attention["target_tokens"]), len(attention["source_tokens"]))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    assert attention["source_tokens"][:3] == ["a", "b", "c"]


def test_forecast_gives_the_forecast_of_rnnkit_forecast(client, served_runs, tmp_path):
    history = series_csv(tmp_path, rows=40)
    answer = client.post(
        "/v1/forecast-run/forecast", json={"csv": history.read_text(), "steps": 6}
    ).json()
    expected = forecast.forecast(served_runs["forecast"], history, steps=6)
    assert list(answer["forecast"]) == list(expected.columns)  # a Gaussian run: quantiles too
    assert any(column.startswith("value_q") for column in expected.columns)
    for column in expected.columns[1:]:
        np.testing.assert_allclose(answer["forecast"][column], expected[column], rtol=1e-6)
    assert answer["forecast"]["time"] == expected["time"].astype(str).tolist()
    np.testing.assert_allclose(answer["history"]["value"], pd.read_csv(history)["value"])


def test_detect_gives_the_scores_and_flags_of_rnnkit_detect(client, served_runs, tmp_path):
    series = series_csv(tmp_path, rows=60)
    answer = client.post("/v1/detect-run/detect", json={"csv": series.read_text()}).json()
    frame, _ = detect.detect(served_runs["detect"], series)
    scores = [np.nan if s is None else s for s in answer["score"]]
    np.testing.assert_allclose(scores, frame["score"], rtol=1e-6)
    assert answer["flag"] == frame["flag"].tolist()


def test_transcribe_gives_the_transcript_of_rnnkit_transcribe(client, served_runs):
    from rnnkit.tasks import speech

    audio = sorted((served_runs["speech"].parent / "tones").rglob("*.wav"))[0]
    response = client.post("/v1/speech-run/transcribe", content=audio.read_bytes())
    assert response.status_code == 200, response.text
    assert response.json() == {"text": speech.transcribe_files(served_runs["speech"], [audio])[0]}
    empty = client.post("/v1/speech-run/transcribe", content=b"")
    assert empty.status_code == 422 and "empty" in empty.json()["detail"]
    garbage = client.post("/v1/speech-run/transcribe", content=b"not audio at all")
    assert garbage.status_code == 422


# ---------------------------------------------------------------------------- errors and bounds


@pytest.mark.parametrize(
    "path, body, status, fragment",
    [
        ("/v1/lm-run/generate", {"length": 5000}, 422, "at most 2000"),
        ("/v1/lm-run/generate", {"temperature": -1}, 422, "--temperature must be >= 0"),
        ("/v1/lm-run/generate", {"units": [99]}, 422, "unit 99 does not exist"),
        ("/v1/lm-run/generate", {"prime": "x" * 10_001}, 422, "at most 10000"),
        ("/v1/lm-run/units", {"signal": "commas"}, 422, "'commas' is not known"),
        ("/v1/classify-run/classify", {"texts": []}, 422, "texts is empty"),
        ("/v1/classify-run/classify", {"texts": ["a"] * 65}, 422, "at most 64"),
        ("/v1/classify-run/classify", {"texts": ["   "]}, 422, "--text is empty"),
        ("/v1/forecast-run/forecast", {"csv": "a,b\n1,2\n"}, 422, "the CSV of the request has"),
        ("/v1/forecast-run/forecast", {"csv": "x", "steps": 5000}, 422, "at most 1000"),
        ("/v1/nothing/generate", {}, 404, "no run is named 'nothing'"),
        ("/v1/lm-run/classify", {"texts": ["a"]}, 404, "run of task lm"),
    ],
)
def test_bad_requests_get_a_clear_json_answer(client, path, body, status, fragment):
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_unknown_and_mistyped_fields_are_422(client):
    for body in [{"lenght": 5}, {"length": "long"}]:
        response = client.post("/v1/lm-run/generate", json=body)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"][:2] == ["body", next(iter(body))]


def test_a_body_over_the_limit_is_413_before_it_is_read(served_runs):
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app
    from rnnkit.serve.limits import Limits

    small = create_app([served_runs["classify"]], limits=Limits(max_body_bytes=1000))
    with TestClient(small) as client:
        response = client.post("/v1/classify-run/classify", json={"texts": ["word " * 300]})
        assert response.status_code == 413
        assert "at most 1000" in response.json()["detail"]
        ok = client.post("/v1/classify-run/classify", json={"texts": ["good"]})
        assert ok.status_code == 200


def test_requests_over_the_concurrency_limit_get_503():
    import asyncio

    from rnnkit.serve.limits import ConcurrencyLimit

    release = asyncio.Event()

    async def slow_app(scope, receive, send):
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limited = ConcurrencyLimit(slow_app, max_requests=2)

    async def request(path="/v1/x/generate"):
        sent = []

        async def send(message):
            sent.append(message)

        await limited({"type": "http", "path": path}, None, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    async def main():
        held = [asyncio.create_task(request()) for _ in range(2)]
        await asyncio.sleep(0.01)
        refused = await request()
        health = asyncio.create_task(request("/health"))  # not an API request: not counted
        release.set()
        return refused, [await task for task in held], await health

    refused, held, health = asyncio.run(main())
    assert refused[0] == 503 and b"retry shortly" in refused[1]
    assert [status for status, _ in held] == [200, 200] and health[0] == 200
    assert limited.in_flight == 0


def test_serve_refuses_a_directory_that_is_not_a_run_in_one_sentence(tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, ["serve", str(tmp_path / "empty"), "--port", "0"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "empty" in lines[0]


def test_serve_refuses_a_port_in_use_in_one_sentence(served_runs):
    from rnnkit.serve.server import bind

    holder = bind("127.0.0.1", 0)
    port = holder.getsockname()[1]
    try:
        result = CliRunner().invoke(app, ["serve", str(served_runs["lm"]), "--port", str(port)])
    finally:
        holder.close()
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is in use; pass another --port or stop what holds it."
    ]
