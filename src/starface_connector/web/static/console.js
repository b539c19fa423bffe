// Live updates for the agent board, the agent's own page and a running import.
// Plain EventSource: the server sends what changed; nothing else runs in the browser.
(function () {
  "use strict";

  function setState(live) {
    var note = document.getElementById("live-state");
    if (note) note.textContent = live ? note.dataset.live : note.dataset.offline;
  }

  function setDnd(cell, on) {
    var marker = cell.querySelector(".dnd");
    if (marker) marker.hidden = !on;
  }

  function setStatus(cell, code, label, icon, kind) {
    var badge = cell.querySelector(".status");
    badge.className = "status " + kind + "-" + code.toLowerCase();
    badge.dataset.code = code;
    badge.querySelector(".icon").textContent = icon;
    badge.querySelector(".label").textContent = label;
  }

  function recount(table) {
    var counts = {};
    table.querySelectorAll("tbody .status").forEach(function (badge) {
      counts[badge.dataset.code] = (counts[badge.dataset.code] || 0) + 1;
    });
    document.querySelectorAll("[data-count]").forEach(function (node) {
      node.textContent = String(counts[node.dataset.count] || 0);
    });
  }

  function newRow(table, agent) {
    var row = document.createElement("tr");
    row.dataset.login = agent.login;
    var cells = ["name", "login", "acd", "phone", "groups"].map(function (name) {
      var cell = document.createElement("td");
      cell.className = name;
      row.appendChild(cell);
      return cell;
    });
    cells[0].textContent = agent.name;
    var link = document.createElement("a");
    link.href = "/users/" + encodeURIComponent(agent.login);
    link.textContent = agent.login;
    cells[1].appendChild(link);
    [cells[2], cells[3]].forEach(function (cell) {
      var badge = document.createElement("span");
      var icon = document.createElement("span");
      var label = document.createElement("span");
      icon.className = "icon";
      icon.setAttribute("aria-hidden", "true");
      label.className = "label";
      badge.className = "status";
      badge.append(icon, " ", label);
      cell.appendChild(badge);
    });
    var marker = document.createElement("span");
    marker.className = "dnd";
    marker.hidden = true;
    marker.textContent = "⊖ " + table.dataset.dndLabel;
    cells[3].append(" ", marker);
    var empty = table.querySelector("tbody tr.empty");
    if (empty) empty.remove();
    table.tBodies[0].appendChild(row);
    return row;
  }

  function follow(url, onAgents) {
    var source = new EventSource(url);
    source.addEventListener("ready", function () { setState(true); });
    source.addEventListener("agents", function (message) { onAgents(JSON.parse(message.data)); });
    source.addEventListener("reload", function () { source.close(); window.location.reload(); });
    source.onerror = function () { setState(false); };
    return source;
  }

  var board = document.getElementById("board");
  if (board) {
    follow(board.dataset.stream, function (change) {
      change.agents.forEach(function (agent) {
        var row = board.querySelector('tr[data-login="' + CSS.escape(agent.login) + '"]');
        if (!row) {
          if (board.dataset.filtered === "yes") return; // not part of this view
          row = newRow(board, agent);
        }
        row.querySelector("td.name").textContent = agent.name;
        row.querySelector("td.groups").textContent = agent.groups.join(", ");
        setStatus(row.querySelector("td.acd"), agent.acd, agent.acdLabel, agent.acdIcon, "acd");
        setStatus(row.querySelector("td.phone"), agent.phone, agent.phoneLabel, agent.phoneIcon, "phone");
        setDnd(row.querySelector("td.phone"), agent.dnd);
        row.classList.remove("changed");
        void row.offsetWidth; // restart the highlight
        row.classList.add("changed");
      });
      change.gone.forEach(function (login) {
        var row = board.querySelector('tr[data-login="' + CSS.escape(login) + '"]');
        if (row) row.remove();
      });
      recount(board);
    });
  }

  var me = document.getElementById("me");
  if (me) {
    follow(me.dataset.stream, function (change) {
      change.agents.forEach(function (agent) {
        if (agent.login !== me.dataset.login) return;
        setStatus(document.getElementById("my-acd"), agent.acd, agent.acdLabel, agent.acdIcon, "acd");
        setStatus(document.getElementById("my-phone"), agent.phone, agent.phoneLabel, agent.phoneIcon, "phone");
        setDnd(document.getElementById("my-phone"), agent.dnd);
        document.querySelectorAll("form.buttons button").forEach(function (button) {
          button.setAttribute("aria-pressed", button.value === agent.acd ? "true" : "false");
        });
      });
    });
  }

  var progress = document.getElementById("import-progress");
  if (progress) {
    var source = new EventSource(progress.dataset.stream);
    source.addEventListener("progress", function (message) {
      var state = JSON.parse(message.data);
      var bar = document.getElementById("import-bar");
      bar.max = Math.max(state.total, 1);
      bar.value = state.done;
      document.getElementById("import-phase").textContent =
        state.phase === "apply" ? progress.dataset.apply : progress.dataset.fetch;
      document.getElementById("import-count").textContent = state.done + " / " + state.total;
      if (!state.running) { source.close(); window.location.reload(); }
    });
  }
})();
