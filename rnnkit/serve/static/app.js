// The rnnkit web UI: a list of the served runs, their training curves, and one panel per task
// that calls the run's JSON endpoint (charts from charts.js).
"use strict";

const state = { runs: [], run: null, pieces: [] };
const $ = (id) => document.getElementById(id);

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const answer = await response.json();
  if (!response.ok) throw new Error(detailOf(answer));
  return answer;
}

function detailOf(answer) {
  if (typeof answer.detail === "string") return answer.detail;
  if (Array.isArray(answer.detail)) {
    return answer.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  }
  return JSON.stringify(answer);
}

function showError(error) {
  $("error").textContent = error ? String(error.message || error) : "";
  $("error").hidden = !error;
}

async function busy(button, work) {
  button.disabled = true;
  showError(null);
  try { await work(); } catch (error) { showError(error); } finally { button.disabled = false; }
}

// ------------------------------------------------------------------------------ runs

function sizeOf(description) {
  const model = description.model || {};
  const parameters = model.parameters ?? description.parameters;
  const parts = [];
  if (model.cell) parts.push(model.cell);
  if (model.layers && model.hidden) parts.push(`${model.layers}\u00d7${model.hidden}`);
  if (parameters) parts.push(`${Number(parameters).toLocaleString()} params`);
  return parts.join(", ");
}

function headlineMetrics(description) {
  const results = description.metrics || description.results || {};
  const flat = [];
  for (const [key, value] of Object.entries(results)) {
    if (typeof value === "number") flat.push(`${key} ${formatNumber(value)}`);
    if (flat.length === 3) break;
  }
  return flat.join(", ");
}

async function loadRuns() {
  state.runs = await api("/v1/runs");
  const nav = $("runs");
  nav.textContent = "";
  for (const run of state.runs) {
    const button = document.createElement("button");
    button.className = "run";
    button.dataset.run = run.name;
    button.innerHTML = `<span class="name"></span><span class="meta task"></span>
                        <span class="meta size"></span><span class="meta metrics"></span>`;
    button.querySelector(".name").textContent = run.name;
    button.querySelector(".task").textContent = `task: ${run.task}`;
    button.querySelector(".size").textContent = sizeOf(run.description);
    button.querySelector(".metrics").textContent = headlineMetrics(run.description);
    button.addEventListener("click", () => selectRun(run.name));
    nav.appendChild(button);
  }
  const wanted = new URLSearchParams(location.search).get("run");
  const first = state.runs.find((r) => r.name === wanted) || state.runs[0];
  if (first) await selectRun(first.name);
}

async function selectRun(name) {
  state.run = state.runs.find((r) => r.name === name);
  for (const button of document.querySelectorAll("nav .run")) {
    button.classList.toggle("selected", button.dataset.run === name);
  }
  showError(null);
  $("overview").hidden = false;
  $("run-title").textContent = `${name} (${state.run.task})`;
  const facts = $("run-facts");
  facts.textContent = "";
  const d = state.run.description;
  const rows = [["directory", state.run.path], ["model", sizeOf(d)],
                ["metrics", headlineMetrics(d)]];
  for (const [key, value] of rows) {
    if (!value) continue;
    facts.insertAdjacentHTML("beforeend", "<dt></dt><dd></dd>");
    facts.lastElementChild.previousElementSibling.textContent = key;
    facts.lastElementChild.textContent = value;
  }
  for (const panel of document.querySelectorAll(".task-panel")) panel.hidden = true;
  if (state.run.units) $("lm-unit").max = state.run.units - 1;
  const keywords = (d.model || {}).input_kind === "keywords";
  $("caption-image").hidden = keywords;
  $("caption-keywords").hidden = !keywords;
  const texts = (d.data || {}).kind === "text";
  $("classify-text-input").hidden = !texts;
  $("classify-go").hidden = !texts;
  const panel = $(`panel-${state.run.task}`);
  if (panel) panel.hidden = false;
  await drawCurves(name);
  await fillExample(name);
}

async function drawCurves(name) {
  const { columns } = await api(`/v1/${name}/metrics`);
  const box = $("curves");
  box.textContent = "";
  if (!columns.step) { box.textContent = "no metrics.csv"; return; }
  const drawn = Object.keys(columns).filter((c) => columns[c].some((v) => v !== null));
  const losses = drawn.filter((c) => c.endsWith("loss"));
  const others = drawn.filter((c) => c.startsWith("val_") && !c.endsWith("loss"));
  if (losses.length) {
    box.appendChild(lineChart({ series: losses.map((c) => ({ name: c, x: columns.step,
                                                             y: columns[c] })), height: 200 }));
  }
  if (others.length) {
    box.appendChild(lineChart({ series: others.slice(0, 4).map((c) => ({
      name: c, x: columns.step, y: columns[c] })), height: 200 }));
  }
}

