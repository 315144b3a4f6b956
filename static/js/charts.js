// Category pages: draw each series read from its <script type="application/json"> block with uPlot.
// The page works without this file: every chart has its values as a table too.
(function () {
  "use strict";

  var DAY = 86400;
  var PALETTE = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#bf3989"];

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function width(container) {
    return Math.max(280, container.clientWidth || 600);
  }

  // Daily, weekly and monthly points get one tick per whole day or more, labelled with the date.
  function xAxis(data) {
    if (data.bucket === "hour") {
      return {};
    }
    var format = new Intl.DateTimeFormat(undefined, { timeZone: data.timezone, month: "short", day: "numeric" });
    return {
      incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY],
      values: function (plot, splits) {
        return splits.map(function (seconds) { return format.format(new Date(seconds * 1000)); });
      }
    };
  }

  // Times are shown in the user's own time zone, not the browser's.
  function options(container, data, series) {
    return {
      tzDate: function (seconds) { return uPlot.tzDate(new Date(seconds * 1000), data.timezone); },
      width: width(container),
      height: 240,
      series: [{}].concat(series),
      axes: [xAxis(data), { label: data.unit || "" }],
      cursor: { drag: { x: true, y: false } },
      legend: { live: true }
    };
  }

  // The x axis spans the whole range asked for (a month shows 30 days even with one point):
  // empty values at the range's start and end widen uPlot's automatic x range, and stay zoomable.
  function framed(data, xs, columns) {
    if (data.start !== undefined && (!xs.length || xs[0] > data.start)) {
      xs = [data.start].concat(xs);
      columns = columns.map(function (column) { return [null].concat(column); });
    }
    if (data.end !== undefined && (!xs.length || xs[xs.length - 1] < data.end)) {
      xs = xs.concat([data.end]);
      columns = columns.map(function (column) { return column.concat([null]); });
    }
    return [xs].concat(columns);
  }

  function drawSeries(container, data) {
    var xs = data.points.map(function (point) { return point.t; });
    var ys = data.points.map(function (point) { return point.v; });
    var series = [{ label: data.label, stroke: PALETTE[0], width: 2, points: { show: xs.length < 60 } }];
    return new uPlot(options(container, data, series), framed(data, xs, [ys]), container);
  }

  function drawComparison(container, data) {
    var times = {};
    data.sources.forEach(function (entry) {
      entry.points.forEach(function (point) { times[point.t] = true; });
    });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var columns = data.sources.map(function (entry) {
      var byTime = {};
      entry.points.forEach(function (point) { byTime[point.t] = point.v; });
      return xs.map(function (t) { return t in byTime ? byTime[t] : null; });
    });
    var series = data.sources.map(function (entry, index) {
      return { label: entry.name, stroke: PALETTE[index % PALETTE.length], width: 2, spanGaps: false, points: { show: xs.length < 60 } };
    });
    return new uPlot(options(container, data, series), framed(data, xs, columns), container);
  }

  function resizeAll(plots) {
    window.addEventListener("resize", function () {
      plots.forEach(function (entry) {
        entry.plot.setSize({ width: width(entry.container), height: 240 });
      });
    });
  }

  if (typeof uPlot === "undefined") {
    return;
  }
  var plots = [];
  document.querySelectorAll("[data-chart]").forEach(function (container) {
    var data = readJson(container.dataset.chart);
    if (data && data.points.length) {
      plots.push({ container: container, plot: drawSeries(container, data) });
      container.dataset.drawn = String(data.points.length);
    }
  });
  document.querySelectorAll("[data-compare]").forEach(function (container) {
    var data = readJson(container.dataset.compare);
    if (data && data.sources.length) {
      plots.push({ container: container, plot: drawComparison(container, data) });
      container.dataset.drawn = String(data.sources.length);
    }
  });
  resizeAll(plots);
})();
