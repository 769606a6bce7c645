// Riskwatch dashboard: the live alert feed (server-sent events), ack in
// place, and keyboard shortcuts. Everything works without it except the
// live feed.
"use strict";
(function () {
  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }
  var csrf = meta("csrf-token");
  var readOnly = meta("read-only") === "1";

  // "/" focuses the search; Escape leaves it.
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA");
    if (e.key === "/" && !typing) {
      var q = document.getElementById("q");
      if (q) { e.preventDefault(); q.focus(); q.select(); }
    } else if (e.key === "Escape" && typing) {
      t.blur();
    }
  });

  // The filters apply on "Apply" (or Enter), not as a menu changes: a
  // page that reloads under the keyboard of someone choosing is lost
  // (WCAG 3.2.2).

  function who() {
    var n = meta("user-name") || localStorage.getItem("riskwatch-name") || "";
    if (!n) {
      n = (window.prompt("Your name, recorded on the acknowledgement:") || "").trim();
    }
    if (n) { localStorage.setItem("riskwatch-name", n); }
    return n;
  }

  function ack(btn) {
    var by = who();
    if (!by) { return; }
    btn.disabled = true;
    var body = new URLSearchParams({ alert_id: btn.getAttribute("data-alert"), by: by });
    fetch(btn.getAttribute("data-ack"), {
      method: "POST", credentials: "same-origin", body: body,
      headers: { "X-CSRF-Token": csrf, "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (j) { return { ok: r.ok, j: j }; });
    }).then(function (res) {
      var li = btn.closest("li");
      var st = li.querySelector(".status");
      if (res.ok) {
        st.innerHTML = "";
        st.appendChild(pill(res.j.status || "acknowledged"));
        btn.remove();
      } else {
        btn.disabled = false;
        st.textContent = res.j.error || "failed";
      }
    }).catch(function () { btn.disabled = false; });
  }

  document.addEventListener("click", function (e) {
    var b = e.target.closest && e.target.closest("button.ack");
    if (b) { ack(b); }
  });

  function pill(s) {
    var p = document.createElement("span");
    p.className = "pill st-" + s;
    p.textContent = s;
    return p;
  }

  function el(tag, cls, text) {
    var x = document.createElement(tag);
    if (cls) { x.className = cls; }
    if (text !== undefined) { x.textContent = text; }
    return x;
  }

  function fmtTime(iso) {
    var d = new Date(iso);
    // As the server writes times: UTC, 24-hour.
    return d.toLocaleString("en-US", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      hour12: false, timeZone: "UTC" }) + " UTC";
  }

  function alertItem(a) {
    var li = el("li", "alert-item new");
    li.setAttribute("data-customer", a.customer);
    var sev = (a.severity || "").replace("_", "-");
    li.appendChild(el("span", "badge tier-" + sev, a.severity));
    li.appendChild(el("span", "what", a.type));
    var link = el("a", "who", a.name || a.customer);
    link.href = a.url;
    li.appendChild(link);
    li.appendChild(el("span", "score", "score " + Math.round(a.previous_score) + "→" + Math.round(a.score)));
    li.appendChild(el("span", "owner", a.owner || "unassigned"));
    var t = el("time", "", fmtTime(a.time));
    t.setAttribute("datetime", a.time);
    li.appendChild(t);
    var st = el("span", "status");
    if (a.status) { st.appendChild(pill(a.status)); }
    li.appendChild(st);
    if (a.can_ack && !readOnly) {
      var b = el("button", "ack", "Acknowledge");
      b.type = "button";
      b.setAttribute("data-ack", a.url + "/ack");
      b.setAttribute("data-alert", a.id);
      li.appendChild(b);
    }
    return li;
  }

  var state = document.getElementById("live-state");
  var feed = document.getElementById("feed");
  if (state && feed && window.EventSource) {
    var owner = state.getAttribute("data-owner");
    var src = new EventSource("/ui/alerts/events" + (owner ? "?owner=" + encodeURIComponent(owner) : ""));
    var MAX = 200;
    src.onopen = function () { state.textContent = "Live: new alerts appear below as riskd publishes them."; state.className = "live on"; };
    src.onerror = function () { state.textContent = "The live feed is reconnecting…"; state.className = "live"; };
    src.addEventListener("alert", function (e) {
      var a = JSON.parse(e.data);
      var empty = feed.querySelector(".empty");
      if (empty) { empty.remove(); }
      feed.insertBefore(alertItem(a), feed.firstChild);
      while (feed.children.length > MAX) { feed.removeChild(feed.lastChild); }
    });
    src.addEventListener("reload", function () { src.close(); window.location.reload(); });
  }
})();