async function fillExample(name) {
  const example = await api(`/v1/${name}/example`);
  if (example.prime !== undefined && !$("lm-prime").value) $("lm-prime").value = example.prime;
  if (example.csv) {
    $("forecast-csv").value = example.csv;
    $("detect-csv").value = example.csv;
  }
  if (example.text && !$("translate-text").value) $("translate-text").value = example.text;
}

// ------------------------------------------------------------------------------ lm

function colourOf(value, peak) {
  const share = Math.max(-1, Math.min(1, value / (peak || 1)));
  const rgb = share >= 0 ? "var(--pos)" : "var(--neg)";
  return `rgba(${rgb}, ${(0.85 * Math.abs(share)).toFixed(3)})`;
}

function renderPieces() {
  const peak = Math.max(1e-6, ...state.pieces.map((p) => Math.abs(p.value)));
  for (const piece of state.pieces) {
    piece.span.style.background = colourOf(piece.value, peak);
    piece.span.title = `unit ${$("lm-unit").value}: ${formatNumber(piece.value)}`;
    piece.span.dataset.activation = piece.value;
  }
}

function addPiece(output, text, value) {
  for (const character of text) {
    const span = document.createElement("span");
    span.className = "char";
    span.textContent = character;
    output.appendChild(span);
    state.pieces.push({ span, value });
  }
}

function generateSettings() {
  return {
    prime: $("lm-prime").value,
    length: Number($("lm-length").value),
    temperature: Number($("lm-temperature").value),
    top_k: Number($("lm-top-k").value),
    top_p: Number($("lm-top-p").value),
    units: [Number($("lm-unit").value)],
  };
}

async function generate() {
  const output = $("lm-output");
  output.textContent = "";
  state.pieces = [];
  const prime = document.createElement("span");
  prime.className = "prime";
  prime.textContent = $("lm-prime").value;
  output.appendChild(prime);
  const response = await fetch(`/v1/${state.run.name}/generate/stream`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify(generateSettings()),
  });
  if (!response.ok) throw new Error(detailOf(await response.json()));
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split("\n").find((line) => line.startsWith("data: "));
      if (!data || event.startsWith("event: done")) continue;
      const piece = JSON.parse(data.slice(6));
      addPiece(output, piece.text, piece.activations[0]);
      renderPieces();
    }
  }
  output.dataset.done = "true";
}

async function recolour() {
  if (!state.pieces.length) return;
  const text = state.pieces.map((p) => p.span.textContent).join("");
  const prime = $("lm-prime").value;
  const answer = await api(`/v1/${state.run.name}/activations`, {
    text: prime + text, units: [Number($("lm-unit").value)],
  });
  const values = answer.activations.slice(answer.activations.length - state.pieces.length);
  if (answer.pieces.length === prime.length + state.pieces.length) {
    state.pieces.forEach((piece, i) => { piece.value = values[i][0]; });
  }
  renderPieces();
}

async function searchUnits(signal) {
  const answer = await api(`/v1/${state.run.name}/units`, { signal, count: 8 });
  const list = $("lm-units");
  list.textContent = "";
  for (const unit of answer.units) {
    const item = document.createElement("li");
    item.textContent = `unit ${unit.unit} (layer ${unit.layer}, #${unit.index}): ` +
      `r = ${unit.correlation.toFixed(3)} with ${signal} on the ${answer.source}`;
    item.addEventListener("click", () => {
      $("lm-unit").value = unit.unit;
      busy($("lm-generate"), recolour);
    });
    list.appendChild(item);
  }
}

// ------------------------------------------------------------------------------ other tasks

async function classify() {
  const answer = await api(`/v1/${state.run.name}/classify`, { texts: [$("classify-text").value] });
  const prediction = answer.predictions[0];
  showProbabilities($("classify-output"), prediction.label, prediction.probabilities);
}

async function classifyFile() {
  const file = $("classify-file").files[0];
  if (!file) throw new Error("choose a data file first.");
  const suffix = (file.name.split(".").pop() || "csv").toLowerCase();
  const answer = await postFile(
    `/v1/${state.run.name}/classify-file?suffix=${encodeURIComponent(suffix)}`, file, file.type);
  const [first] = answer.predictions;
  showProbabilities($("classify-output"), first.label, first.probabilities);
  const table = $("classify-table");
  table.textContent = "";
  table.hidden = answer.predictions.length < 2;
  const header = table.insertRow();
  for (const name of [answer.id_column, "label", "probability"]) {
    header.insertCell().textContent = name;
  }
  for (const p of answer.predictions) {
    const row = table.insertRow();
    row.insertCell().textContent = p.id;
    row.insertCell().textContent = p.label;
    row.insertCell().textContent = p.probabilities[p.label].toFixed(3);
  }
}

