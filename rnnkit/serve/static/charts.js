// Plain SVG charts for the rnnkit UI: line charts (with an interval band and point markers),
// a heat map, attention over an image and a piano roll. No library: each function returns an <svg> element.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const PALETTE = ["#2f5fd0", "#d64541", "#2a9d6f", "#b7791f", "#7b4fb8", "#4a5568"];

function svgElement(name, attributes, text) {
  const element = document.createElementNS(SVG_NS, name);
  for (const [key, value] of Object.entries(attributes || {})) element.setAttribute(key, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function finiteValues(arrays) {
  return arrays.flat().filter((v) => v !== null && Number.isFinite(v));
}

function scale(domain, range) {
  const [d0, d1] = domain[0] === domain[1] ? [domain[0] - 1, domain[1] + 1] : domain;
  return (v) => range[0] + ((v - d0) / (d1 - d0)) * (range[1] - range[0]);
}

function pathOf(xs, ys, sx, sy) {
  let d = "";
  let pen = "M";
  xs.forEach((x, i) => {
    const y = ys[i];
    if (y === null || !Number.isFinite(y)) { pen = "M"; return; }
    d += `${pen}${sx(x).toFixed(1)},${sy(y).toFixed(1)} `;
    pen = "L";
  });
  return d;
}

// options: {series: [{name, x, y, color?, dash?}], band?: {x, lo, hi, color?},
//           markers?: {x, y, color?}, width?, height?, yLabel?, xLabel?}
function lineChart(options) {
  const width = options.width || 640;
  const height = options.height || 240;
  const pad = { left: 48, right: 12, top: 22, bottom: 28 };
  const series = options.series.filter((s) => finiteValues([s.y]).length > 0);
  const xs = finiteValues([...series.map((s) => s.x), options.band ? options.band.x : []]);
  const ys = finiteValues([
    ...series.map((s) => s.y),
    options.band ? options.band.lo : [], options.band ? options.band.hi : [],
  ]);
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width, height,
                                  role: "img", class: "line-chart" });
  if (xs.length === 0 || ys.length === 0) {
    svg.appendChild(svgElement("text", { x: 10, y: 20 }, "nothing to draw"));
    return svg;
  }
  const sx = scale([Math.min(...xs), Math.max(...xs)], [pad.left, width - pad.right]);
  const sy = scale([Math.min(...ys), Math.max(...ys)], [height - pad.bottom, pad.top]);
  const axes = svgElement("g", { stroke: "#c8ccd4" });
  axes.appendChild(svgElement("line", { x1: pad.left, x2: width - pad.right,
                                        y1: height - pad.bottom, y2: height - pad.bottom }));
  axes.appendChild(svgElement("line", { x1: pad.left, x2: pad.left, y1: pad.top,
                                        y2: height - pad.bottom }));
  svg.appendChild(axes);
  const [yLow, yHigh] = [Math.min(...ys), Math.max(...ys)];
  for (const v of [yLow, (yLow + yHigh) / 2, yHigh]) {
    svg.appendChild(svgElement("text", { x: 4, y: sy(v) + 4 }, formatNumber(v)));
  }
  const [xLow, xHigh] = [Math.min(...xs), Math.max(...xs)];
  svg.appendChild(svgElement("text", { x: pad.left, y: height - 8 },
                             options.xLabelOf ? options.xLabelOf(xLow) : formatNumber(xLow)));
  svg.appendChild(svgElement("text", { x: width - pad.right, y: height - 8, "text-anchor": "end" },
                             options.xLabelOf ? options.xLabelOf(xHigh) : formatNumber(xHigh)));
  if (options.band) {
    const b = options.band;
    const top = pathOf(b.x, b.hi, sx, sy);
    const back = b.x.map((x, i) => `L${sx(x).toFixed(1)},${sy(b.lo[i]).toFixed(1)}`).reverse();
    svg.appendChild(svgElement("path", { d: `${top} ${back.join(" ")} Z`, class: "band",
                                         fill: b.color || "rgba(47,95,208,0.18)", stroke: "none" }));
  }
  series.forEach((s, i) => {
    svg.appendChild(svgElement("path", {
      d: pathOf(s.x, s.y, sx, sy), fill: "none", stroke: s.color || PALETTE[i % PALETTE.length],
      "stroke-width": 1.8, "stroke-dasharray": s.dash || "", class: "series",
      "data-name": s.name,
    }));
    if (s.x.length <= 20) {  // few points (a short run's validations): show each one
      s.x.forEach((x, k) => {
        if (s.y[k] === null || !Number.isFinite(s.y[k])) return;
        svg.appendChild(svgElement("circle", { cx: sx(x), cy: sy(s.y[k]), r: 2.5,
                                               fill: s.color || PALETTE[i % PALETTE.length] }));
      });
    }
  });
  if (options.markers) {
    const m = options.markers;
    m.x.forEach((x, i) => {
      if (m.y[i] === null) return;
      svg.appendChild(svgElement("circle", { cx: sx(x), cy: sy(m.y[i]), r: 4, class: "marker",
                                             fill: m.color || "#d64541" }));
    });
  }
  let legendX = pad.left + 4;
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    svg.appendChild(svgElement("rect", { x: legendX, y: 6, width: 10, height: 10, fill: color }));
    svg.appendChild(svgElement("text", { x: legendX + 14, y: 15 }, s.name));
    legendX += 24 + 7 * s.name.length;
  });
  return svg;
}

