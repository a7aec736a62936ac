// Plain SVG charts for the rnnkit UI: line charts (with an interval band and point markers)
// and a heat map. No library: each function returns an <svg> element.
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

function formatNumber(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 0.01 || magnitude >= 1e5)) return value.toExponential(2);
  return Number(value.toPrecision(4)).toString();
}