function showProbabilities(box, label, probabilities) {
  box.textContent = "";
  const title = document.createElement("p");
  title.className = "translation";
  title.textContent = label;
  box.appendChild(title);
  for (const [name, p] of Object.entries(probabilities)) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.innerHTML = `<span class="label"></span><span class="fill"></span><span class="p"></span>`;
    bar.querySelector(".label").textContent = name;
    bar.querySelector(".fill").style.width = `${Math.round(200 * p)}px`;
    bar.querySelector(".p").textContent = p.toFixed(3);
    box.appendChild(bar);
  }
}

async function tag() {
  const answer = await api(`/v1/${state.run.name}/tag`, { texts: [$("tag-text").value] });
  const box = $("tag-output");
  box.textContent = "";
  for (const [token, label] of answer.tags[0]) {
    const item = document.createElement("span");
    item.className = "token";
    item.innerHTML = "<span></span><small></small>";
    item.firstChild.textContent = token;
    item.lastChild.textContent = label;
    box.appendChild(item);
  }
}

async function translate() {
  const answer = await api(`/v1/${state.run.name}/translate`, {
    texts: [$("translate-text").value], beam: Number($("translate-beam").value), attention: true,
  });
  $("translate-output").textContent = answer.translations[0] || "(empty translation)";
  const box = $("attention");
  box.textContent = "";
  const a = answer.attention;
  box.appendChild(heatMap(a.weights, a.target_tokens, a.source_tokens));
}

function steps(n, from) { return Array.from({ length: n }, (_, i) => from + i); }

async function forecast() {
  const body = { csv: $("forecast-csv").value };
  if ($("forecast-steps").value) body.steps = Number($("forecast-steps").value);
  const answer = await api(`/v1/${state.run.name}/forecast`, body);
  const box = $("forecast-chart");
  box.textContent = "";
  for (const target of answer.targets) {
    const whole = answer.history[target] || [];
    const mean = answer.forecast[target];
    // the recent history only, so that the forecast is not a sliver at the edge
    const history = whole.slice(-Math.max(48, 4 * mean.length));
    const first = whole.length - history.length + 1;
    const x0 = whole.length + 1;
    const quantiles = Object.keys(answer.forecast).filter((c) => c.startsWith(`${target}_q`));
    const band = quantiles.length >= 2 ? {
      x: steps(mean.length, x0), lo: answer.forecast[quantiles[0]],
      hi: answer.forecast[quantiles[quantiles.length - 1]],
    } : undefined;
    box.appendChild(lineChart({
      series: [{ name: `${target} history`, x: steps(history.length, first), y: history },
               { name: `${target} forecast`, x: steps(mean.length, x0), y: mean,
                 color: "#d64541" }],
      band,
    }));
  }
}

async function detect() {
  const answer = await api(`/v1/${state.run.name}/detect`, { csv: $("detect-csv").value });
  const box = $("detect-chart");
  box.textContent = "";
  const target = answer.targets[0];
  const values = answer.history[target];
  const x = steps(values.length, 1);
  const flagged = answer.flag.map((f, i) => (f ? values[i] : null));
  box.appendChild(lineChart({ series: [{ name: target, x, y: values }],
                              markers: { x, y: flagged }, height: 200 }));
  box.appendChild(lineChart({
    series: [{ name: "anomaly score", x, y: answer.score, color: "#b7791f" },
             { name: "threshold", x, y: x.map(() => answer.threshold), color: "#d64541",
               dash: "4 3" }],
    height: 160,
  }));
}