// A matrix (rows x columns, values in [0, 1], such as attention weights) as cells from white
// (0) to full blue (1), with row and column labels.
function heatMap(matrix, rowLabels, columnLabels, cellSize) {
  const cell = cellSize || 26;
  const left = 60;
  const top = 50;
  const width = left + cell * columnLabels.length + 10;
  const height = top + cell * rowLabels.length + 10;
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width, height,
                                  role: "img", class: "heat-map" });
  matrix.forEach((row, r) => {
    row.forEach((value, c) => {
      const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, value || 0))));
      const rect = svgElement("rect", {
        x: left + c * cell, y: top + r * cell, width: cell - 1, height: cell - 1,
        fill: `rgb(${shade},${shade},255)`, class: "cell", "data-value": value,
      });
      rect.appendChild(svgElement("title", {}, `${rowLabels[r]} \u2190 ${columnLabels[c]}: ` +
                                              formatNumber(value)));
      svg.appendChild(rect);
    });
  });
  columnLabels.forEach((label, c) => {
    const x = left + c * cell + cell / 2;
    svg.appendChild(svgElement("text", { x, y: top - 6, "text-anchor": "start",
                                         transform: `rotate(-45 ${x} ${top - 6})` }, label));
  });
  rowLabels.forEach((label, r) => {
    svg.appendChild(svgElement("text", { x: left - 6, y: top + r * cell + cell / 2 + 4,
                                         "text-anchor": "end" }, label));
  });
  return svg;
}

// One word's attention over an image: the image (an object URL), scaled and centre-cropped to a
// square as the model reads it, under a grid of rows x columns cells that darken the parts the
// word paid little attention to; the word below.
function imageAttention(imageUrl, grid, word, size) {
  const side = size || 120;
  const rows = grid.length;
  const columns = grid[0].length;
  const peak = Math.max(1e-9, ...grid.flat());
  const svg = svgElement("svg", { viewBox: `0 0 ${side} ${side + 18}`, width: side,
                                  height: side + 18, role: "img", class: "word-map" });
  svg.appendChild(svgElement("image", { href: imageUrl, x: 0, y: 0, width: side, height: side,
                                        preserveAspectRatio: "xMidYMid slice" }));
  grid.forEach((row, r) => {
    row.forEach((value, c) => {
      const rect = svgElement("rect", {
        x: (c * side) / columns, y: (r * side) / rows, width: side / columns,
        height: side / rows, fill: "#000", "fill-opacity": (0.8 * (1 - value / peak)).toFixed(3),
        class: "cell", "data-value": value,
      });
      rect.appendChild(svgElement("title", {}, `${word}: ${formatNumber(value)}`));
      svg.appendChild(rect);
    });
  });
  svg.appendChild(svgElement("text", { x: side / 2, y: side + 14, "text-anchor": "middle",
                                       class: "word" }, word));
  return svg;
}

// A piano roll: one bar per run of frames a pitch sounds in (pitches: for each frame, the MIDI
// pitches sounding), time across, pitch up; the first primeFrames frames (a given beginning)
// in grey, then a line where generation starts.
function pianoRoll(pitches, primeFrames, options) {
  const width = (options && options.width) || 720;
  const pad = { left: 36, right: 8, top: 8, bottom: 22 };
  const all = pitches.flat();
  const low = all.length ? Math.min(...all) - 2 : 58;
  const high = all.length ? Math.max(...all) + 2 : 70;
  const row = Math.max(3, Math.min(10, Math.floor(300 / (high - low + 1))));
  const height = pad.top + row * (high - low + 1) + pad.bottom;
  const frame = (width - pad.left - pad.right) / Math.max(1, pitches.length);
  const svg = svgElement("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
                                  class: "piano-roll" });
  for (let pitch = low; pitch <= high; pitch++) {
    const y = pad.top + (high - pitch) * row;
    if (pitch % 12 === 0) {  // each C, labelled by its octave (MIDI 60 is C4)
      svg.appendChild(svgElement("line", { x1: pad.left, x2: width - pad.right, y1: y + row,
                                           y2: y + row, stroke: "#e5e7eb" }));
      svg.appendChild(svgElement("text", { x: pad.left - 4, y: y + row, "text-anchor": "end" },
                                 `C${pitch / 12 - 1}`));
    }
  }
  const sounding = pitches.map((p) => new Set(p));
  sounding.forEach((keys, t) => {
    for (const pitch of keys) {
      if (t > 0 && sounding[t - 1].has(pitch) && (t !== primeFrames)) continue;  // drawn already
      let end = t + 1;
      while (end < sounding.length && sounding[end].has(pitch) && end !== primeFrames) end++;
      svg.appendChild(svgElement("rect", {
        x: (pad.left + t * frame).toFixed(1), y: pad.top + (high - pitch) * row,
        width: Math.max(1, (end - t) * frame - 1).toFixed(1), height: row - 1, rx: 1,
        fill: t < primeFrames ? "#9ca3af" : PALETTE[0], class: "note",
        "data-pitch": pitch, "data-start": t, "data-frames": end - t,
      }));
    }
  });
  if (primeFrames > 0) {
    const x = pad.left + primeFrames * frame;
    svg.appendChild(svgElement("line", { x1: x, x2: x, y1: pad.top, y2: height - pad.bottom,
                                         stroke: "#d64541", "stroke-dasharray": "4 3" }));
  }
  svg.appendChild(svgElement("text", { x: pad.left, y: height - 6 }, "frame 1"));
  svg.appendChild(svgElement("text", { x: width - pad.right, y: height - 6,
                                       "text-anchor": "end" }, `frame ${pitches.length}`));
  return svg;
}

function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 0.01 || magnitude >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}
