"""The caption and music endpoints over tiny runs: each answers what the task's own Python API
answers (``rnnkit.tasks.caption.caption`` and ``attention_of``, ``rnnkit.tasks.music.generate``),
and every bound gives a clear JSON error."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.tasks import caption, music


def scene(served_runs, index: int = 0) -> Path:
    return served_runs["caption"].parent / "scenes" / "images" / f"train_0000{index}.png"


# ---------------------------------------------------------------------------- caption


def test_caption_gives_the_caption_of_rnnkit_caption(client, served_runs):
    image = scene(served_runs)
    for beam in (None, 3):
        query = "" if beam is None else f"?beam={beam}"
        response = client.post(f"/v1/caption-run/caption{query}", content=image.read_bytes())
        assert response.status_code == 200, response.text
        expected = caption.caption(served_runs["caption"], [image], beam=beam)[0]
        assert response.json() == {"caption": expected}


def test_caption_attention_is_a_map_over_the_image_per_word(client, served_runs):
    image = scene(served_runs, 1)
    response = client.post("/v1/caption-run/caption?attention=true", content=image.read_bytes())
    assert response.status_code == 200, response.text
    answer = response.json()
    found = caption.attention_of(served_runs["caption"], image)
    assert answer["caption"] == found.caption == caption.caption(served_runs["caption"], [image])[0]
    attention = answer["attention"]
    weights = np.array(attention["weights"])
    # 16-pixel images through two CNN stages that halve the side: a 4 x 4 grid of positions
    assert weights.shape == (len(attention["words"]), 4, 4)
    assert len(attention["words"]) == len(answer["caption"].split()) + 1  # and the end marker
    np.testing.assert_allclose(weights.sum(axis=(1, 2)), 1.0, atol=1e-5)
    np.testing.assert_allclose(weights, found.weights, atol=1e-6)
    assert attention["keywords"] is None


@pytest.fixture(scope="module")
def keywords_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("keywords")
    table = folder / "keywords.csv"
    pairs = [("red ball", "a red ball"), ("blue box", "a blue box")] * 4
    table.write_text("image,caption\n" + "".join(f"{k},{c}\n" for k, c in pairs))
    out = folder / "keywords-run"
    args = ["train", "caption", "--keywords", "--data", table, "--out", out,
            "--embedding-size", "8", "--decoder-hidden", "8", "--batch-size", "4",
            "--max-steps", "4", "--progress", "off", "--device", "cpu", "--seed", "0"]  # fmt: skip
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (result.output, result.exception)
    return out


def test_a_keywords_run_takes_the_keywords_as_text(keywords_run):
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app

    with TestClient(create_app([keywords_run])) as client:
        response = client.post("/v1/keywords-run/caption?attention=true", content=b"blue box")
        assert response.status_code == 200, response.text
        answer = response.json()
        found = caption.attention_of(keywords_run, "blue box")
        assert answer["caption"] == found.caption
        assert answer["attention"]["keywords"] == ["blue", "box"]
        weights = np.array(answer["attention"]["weights"])
        assert weights.shape == (len(answer["attention"]["words"]), 2)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-5)
        bad = client.post("/v1/keywords-run/caption", content=b"\xff\xfe")
        assert bad.status_code == 422 and "UTF-8" in bad.json()["detail"]


@pytest.mark.parametrize(
    "query, body, fragment",
    [
        ("", b"", "the request body is empty"),
        ("", b"not an image at all", "image"),
        ("?beam=17", None, "less than or equal to 16"),
        ("?suffix=p/ng", None, "is not a file kind"),
    ],
)
def test_bad_caption_requests_are_422(client, served_runs, query, body, fragment):
    content = scene(served_runs).read_bytes() if body is None else body
    response = client.post(f"/v1/caption-run/caption{query}", content=content)
    assert response.status_code == 422, response.text
    assert fragment in str(response.json()["detail"])


def test_an_image_over_the_body_limit_is_413(served_runs):
    from fastapi.testclient import TestClient

    from rnnkit.serve.app import create_app
    from rnnkit.serve.limits import Limits

    image = scene(served_runs).read_bytes()
    small = create_app([served_runs["caption"]], limits=Limits(max_body_bytes=len(image) - 1))
    with TestClient(small) as client:
        response = client.post("/v1/caption-run/caption", content=image)
        assert response.status_code == 413
        assert f"at most {len(image) - 1}" in response.json()["detail"]


# ---------------------------------------------------------------------------- music


def test_music_generate_gives_the_piece_of_rnnkit_generate(client, served_runs, tmp_path):
    body = {"steps": 10, "temperature": 0.9, "seed": 3}
    response = client.post("/v1/music-run/generate", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = music.generate(served_runs["music"], tmp_path / "p.mid", 10, 0.9, 3)
    assert answer["frames"] == 10 and answer["prime_frames"] == 0
    assert answer["pitches"] == expected.pitches()
    roll = np.zeros((10, 88), dtype=np.uint8)  # the pitches back to the roll: MIDI 21 is key 0
    for frame, pitches in enumerate(answer["pitches"]):
        roll[frame, np.array(pitches, dtype=int) - 21] = 1
    np.testing.assert_array_equal(roll, expected.roll)
    assert base64.b64decode(answer["midi"]) == (tmp_path / "p.mid").read_bytes()


def test_music_generate_continues_a_prime_midi_file(client, served_runs, tmp_path):
    prime = music.generate(served_runs["music"], tmp_path / "prime.mid", 6, 1.0, 1)
    body = {"steps": 4, "seed": 5, "prime_midi": base64.b64encode(prime.midi.read_bytes()).decode()}
    answer = client.post("/v1/music-run/generate", json=body).json()
    expected = music.generate(
        served_runs["music"], tmp_path / "p.mid", 4, 1.0, 5, prime=tmp_path / "prime.mid"
    )
    assert answer["prime_frames"] == expected.prime_frames > 0
    assert answer["frames"] == expected.prime_frames + 4
    assert answer["pitches"] == expected.pitches()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({"steps": 2001}, "steps has 2001 frames; this server allows at most 2000"),
        ({"steps": 4, "temperature": -1}, "--temperature must be >= 0"),
        ({"steps": 4, "program": 200}, "--program must be a General MIDI program"),
        ({"prime_midi": "%%%"}, "prime_midi is not base64"),
        ({"prime_midi": base64.b64encode(b"not midi").decode()}, "is not a MIDI file"),
    ],
)
def test_bad_music_requests_are_422(client, body, fragment):
    response = client.post("/v1/music-run/generate", json=body)
    assert response.status_code == 422, response.text
    assert fragment in response.json()["detail"]


def test_each_generate_body_is_checked_against_its_own_run(client):
    for run, body, field in [("music-run", {"length": 5}, "length"),
                             ("music-run", {"steps": 0}, "steps"),
                             ("lm-run", {"steps": 5}, "steps")]:  # fmt: skip
        response = client.post(f"/v1/{run}/generate", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field]
    assert client.post("/v1/music-run/generate", content=b"{").status_code == 422


def test_openapi_documents_caption_and_both_generate_bodies(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/v1/{run}/caption" in paths
    body = paths["/v1/{run}/generate"]["post"]["requestBody"]["content"]["application/json"]
    titles = [schema["title"] for schema in body["schema"]["oneOf"]]
    assert titles == ["GenerateBody", "MusicGenerateBody"]
