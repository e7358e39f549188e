/* Campaign KPI Streams, live view: applies what the server pushes (Server-Sent Events).
   No polling: the page changes only when the server sends an event. A snapshot replaces
   every section (first event of a stream, and after a reconnection); an update replaces
   the sections whose HTML changed and adds the chart points of the windows written. */
(function () {
  'use strict';
  var body = document.body;
  var streamUrl = body.getAttribute('data-stream');
  var status = document.getElementById('live-status');
  var charts = {};
  var updates = 0;

  function setStatus(text, kind) {
    if (!status) { return; }
    status.textContent = text;
    status.className = 'live live-' + kind;
  }

  function applySections(sections) {
    Object.keys(sections || {}).forEach(function (id) {
      var el = document.getElementById(id);
      if (el) { el.innerHTML = sections[id]; }  // server-rendered, escaped by Jinja2
    });
  }

  function chartData(chart) {
    var starts = Array.from(chart.rows.keys()).sort(function (a, b) { return a - b; });
    var xs = [], first = [], second = [];
    starts.forEach(function (start) {
      var row = chart.rows.get(start);
      xs.push(start); first.push(row[1]); second.push(row[2]);
    });
    return [xs, first, second];
  }

  function toggleEmpty(window_, count) {
    var empty = document.getElementById('chart-empty-' + window_);
    if (empty) { empty.hidden = count > 0; }
  }

  function xRange(chart) {
    var starts = Array.from(chart.rows.keys());
    var end = starts.length ? Math.max.apply(null, starts) + chart.size : Date.now() / 1e3;
    return [end - chart.span, end];
  }

  function width(el) { return Math.max(el.clientWidth || 0, 280); }

  function buildCharts(spec) {
    if (!window.uPlot) { return; }
    Object.keys(spec.windows).forEach(function (window_) {
      var def = spec.windows[window_];
      var el = document.getElementById('chart-' + window_);
      if (!el) { return; }
      if (charts[window_]) { charts[window_].plot.destroy(); }
      var rows = new Map();
      def.points.forEach(function (p) { rows.set(p[0], p); });
      var chart = { rows: rows, size: def.size_s, span: def.span_s, el: el, plot: null };
      var opts = {
        width: width(el), height: 170,
        tzDate: function (ts) { return window.uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); },
        // The whole span up to the latest window, however few windows hold events yet.
        scales: { x: { time: true, range: function () { return xRange(chart); } }, y: {}, y2: {} },
        series: [
          {},
          { label: spec.labels[0], stroke: '#1f6feb', width: 2, scale: 'y' },
          { label: spec.labels[1], stroke: '#c2410c', width: 2, scale: 'y2' }
        ],
        axes: [{}, { scale: 'y' }, { scale: 'y2', side: 1, grid: { show: false } }],
        legend: { live: false }
      };
      chart.plot = new window.uPlot(opts, chartData(chart), el);
      charts[window_] = chart;
      toggleEmpty(window_, rows.size);
    });
  }

  function addPoints(window_, points) {
    var chart = charts[window_];
    if (!chart) { return; }
    points.forEach(function (p) { chart.rows.set(p[0], p); });
    // The same span as the server's: the latest window and those before it.
    var latest = Math.max.apply(null, Array.from(chart.rows.keys()));
    var first = latest + chart.size - chart.span;
    Array.from(chart.rows.keys()).forEach(function (start) {
      if (start < first) { chart.rows.delete(start); }
    });
    chart.plot.setData(chartData(chart));
    toggleEmpty(window_, chart.rows.size);
  }

  function applied() {
    updates += 1;
    body.setAttribute('data-updates', String(updates));
  }

  var data = document.getElementById('chart-data');
  if (data) { buildCharts(JSON.parse(data.textContent)); }
  window.addEventListener('resize', function () {
    Object.keys(charts).forEach(function (w) {
      charts[w].plot.setSize({ width: width(charts[w].el), height: 170 });
    });
  });

  if (!streamUrl || !window.EventSource) { setStatus('not live', 'off'); return; }
  var source = new EventSource(streamUrl);
  source.addEventListener('open', function () { setStatus('live', 'on'); });
  source.addEventListener('error', function () {
    setStatus(source.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting…', 'off');
  });
  source.addEventListener('snapshot', function (event) {
    var message = JSON.parse(event.data);
    applySections(message.sections);
    if (message.charts) { buildCharts(message.charts); }
    setStatus('live', 'on');
    applied();
  });
  source.addEventListener('update', function (event) {
    var message = JSON.parse(event.data);
    applySections(message.sections);
    var points = message.points || {};
    Object.keys(points).forEach(function (w) { addPoints(w, points[w]); });
    applied();
  });
}());
