// CSV mapping screens: upload and preview, map columns to metrics, validate, import.
// Talks to the imports API (/api/v1/imports/csv/...) with the session and its CSRF token.
(function () {
  "use strict";

  var root = document.getElementById("csv-import");
  if (!root) {
    return;
  }
  var csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  var state = { upload: null, table: null, metrics: [] };

  function element(id) {
    return document.getElementById(id);
  }

  function showError(message) {
    var box = element("csv-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function errorMessage(body) {
    var error = body && body.error;
    if (!error) {
      return "The request failed.";
    }
    var details = error.details ? " " + JSON.stringify(error.details) : "";
    return error.message + details;
  }

  function send(url, options) {
    options.headers = Object.assign({ "X-CSRFToken": csrf, Accept: "application/json" }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(errorMessage(body));
        }
        return body;
      });
    });
  }

  function postJson(url, body) {
    return send(url, { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
  }

  function option(value, label, selected) {
    var item = document.createElement("option");
    item.value = value;
    item.textContent = label;
    item.selected = Boolean(selected);
    return item;
  }

  function cell(tag, text) {
    var item = document.createElement(tag);
    item.textContent = text;
    return item;
  }

  function renderRows(table) {
    var grid = element("csv-rows");
    grid.querySelectorAll("thead, tbody").forEach(function (part) { part.remove(); });
    var head = grid.createTHead().insertRow();
    table.header.forEach(function (name) { head.appendChild(cell("th", name)); });
    var body = grid.createTBody();
    table.rows.slice(0, 5).forEach(function (values) {
      var row = body.insertRow();
      values.forEach(function (value) { row.appendChild(cell("td", value)); });
    });
  }

  function unitSelect(metric, id) {
    var select = document.createElement("select");
    select.id = id;
    var found = state.metrics.find(function (item) { return item.code === metric; });
    (found ? found.accepted_units : []).forEach(function (unit) {
      select.appendChild(option(unit, unit, found && unit === found.unit));
    });
    return select;
  }

  function columnRow(name, index) {
    var row = document.createElement("tr");
    row.dataset.column = name;
    row.appendChild(cell("th", name));
    var metricCell = document.createElement("td");
    var metric = document.createElement("select");
    metric.id = "csv-metric-" + index;
    metric.setAttribute("aria-label", "Metric of column " + name);
    metric.appendChild(option("", "skip", true));
    state.metrics.forEach(function (item) { metric.appendChild(option(item.code, item.label, false)); });
    metricCell.appendChild(metric);
    var unitCell = document.createElement("td");
    metric.addEventListener("change", function () {
      unitCell.replaceChildren(unitSelect(metric.value, "csv-unit-" + index));
      unitCell.firstChild.setAttribute("aria-label", "Unit of column " + name);
    });
    row.appendChild(metricCell);
    row.appendChild(unitCell);
    return row;
  }

  function renderMapping(table) {
    var timestamp = element("csv-timestamp");
    timestamp.replaceChildren();
    table.header.forEach(function (name) {
      timestamp.appendChild(option(name, name, name in (table.date_formats || {})));
    });
    element("csv-timezone").value = root.dataset.timezone;
    element("csv-date-format-row").hidden = !(table.ambiguous_dates || []).length;
    var body = element("csv-columns").tBodies[0];
    body.replaceChildren();
    table.header.forEach(function (name, index) { body.appendChild(columnRow(name, index)); });
    element("csv-preset-choice").hidden = !table.preset;
    element("csv-preset-name").textContent = table.preset || "";
    element("csv-use-preset").checked = Boolean(table.preset);
    element("csv-mapping-fields").hidden = Boolean(table.preset);
    var saved = element("csv-saved");
    saved.replaceChildren(option("", "None: map the columns below", true));
    (table.saved_mappings || []).forEach(function (item) {
      saved.appendChild(option(String(item.id), item.name + (item.exact ? " (made for this file's columns)" : ""), false));
    });
    element("csv-saved-choice").hidden = !(table.saved_mappings || []).length;
    element("csv-save-result").textContent = "";
  }

  function savedMapping() {
    var chosen = element("csv-saved").value;
    return (state.table.saved_mappings || []).find(function (item) { return String(item.id) === chosen; });
  }

  function columnsMapping() {
    var columns = [];
    element("csv-columns").querySelectorAll("tbody tr").forEach(function (row) {
      var selects = row.querySelectorAll("select");
      if (selects[0].value) {
        columns.push({ column: row.dataset.column, metric: selects[0].value, unit: selects[1] ? selects[1].value : "" });
      }
    });
    var mapping = {
      layout: "wide",
      timestamp_column: element("csv-timestamp").value,
      timezone: element("csv-timezone").value,
      columns: columns
    };
    if (element("csv-date-format").value) {
      mapping.date_format = element("csv-date-format").value;
    }
    return mapping;
  }

  function mappingOrPreset() {
    if (state.table.preset && element("csv-use-preset").checked) {
      return { upload: state.upload, preset: state.table.preset };
    }
    var saved = savedMapping();
    return { upload: state.upload, mapping: saved ? saved.mapping : columnsMapping() };
  }

  function renderReport(report) {
    var box = element("csv-report");
    box.replaceChildren();
    var counts = Object.keys(report.counts_by_metric).map(function (metric) {
      var known = state.metrics.find(function (item) { return item.code === metric; });
      return report.counts_by_metric[metric] + " " + (known ? known.label.toLowerCase() : metric);
    });
    box.appendChild(cell("p", report.valid ? "Ready to import: " + (counts.join(", ") || "nothing") + "." : "This mapping cannot import the file: " + (report.error ? report.error.message : "")));
    box.appendChild(cell("p", report.rejected_count + " row(s) would be rejected."));
    if (report.rejected_rows.length) {
      var list = document.createElement("ul");
      report.rejected_rows.slice(0, 10).forEach(function (row) {
        list.appendChild(cell("li", "Line " + row.line + ": " + row.reason));
      });
      box.appendChild(list);
    }
    element("csv-start").disabled = !report.valid;
    element("csv-result").hidden = false;
  }

  element("csv-upload-form").addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var data = new FormData();
    data.append("file", element("csv-file").files[0]);
    send(root.dataset.uploadUrl, { method: "POST", body: data }).then(function (body) {
      state.upload = body.upload;
      state.table = body.tables[0];
      element("csv-shape").textContent = body.original_name + ": " + state.table.header.length + " columns, encoding " + state.table.encoding + ", separator \"" + state.table.delimiter + "\".";
      renderRows(state.table);
      renderMapping(state.table);
      element("csv-preview").hidden = false;
      element("csv-result").hidden = true;
    }).catch(function (error) { showError(error.message); });
  });

  element("csv-use-preset").addEventListener("change", function (event) {
    element("csv-mapping-fields").hidden = event.target.checked;
  });

  element("csv-saved").addEventListener("change", function () {
    element("csv-mapping-fields").hidden = Boolean(savedMapping());
  });

  element("csv-save-form").addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    var body = { name: element("csv-save-name").value, header: state.table.header, mapping: columnsMapping() };
    postJson(root.dataset.mappingsUrl, body).then(function (saved) {
      element("csv-save-result").textContent = "Saved as \u201c" + saved.name + "\u201d: it is offered for the next file with these columns.";
    }).catch(function (error) { showError(error.message); });
  });

  element("csv-mapping-form").addEventListener("submit", function (event) {
    event.preventDefault();
    showError("");
    postJson(root.dataset.validateUrl, mappingOrPreset()).then(renderReport).catch(function (error) { showError(error.message); });
  });

  element("csv-start").addEventListener("click", function () {
    showError("");
    postJson(root.dataset.importUrl, mappingOrPreset()).then(function (job) {
      window.location.assign(root.dataset.detailUrl + job.id + "/");
    }).catch(function (error) { showError(error.message); });
  });

  send(root.dataset.metricsUrl, { method: "GET" }).then(function (body) {
    state.metrics = body.metrics;
  }).catch(function (error) { showError(error.message); });
})();
