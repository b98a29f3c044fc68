// A small line chart on a <canvas>: one line per series, an x axis of time, a y axis from 0.
"use strict";
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];

// series: [{name, points: [[t, y], ...]}]
function drawLineChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, L = 50, R = 150, T = 10, B = 30;
  ctx.clearRect(0, 0, W, H);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, W, H);
  const all = series.flatMap(s => s.points);
  if (all.length === 0) {
    ctx.fillStyle = "#666";
    ctx.fillText("waiting for samples", L + 10, T + 20);
    return;
  }
  const t0 = Math.min(...all.map(p => p[0])), t1 = Math.max(...all.map(p => p[0]));
  const ymax = Math.max(1, ...all.map(p => p[1])) * 1.1;
  const x = t => L + (t1 === t0 ? 0 : (t - t0) / (t1 - t0)) * (W - L - R);
  const y = v => H - B - (v / ymax) * (H - T - B);
  ctx.strokeStyle = "#999";
  ctx.fillStyle = "#444";
  ctx.font = "11px sans-serif";
  ctx.beginPath();
  ctx.moveTo(L, T);
  ctx.lineTo(L, H - B);
  ctx.lineTo(W - R, H - B);
  ctx.stroke();
  for (let i = 0; i <= 4; i++) {  // y grid and labels
    const v = (ymax * i) / 4;
    ctx.fillText(v.toFixed(v < 10 ? 1 : 0), 5, y(v) + 4);
    ctx.strokeStyle = "#eee";
    ctx.beginPath();
    ctx.moveTo(L + 1, y(v));
    ctx.lineTo(W - R, y(v));
    ctx.stroke();
  }
  ctx.fillText(new Date(t0 * 1000).toLocaleTimeString(), L, H - 10);
  ctx.fillText(new Date(t1 * 1000).toLocaleTimeString(), W - R - 60, H - 10);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    ctx.strokeStyle = c;
    ctx.lineWidth = 2;
    ctx.beginPath();
    s.points.forEach((p, j) => (j ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
    ctx.stroke();
    ctx.lineWidth = 1;
    ctx.fillStyle = c;
    ctx.fillRect(W - R + 10, T + 14 * i, 10, 10);
    ctx.fillStyle = "#222";
    ctx.fillText(s.name, W - R + 25, T + 14 * i + 9);
  });
}