async function transcribe() {
  const file = $("speech-file").files[0];
  if (!file) throw new Error("choose an audio file first.");
  const suffix = (file.name.split(".").pop() || "wav").toLowerCase();
  const response = await fetch(`/v1/${state.run.name}/transcribe?suffix=${suffix}`, {
    method: "POST", headers: { "content-type": file.type || "application/octet-stream" },
    body: file,
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(detailOf(answer));
  $("speech-output").textContent = answer.text || "(nothing heard)";
}

async function postFile(path, body, type) {
  const response = await fetch(path, {
    method: "POST", headers: { "content-type": type || "application/octet-stream" }, body,
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(detailOf(answer));
  return answer;
}

async function caption() {
  const run = state.run;
  const model = run.description.model || {};
  const query = new URLSearchParams({ beam: $("caption-beam").value,
                                      attention: model.attention !== "none" });
  let answer;
  let imageUrl = null;
  if (model.input_kind === "keywords") {
    const keywords = $("caption-text").value;
    if (!keywords.trim()) throw new Error("type a few keywords first.");
    answer = await postFile(`/v1/${run.name}/caption?${query}`, keywords, "text/plain");
  } else {
    const file = $("caption-file").files[0];
    if (!file) throw new Error("choose an image file first.");
    query.set("suffix", (file.name.split(".").pop() || "png").toLowerCase());
    answer = await postFile(`/v1/${run.name}/caption?${query}`, file, file.type);
    imageUrl = URL.createObjectURL(file);
  }
  $("caption-output").textContent = answer.caption || "(empty caption)";
  const box = $("caption-attention");
  box.textContent = "";
  const a = answer.attention;
  if (!a) return;
  if (a.keywords) {
    box.appendChild(heatMap(a.weights, a.words, a.keywords));
  } else {
    a.words.forEach((word, i) => box.appendChild(imageAttention(imageUrl, a.weights[i], word)));
  }
}

async function fileAsBase64(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    text += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return btoa(text);
}

async function generateMusic() {
  const body = { steps: Number($("music-steps").value),
                 temperature: Number($("music-temperature").value) };
  if ($("music-seed").value) body.seed = Number($("music-seed").value);
  const prime = $("music-prime").files[0];
  if (prime) body.prime_midi = await fileAsBase64(prime);
  const answer = await api(`/v1/${state.run.name}/generate`, body);
  const box = $("music-roll");
  box.textContent = "";
  box.appendChild(pianoRoll(answer.pitches, answer.prime_frames));
  const link = $("music-download");
  link.href = `data:audio/midi;base64,${answer.midi}`;
  link.hidden = false;
}

// ------------------------------------------------------------------------------ video

// One frame, (H, W, C) nested lists of 0-255 with C = 1 (grey), 3 (RGB) or 4 (RGBA), on a canvas.
function frameCanvas(frame, row, index) {
  const height = frame.length;
  const width = frame[0].length;
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.className = "frame";
  canvas.dataset.row = row;
  canvas.dataset.index = index;
  const scale = Math.max(1, Math.floor(96 / Math.max(width, height)));
  canvas.style.width = `${width * scale}px`;
  canvas.style.height = `${height * scale}px`;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const pixel = frame[y][x];
      const at = 4 * (y * width + x);
      const rgb = pixel.length >= 3 ? pixel : [pixel[0], pixel[0], pixel[0]];
      image.data.set([rgb[0], rgb[1], rgb[2], pixel.length === 4 ? pixel[3] : 255], at);
    }
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function frameStrip(title, frames, row) {
  const strip = document.createElement("div");
  strip.className = "frame-strip";
  strip.dataset.row = row;
  const name = document.createElement("span");
  name.className = "strip-title";
  name.textContent = `${title} (${frames.length})`;
  strip.appendChild(name);
  frames.forEach((frame, i) => strip.appendChild(frameCanvas(frame, row, i)));
  return strip;
}

async function showClip() {
  const run = state.run;
  const index = Number($("video-index").value) || 0;
  const file = $("video-file").files[0];
  let answer;
  if (file) {
    const suffix = (file.name.split(".").pop() || "npz").toLowerCase();
    answer = await postFile(`/v1/${run.name}/clip?index=${index}&suffix=${suffix}`, file);
  } else {
    answer = await api(`/v1/${run.name}/clip?index=${index}`);
  }
  $("video-index").max = answer.clips - 1;
  $("video-caption").textContent =
    `clip ${answer.clip} of ${answer.clips} in ${file ? file.name : "the run's own clips"}`;
  const box = $("video-output");
  box.textContent = "";
  $("video-labels").textContent = "";
  if (answer.predicted) {
    box.appendChild(frameStrip("input", answer.context, "input"));
    box.appendChild(frameStrip("predicted", answer.predicted, "predicted"));
    if (answer.truth.length) box.appendChild(frameStrip("truth", answer.truth, "truth"));
  } else {
    box.appendChild(frameStrip("clip", answer.context, "input"));
    showProbabilities($("video-labels"), answer.label, answer.probabilities);
  }
}

// ------------------------------------------------------------------------------ wiring

function wire(id, work) { $(id).addEventListener("click", (e) => busy(e.currentTarget, work)); }

wire("lm-generate", generate);
wire("classify-go", classify);
wire("classify-file-go", classifyFile);
wire("tag-go", tag);
wire("translate-go", translate);
wire("forecast-go", forecast);
wire("detect-go", detect);
wire("speech-go", transcribe);
wire("caption-go", caption);
wire("music-go", generateMusic);
wire("video-go", showClip);
$("lm-unit").addEventListener("change", () => busy($("lm-generate"), recolour));
for (const button of document.querySelectorAll(".unit-search")) {
  button.addEventListener("click", () => busy(button, () => searchUnits(button.dataset.signal)));
}
loadRuns().catch(showError);
