// The review screen: keys, and autosave that never drops a change.
//
// Every save sends the whole state of the annotation form (saves replace, they do not
// patch), so the pending queue only needs "the latest state is not saved yet" plus
// the explicit actions (undo, new cause). Requests go one at a time, each naming the
// version the previous one returned. A save that fails on the network or with a
// server error stays pending and is retried with backoff until it goes through; a
// save the server refuses (changed elsewhere, invalid) shows why with the fresh state.
(function () {
  "use strict";

  var root = document.getElementById("review");
  if (!root) return;

  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["x-csrftoken"] || "";
  var stateLine = document.getElementById("save-state");
  var dirty = false;        // the form holds changes not sent yet
  var inflight = false;
  var actions = [];         // explicit requests waiting their turn: {url, extra}
  var retryDelay = 500;
  var retryTimer = null;
  var debounceTimer = null;
  var refreshWanted = false;
  var askedNoCause = false;  // "done" with nothing marked was pressed once

  function form() { return document.getElementById("annotation"); }
  function field(name) { return form().querySelector('[name="' + name + '"]'); }

  function show(state, text) {
    stateLine.dataset.state = state;
    stateLine.textContent = text;
  }

  function busy() { return dirty || inflight || actions.length > 0; }

  function typingInto(el) {
    if (!el || !el.closest) return false;
    if (el.matches && el.matches("input[type=checkbox], input[type=radio]")) return false;
    return Boolean(el.closest("input, textarea, select, [contenteditable='true']"));
  }

  function changed(delay) {
    if (askedNoCause) askNoCause(false);
    dirty = true;
    show("saving", "Saving…");
    clearTimeout(debounceTimer);
    if (delay) debounceTimer = setTimeout(pump, delay); else pump();
  }

  function swapForm(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    var fresh = holder.querySelector("#annotation");
    if (!fresh) return;
    var focusedId = document.activeElement && form().contains(document.activeElement) ? document.activeElement.id : null;
    // Enter in the new-cause field blurs it, so focus there means the user came back
    // to type another name (perhaps not a letter yet): it stays theirs through the swap.
    var typedCause = focusedId === "new-cause" ? document.activeElement.value : null;
    // A lead restoring from the history reads the result there: keep it open.
    var history = document.getElementById("history");
    var freshHistory = fresh.querySelector("#history");
    if (history && freshHistory && history.open) freshHistory.open = true;
    form().replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh);
    var next = fresh.querySelector("[data-use-cause]") || (focusedId && document.getElementById(focusedId));
    if (typedCause !== null && fresh.querySelector("#new-cause")) {
      var again = fresh.querySelector("#new-cause");
      again.value = typedCause;
      again.focus();
    } else if (next && next.id !== "new-cause") next.focus();
  }

  function versionFrom(html) {
    var match = /name="version" value="(\d+)"/.exec(html);
    return match ? match[1] : null;
  }

  function pump() {
    if (inflight) return;
    clearTimeout(retryTimer);
    var action = actions[0];
    if (!action && !dirty) {
      if (refreshWanted) { refreshWanted = false; window.htmx.trigger(form(), "sse:cause"); }
      return;
    }
    var url = action ? action.url : root.dataset.saveUrl;
    var body = new URLSearchParams(new FormData(form()));
    if (action && action.extra) Object.keys(action.extra).forEach(function (k) { body.set(k, action.extra[k]); });
    var sentDirty = !action;
    if (sentDirty) dirty = false;
    inflight = true;
    show("saving", "Saving…");
    fetch(url, {
      method: "POST",
      headers: { "x-csrftoken": csrf, "HX-Request": "true", "Content-Type": "application/x-www-form-urlencoded" },
      body: body,
      credentials: "same-origin",
    }).then(function (response) {
      if (response.status >= 500) throw new Error("server error " + response.status);
      return response.text().then(function (html) {
        inflight = false;
        retryDelay = 500;
        if (action) actions.shift();
        var redirect = response.headers.get("HX-Redirect");
        var panel = html.indexOf('id="annotation"') !== -1;
        if (response.ok && redirect && redirect.indexOf(root.dataset.signInUrl) === 0) {
          // Signed out meanwhile: nothing was saved; keep the change for after sign-in.
          if (sentDirty) dirty = true;
          show("failed", "Not saved: you are signed out — sign in again in another tab, then press a key here");
          return;
        }
        if (response.ok && redirect) {
          show("saved", "Saved");
          window.location.assign(redirect);
          return;
        }
        if (response.ok) {
          var editing = typingInto(document.activeElement) && form().contains(document.activeElement);
          if (dirty || actions.length || (!action && editing)) {
            var version = versionFrom(html);
            if (version !== null) field("version").value = version;
          } else {
            swapForm(html);
          }
          show(busy() ? "saving" : "saved", busy() ? "Saving…" : "All changes saved");
        } else if (panel && (response.status === 409 || response.status === 422 || response.status === 403 || response.status === 404)) {
          // Refused: what is stored now replaces the screen, with the reason. Unsent
          // edits were made on the refused basis, so they are not sent blindly either.
          dirty = false;
          actions = [];
          swapForm(html);
          show("refused", response.status === 409 ? "Not saved: changed elsewhere — fresh state shown" : "Not saved — see the message");
        } else {
          // A refusal without the panel (an expired form token...): keep the change and
          // say so; it is sent again with the next change.
          if (sentDirty) dirty = true;
          if (action) actions.unshift(action);
          show("failed", "Not saved (" + response.status + ") — reload the page, then redo the last change");
          return;
        }
        pump();
      });
    }).catch(function () {
      inflight = false;
      if (sentDirty) dirty = true;
      show("failed", "Failed — retrying");
      retryTimer = setTimeout(pump, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 4000);
    });
  }

  function queueAction(url, extra) {
    actions.push({ url: url, extra: extra || null });
    show("saving", "Saving…");
    clearTimeout(debounceTimer);
    pump();
  }

  // Done with nothing marked is most often a stray Enter: ask once, in the page; the
  // second Enter (or click) means it. Any other change takes the question back.
  function nothingMarked() {
    return !form().querySelector("input[name=cause]:checked") && !field("label_error").checked;
  }

  function askNoCause(on) {
    askedNoCause = on;
    document.getElementById("no-cause-ask").hidden = !on;
  }

  function finish(status) {
    if (status === "done" && !askedNoCause && nothingMarked()) { askNoCause(true); return; }
    askNoCause(false);
    field("status").value = status;
    field("advance").value = "next";
    changed(0);
  }

  function toggleCause(box) {
    var group = box.closest("fieldset");
    if (box.checked && group && group.dataset.single === "true") {
      group.querySelectorAll("input[name=cause]").forEach(function (other) {
        if (other !== box) other.checked = false;
      });
    }
  }

  // A keyboard user never sees a tooltip: the cause last focused or toggled is defined
  // in the sidebar's always-visible head.
  function define(box) {
    var line = document.getElementById("cause-definition");
    var name = box.closest("label").querySelector("span");
    var strong = document.createElement("strong");
    strong.textContent = name ? name.textContent : "";
    line.replaceChildren(strong, ": " + (box.dataset.description || "no definition yet (leads add one on the causes page)"));
  }

  // In the pipeline's group a module's key blames it alone, the usual case; Shift+key
  // adds a second module. The "ambiguous" mark and every other group toggle as usual.
  function pressCause(box, adding) {
    var group = box.closest("fieldset");
    if (!adding && box.hasAttribute("data-blames") && group && group.dataset.blame === "true") {
      var blamed = Array.prototype.slice.call(group.querySelectorAll("input[data-blames]"));
      var alone = box.checked && blamed.every(function (other) { return other === box || !other.checked; });
      blamed.forEach(function (other) { other.checked = false; });
      box.checked = !alone;
    } else {
      box.checked = !box.checked;
      toggleCause(box);
    }
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!form() || !form().contains(el)) return;
    if (el.name === "new_cause" || el.name === "skip_reason") return;
    if (el.name === "cause") { toggleCause(el); define(el); }
    changed(el.tagName === "TEXTAREA" || el.type === "text" ? 300 : 0);
  });

  document.addEventListener("focusin", function (event) {
    var el = event.target;
    if (el.name === "cause" && form() && form().contains(el)) define(el);
  });

  document.addEventListener("input", function (event) {
    var el = event.target;
    if (!form() || !form().contains(el)) return;
    if (el.name === "note") changed(800);
    if (el.name === "suggested_label" && el.value && !field("label_error").checked) field("label_error").checked = true;
  });

  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-finish], [data-undo], [data-use-cause], [data-add-anyway], [data-restore], [data-zoom], [data-accept-carried]");
    if (!el) return;
    if (el.hasAttribute("data-accept-carried")) takeCarried();
    else if (el.dataset.finish) finish(el.dataset.finish);
    else if (el.hasAttribute("data-undo")) undo();
    else if (el.dataset.useCause) {
      var box = form().querySelector('input[name=cause][value="' + el.dataset.useCause + '"]');
      field("new_cause").value = "";
      if (box && !box.checked) { box.checked = true; toggleCause(box); changed(0); }
    } else if (el.hasAttribute("data-add-anyway")) {
      queueAction(root.dataset.newCauseUrl, { allow_similar: "1" });
    } else if (el.dataset.restore) {
      // Someone else's annotation is restored over its own version, not this form's.
      var restore = { event: el.dataset.restore };
      if (el.dataset.restoreVersion) restore.version = el.dataset.restoreVersion;
      queueAction(root.dataset.restoreUrl, restore);
    } else if (el.hasAttribute("data-zoom")) Eyeball.zoom();
  });

  function undo() { queueAction(root.dataset.undoUrl); }

  // An earlier run's verdict on this sample, offered while nothing is marked: taking it
  // ticks its causes (and label error) as this annotator's own, saved like any change.
  function takeCarried() {
    var carried = document.getElementById("carried");
    if (!carried) return;
    carried.dataset.causeIds.split(",").filter(Boolean).forEach(function (id) {
      var box = form().querySelector('input[name=cause][value="' + CSS.escape(id) + '"]');
      if (box && !box.checked) { box.checked = true; toggleCause(box); }
    });
    if (carried.dataset.labelError) {
      field("label_error").checked = true;
      if (carried.dataset.suggestedLabel && !field("suggested_label").value) {
        field("suggested_label").value = carried.dataset.suggestedLabel;
      }
    }
    carried.remove();
    changed(0);
  }

  // Capture phase: runs before the site-wide layer, which then sees defaultPrevented.
  document.addEventListener("keydown", function (event) {
    var el = event.target;
    if (document.getElementById("shortcuts").open) return;
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "z") {
      if (typingInto(el)) return;  // the field's own undo
      event.preventDefault();
      undo();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;

    if (typingInto(el)) {
      if (event.key !== "Enter" || el.tagName === "TEXTAREA") return;
      event.preventDefault();
      if (el.name === "new_cause") {
        // The name goes with the request and the field empties at once, so a second
        // name typed before the answer arrives is the user's, and survives the swap.
        if (el.value.trim()) queueAction(root.dataset.newCauseUrl, { new_cause: el.value });
        el.value = "";
        el.blur();
      } else if (el.name === "skip_reason") {
        el.blur();
        finish("skipped");
      } else {
        el.blur();
        changed(0);
      }
      return;
    }
    if (el && el.closest && el.closest("button, a, summary, select")) {
      if (event.key === "Enter" || event.key === " ") return;  // activate what has focus
    }
    var key = event.key;
    var handled = true;
    if (key === "Enter" || key === "ArrowRight") finish("done");
    else if (key === "ArrowLeft") {
      var back = document.getElementById("go-back");
      if (back && !busy()) window.location.assign(back.href);
      else if (back) { show("saving", "Saving before going back…"); waitThen(function () { window.location.assign(back.href); }); }
    } else if (key === "l") {
      field("label_error").checked = true;
      changed(0);
      field("suggested_label").focus();
    } else if (key === "n") field("note").focus();
    else if (key === "c" && field("new_cause")) field("new_cause").focus();
    else if (key === "s") field("skip_reason").focus();
    else if (key === "u") finish("unsure");
    else if (key === "z") Eyeball.zoom();
    // A cause that had the key "a" before it was reserved keeps it.
    else if (key === "a" && document.getElementById("carried") &&
             !form().querySelector('input[data-cause-key="a"]')) takeCarried();
    else {
      var wanted = key.toLowerCase();
      // Shift+1 types "!": the key's place on the keyboard says which digit it was.
      if (event.shiftKey && /^Digit[1-9]$/.test(event.code || "")) wanted = event.code.slice(5);
      var box = form().querySelector('input[data-cause-key="' + CSS.escape(wanted) + '"]');
      if (box) { pressCause(box, event.shiftKey); define(box); changed(0); } else handled = false;
    }
    if (handled) event.preventDefault();
  }, true);

  function waitThen(callback) {
    if (!busy()) { callback(); return; }
    setTimeout(function () { waitThen(callback); }, 100);
  }

  // A cause added elsewhere refreshes the panel, but never over unsaved work here.
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.target !== form()) return;
    if (busy() || (typingInto(document.activeElement) && form().contains(document.activeElement))) {
      event.preventDefault();
      refreshWanted = true;
    }
  });
  // ...nor when its answer comes back while someone started typing or saving here.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.target !== form()) return;
    if (busy() || (typingInto(document.activeElement) && form().contains(document.activeElement))) {
      event.detail.shouldSwap = false;
      refreshWanted = true;
    }
  });
  document.addEventListener("focusout", function () {
    if (refreshWanted && !busy()) setTimeout(pump, 0);
  });

  // Shown in the page (and waited for by tests): live updates reach this screen.
  document.addEventListener("htmx:sseOpen", function () { root.dataset.live = "true"; });
  document.addEventListener("htmx:sseError", function () { root.dataset.live = "false"; });

  root.dataset.ready = "true";  // browser tests wait for this before pressing keys

  window.addEventListener("beforeunload", function (event) {
    if (busy()) { event.preventDefault(); event.returnValue = ""; }
  });
})();
