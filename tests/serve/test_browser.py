"""The web UI in a real headless Chromium (the system's /usr/bin/chromium, driven by
playwright; never a downloaded browser): the page lists the runs, streams generated text
coloured by a hidden unit, finds units, draws an attention map and a forecast, and a
screenshot of it is kept for a person to look at.

Skips with the reason when playwright or Chromium is absent (``make test`` installs Chromium
where it can)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from rnnkit.tasks import lm_units

CHROMIUM = os.environ.get("RNNKIT_CHROMIUM", "/usr/bin/chromium")
#: where the screenshots go (kept after the test for a person to look at)
SCREENSHOTS = Path(os.environ.get("RNNKIT_SCREENSHOTS", Path(__file__).parent / "screenshots"))


@pytest.fixture(scope="module")
def page(request):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install 'rnnkit[browser]')"
    )
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    url, _ = request.getfixturevalue("live_server")  # only once the browser is known to be here
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--no-proxy-server"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{url}/")
        page.wait_for_selector("nav .run", timeout=15_000)
        yield page
        browser.close()
        assert not errors, errors


def test_the_page_lists_every_run_with_its_task_and_draws_its_curves(page, request):
    served_runs = request.getfixturevalue("served_runs")
    names = page.locator("nav .run .name").all_inner_texts()
    assert names == [path.name for path in served_runs.values()]
    tasks = page.locator("nav .run .task").all_inner_texts()
    assert tasks == [f"task: {task}" for task in served_runs]
    # the curves are drawn once their metrics arrive, after the run list
    page.wait_for_selector("#curves svg path.series", timeout=15_000)
    assert page.locator("#curves svg path.series").count() >= 1


@pytest.fixture(scope="module")
def loaded_lm(page, request):
    from rnnkit.tasks.lm_sampling import LoadedLM

    return LoadedLM.open(request.getfixturevalue("served_runs")["lm"])


def test_generated_text_streams_in_coloured_by_the_chosen_unit(page, loaded_lm):
    page.click("nav .run[data-run=lm-run]")
    page.fill("#lm-prime", 'he said "')
    page.fill("#lm-length", "60")
    page.fill("#lm-unit", "9")
    page.click("#lm-generate")
    page.wait_for_selector("#lm-output[data-done=true]", timeout=15_000)
    characters = page.locator("#lm-output .char")
    assert characters.count() == 60
    backgrounds = characters.evaluate_all(
        "spans => spans.map(s => getComputedStyle(s).backgroundColor)"
    )
    assert all(re.match(r"rgba\(\d+, \d+, \d+, [\d.]+\)", b) for b in backgrounds), backgrounds
    assert len(set(backgrounds)) > 5  # coloured by activation, not one colour
    # the strongest activation gets the most opaque colour
    values = [float(v) for v in characters.evaluate_all("s => s.map(x => x.dataset.activation)")]
    alphas = [float(b.rstrip(")").split(",")[-1]) for b in backgrounds]
    assert alphas[max(range(60), key=lambda i: abs(values[i]))] == pytest.approx(0.85)
    # another unit recolours the text with that unit's activations over prime + text
    text = "".join(characters.all_inner_texts())
    page.fill("#lm-unit", "2")
    page.dispatch_event("#lm-unit", "change")
    page.wait_for_function(
        "v => document.querySelector('#lm-output .char').dataset.activation !== v",
        arg=characters.first.get_attribute("data-activation"),
    )
    recoloured = [
        float(v) for v in characters.evaluate_all("s => s.map(x => x.dataset.activation)")
    ]
    expected = lm_units.activations(loaded_lm, 'he said "' + text, [2])[1][-60:, 0]
    assert recoloured == pytest.approx(expected.tolist(), abs=1e-5)
    page.click("button.unit-search[data-signal=quotes]")
    page.wait_for_selector("#lm-units li")
    assert "with quotes" in page.locator("#lm-units li").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "lm.png"), full_page=True)


def test_a_translation_shows_its_attention_map(page):
    page.click("nav .run[data-run=translate-run]")
    # the run's example sentence arrives asynchronously: let it land before typing over it
    page.wait_for_load_state("networkidle")
    page.fill("#translate-text", "abc")
    page.click("#translate-go")
    page.wait_for_selector("#attention svg rect.cell", timeout=15_000)
    cells = page.locator("#attention svg rect.cell")
    source = 4  # a, b, c and the end marker
    assert cells.count() % source == 0 and cells.count() >= source
    values = [float(v) for v in cells.evaluate_all("c => c.map(x => x.dataset.value)")]
    rows = [sum(values[i : i + source]) for i in range(0, len(values), source)]
    assert rows == pytest.approx([1.0] * len(rows), abs=1e-4)  # one attention row per output
    page.screenshot(path=str(SCREENSHOTS / "translate.png"), full_page=True)


def test_a_forecast_and_anomaly_scores_are_drawn(page):
    page.click("nav .run[data-run=forecast-run]")
    page.wait_for_function("document.querySelector('#forecast-csv').value.length > 0")
    page.click("#forecast-go")
    page.wait_for_selector("#forecast-chart svg path.series[data-name='value forecast']")
    assert page.locator("#forecast-chart svg path.band").count() == 1  # the interval
    page.click("nav .run[data-run=detect-run]")
    page.click("#detect-go")
    page.wait_for_selector("#detect-chart svg path.series[data-name='anomaly score']")
    page.screenshot(path=str(SCREENSHOTS / "detect.png"), full_page=True)
    page.click("nav .run[data-run=forecast-run]")
    page.click("#forecast-go")
    page.wait_for_selector("#forecast-chart svg path.band")
    page.screenshot(path=str(SCREENSHOTS / "forecast.png"), full_page=True)


def test_a_data_file_is_classified_row_by_row(page, request):
    from rnnkit.tasks import classify

    run = request.getfixturevalue("served_runs")["classify"]
    reviews = run.parent / "reviews.csv"
    page.click("nav .run[data-run=classify-run]")
    page.set_input_files("#classify-file", str(reviews))
    page.click("#classify-file-go")
    page.wait_for_selector("#classify-table tr >> nth=1", timeout=15_000)
    _, expected = classify.predict_data(run, reviews)
    shown = page.locator("#classify-table tr").all_inner_texts()
    assert shown[0].split() == ["row", "label", "probability"]
    assert len(shown) == len(expected) + 1
    for line, (name, prediction) in zip(shown[1:], expected, strict=True):
        row, label, probability = line.split()
        assert (row, label) == (name, prediction.label)
        assert float(probability) == pytest.approx(prediction.probabilities[label], abs=5e-4)
    assert page.inner_text("#classify-output .translation") == expected[0][1].label


def test_a_caption_shows_where_each_word_looked_over_the_image(page, request):
    from rnnkit.tasks import caption

    run = request.getfixturevalue("served_runs")["caption"]
    image = run.parent / "scenes" / "images" / "train_00002.png"
    page.click("nav .run[data-run=caption-run]")
    page.set_input_files("#caption-file", str(image))
    page.click("#caption-go")
    page.wait_for_selector("#caption-attention svg.word-map", timeout=15_000)
    expected = caption.attention_of(run, image, beam=1)  # the page's beam
    assert page.inner_text("#caption-output") == (expected.caption or "(empty caption)")
    maps = page.locator("#caption-attention svg.word-map")
    assert maps.count() == len(expected.words)
    assert maps.locator("text.word").all_text_contents() == expected.words
    assert maps.first.locator("image").get_attribute("href").startswith("blob:")
    values = maps.locator("rect.cell").evaluate_all("c => c.map(x => Number(x.dataset.value))")
    assert values == pytest.approx(expected.weights.reshape(-1).tolist(), abs=1e-5)
    page.screenshot(path=str(SCREENSHOTS / "caption.png"), full_page=True)


def test_generated_music_is_drawn_as_a_piano_roll_with_its_midi_file(page, request, tmp_path):
    import base64

    import numpy as np

    from rnnkit.tasks import music

    page.click("nav .run[data-run=music-run]")
    page.fill("#music-steps", "24")
    page.fill("#music-seed", "2")
    page.click("#music-go")
    page.wait_for_selector("#music-roll svg.piano-roll", timeout=15_000)
    expected = music.generate(request.getfixturevalue("served_runs")["music"],
                              tmp_path / "piece.mid", 24, 1.0, 2)  # fmt: skip
    # the drawn notes, back to a roll: each bar is a pitch sounding over a run of frames
    notes = page.locator("#music-roll rect.note").evaluate_all(
        "r => r.map(x => [x.dataset.pitch, x.dataset.start, x.dataset.frames].map(Number))"
    )
    drawn = np.zeros_like(expected.roll)
    for pitch, start, frames in notes:
        drawn[start : start + frames, pitch - 21] = 1
    np.testing.assert_array_equal(drawn, expected.roll)
    link = page.locator("#music-download")
    assert link.is_visible()
    href = link.get_attribute("href")
    assert href.startswith("data:audio/midi;base64,")
    assert base64.b64decode(href.split(",", 1)[1]) == expected.midi.read_bytes()
    page.screenshot(path=str(SCREENSHOTS / "music.png"), full_page=True)


def test_a_video_clip_is_drawn_as_input_predicted_and_true_frames(page, request, tmp_path):
    import numpy as np

    from rnnkit.tasks import video

    run = request.getfixturevalue("served_runs")["video"]
    clips = run.parent / "clips.npz"
    page.click("nav .run[data-run=video-run]")
    page.fill("#video-index", "1")
    page.click("#video-go")
    page.wait_for_selector("#video-output canvas.frame[data-row=truth]", timeout=15_000)
    rows = {
        row: page.locator(f"#video-output canvas.frame[data-row={row}]").count()
        for row in ("input", "predicted", "truth")
    }
    assert rows == {"input": 4, "predicted": 2, "truth": 2}  # --input-frames 4, --output-frames 2
    # each canvas holds its frame's pixels: the clip's own, and rnnkit predict's
    read = """c => Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data)
                   .filter((_, i) => i % 4 === 0)"""
    with np.load(clips) as saved:
        frames = saved["frames"]
    video.predict_clips(run, clips, tmp_path / "future.npz")
    with np.load(tmp_path / "future.npz") as written:
        predicted = written["frames"]
    for row, index, expected in [("input", 0, frames[1, 0]), ("truth", 1, frames[1, 5]),
                                 ("predicted", 1, predicted[1, 1])]:  # fmt: skip
        canvas = page.locator(f"#video-output canvas.frame[data-row={row}][data-index='{index}']")
        assert canvas.evaluate(read) == expected.reshape(-1).tolist(), row
    page.screenshot(path=str(SCREENSHOTS / "video.png"), full_page=True)
    # a clips file of one's own, uploaded
    page.set_input_files("#video-file", str(clips))
    page.fill("#video-index", "2")
    page.click("#video-go")
    page.wait_for_function("document.querySelector('#video-caption').textContent.includes('npz')")
    assert page.inner_text("#video-caption") == "clip 2 of 8 in clips.npz"
    first = page.locator("#video-output canvas.frame[data-row=input][data-index='0']")
    assert first.evaluate(read) == frames[2, 0].reshape(-1).tolist()


def test_the_docs_page_lists_the_endpoints_without_fetching_anything(page, request):
    url, _ = request.getfixturevalue("live_server")
    page.goto(f"{url}/docs")
    page.wait_for_selector("section.endpoint")
    paths = page.locator("section.endpoint .path").all_inner_texts()
    assert "/v1/{run}/generate" in paths and "/v1/{run}/translate" in paths
    generate = page.locator("section.endpoint", has_text="/v1/{run}/generate").first
    assert "temperature: number = 1" in generate.locator("pre").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "docs.png"), full_page=True)
