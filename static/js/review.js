// The review screen: its keys, and autosave that never drops a change.
//
// htmx does the requests: every save, action and refresh is an htmx request from the
// annotation form, its answer morphed into the form (idiomorph keeps focus and what is
// being typed) and its new version taken out of band. What is ours: the keymap, sending
// them one at a time in order (the next goes once the one before it is answered, so
// each names the version the one before it returned), and retrying until saved. Not
// htmx's hx-sync queue: htmx re-processes the form when it settles an answer, 20 ms
// after the swap, and when the form's classes differ from the last time (htmx-request
// while a save is out) it forgets what it kept on the element, the queue and its lock
// with it. A save sent just after an answer then let the next key's save go at once,
// naming the same version, refused as "changed elsewhere" (409), or a queued one was
// dropped and "Saving…" stayed. Saves send the whole state of the form (saves
// replace, they do not patch), so a save retried or queued sends the state as it is
// when it goes. A save that fails on the network or with a server error is sent again
// with backoff until it goes through; one the server refuses (changed elsewhere,
// invalid) shows why, with the fresh state.
(function () {
  "use strict";

  var root = document.getElementById("review");
  if (!root) return;

  var REQUEST = "x-eyeball-request";   // names each of our requests, to follow it
  var REFUSALS = [403, 404, 409, 422];  // answered with the panel and the reason
  var stateLine = document.getElementById("save-state");
  var pending = new Map();  // our requests not answered yet, in order, by id: {url, values, sent}
  var current = null;       // the one out (or waiting to be retried): the next waits for it
  var nextId = 1;
  var dirty = false;        // the form holds changes not sent yet
  var held = null;          // an action refused without the panel, sent with the next change
  var stopped = false;      // signed out or refused without the panel: wait for a key
  var retryDelay = 500;
  var debounceTimer = null;
  var refreshWanted = false;
  var askedNoCause = false;  // "done" with nothing marked was pressed once

  // A save's answer must not take what is being typed, nor close the history a lead
  // is reading.
  Idiomorph.defaults.ignoreActiveValue = true;
  Idiomorph.defaults.callbacks.beforeAttributeUpdated = function (name, node) {
    return !(name === "open" && node.id === "history");
  };

  function form() { return document.getElementById("annotation"); }
  function field(name) { return form().elements.namedItem(name); }

  function show(state, text) {
    stateLine.dataset.state = state;
    stateLine.textContent = text;
  }

  // A refresh of the panel does not hold up leaving the page.
  function waiting() {
    var count = 0;
    pending.forEach(function (request) { if (!request.refresh) count++; });
    return count;
  }

  function busy() { return dirty || waiting() > 0; }

  var typingInto = Eyeball.typingInto;

  function editing() {
    return typingInto(document.activeElement) && form().contains(document.activeElement);
  }

  function ours(detail) {
    var config = detail.requestConfig;
    return config && config.headers ? config.headers[REQUEST] || null : null;
  }

  function issue(id) {
    var request = pending.get(id);
    var headers = {};
    headers[REQUEST] = id;
    // A failure is handled when htmx reports the request's end (afterRequest), not here.
    htmx.ajax(request.refresh ? "GET" : "POST", request.url,
      { source: form(), headers: headers, values: request.values || undefined })
      .catch(function () {});
  }

  // The first request not sent goes, once none is out.
  function next() {
    if (current !== null) return;
    var first = null;
    pending.forEach(function (request, id) { if (first === null && !request.sent) first = id; });
    if (first === null) return;
    current = first;
    issue(first);
  }

  function send(url, values) {
    var id = String(nextId++);
    pending.set(id, { url: url, values: values || null, sent: false, save: !values && url === root.dataset.saveUrl });
    next();
  }

  // The panel again, as stored (a cause was added elsewhere): never over unsaved work.
  function refresh() {
    if (busy() || editing()) { refreshWanted = true; return; }
    refreshWanted = false;
    var queued = false;
    pending.forEach(function (request) { if (request.refresh) queued = true; });
    if (queued) return;
    var id = String(nextId++);
    pending.set(id, { url: root.dataset.annotationUrl, values: null, sent: false, refresh: true });
    next();
  }

  // The change waiting for its debounce goes now (before an action, so they keep their
  // order). A save still queued will carry it: values are read when a request goes.
  function flush() {
    clearTimeout(debounceTimer);
    stopped = false;
    if (held) { var action = held; held = null; send(action.url, action.values); }
    if (!dirty) return;
    dirty = false;
    var queued = false;
    pending.forEach(function (request) { if (request.save && !request.sent) queued = true; });
    if (!queued) send(root.dataset.saveUrl);
  }

  function changed(delay) {
    if (askedNoCause) askNoCause(false);
    dirty = true;
    show("saving", Eyeball.gettext("Saving…"));
    clearTimeout(debounceTimer);
    if (delay) debounceTimer = setTimeout(flush, delay); else flush();
  }

  function queueAction(url, extra) {
    show("saving", Eyeball.gettext("Saving…"));
    flush();
    send(url, extra || {});
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt !== form()) return;
    var id = ours(event.detail);
    if (id === null) { event.preventDefault(); return; }  // every request here is ours
    var request = pending.get(id);
    if (!request) { event.preventDefault(); return; }  // dropped by a refusal meanwhile
    request.sent = true;
  });

  document.addEventListener("htmx:beforeOnLoad", function (event) {
    var detail = event.detail;
    if (detail.elt !== form() || ours(detail) === null) return;
    var redirect = detail.xhr.getResponseHeader("HX-Redirect");
    if (redirect && redirect.indexOf(root.dataset.signInUrl) === 0) {
      // Signed out meanwhile: nothing was saved; keep the change for after sign-in.
      event.preventDefault();
    }
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    if (detail.elt !== form()) return;
    var id = ours(detail);
    if (id === null || !pending.has(id)) return;
    var status = detail.xhr.status;
    if (pending.get(id).refresh) {
      // Nor when its answer comes back while someone started typing or saving here.
      if (status >= 400 || busy() || editing()) { detail.shouldSwap = false; refreshWanted = status < 400; }
      return;
    }
    if (status >= 400) {
      var panel = String(detail.serverResponse).indexOf('id="annotation"') !== -1;
      if (panel && REFUSALS.indexOf(status) !== -1) {
        // Refused: what is stored now replaces the screen, with the reason. Unsent
        // edits were made on the refused basis, so they are not sent blindly either.
        detail.shouldSwap = true;
        detail.isError = false;
        dirty = false;
        clearTimeout(debounceTimer);
        pending.forEach(function (request, other) { if (other !== id && !request.sent) pending.delete(other); });
        pending.get(id).refused = status;
      }
      return;
    }
    // Saved. With more on its way, take only the new version: the form already shows
    // what those requests will send. (What is being typed survives a morph.)
    if (dirty || waiting() > 1) detail.swapOverride = "none";
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.elt !== form()) return;
    var offer = form().querySelector("[data-use-cause]");
    var typing = document.activeElement && document.activeElement.id === "new-cause";
    if (offer && !typing) offer.focus();
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail;
    if (detail.elt !== form()) return;
    var id = ours(detail);
    var request = id === null ? null : pending.get(id);
    if (!request) return;
    var status = detail.xhr.status;
    if (request.refresh) {
      pending.delete(id);
      setTimeout(answered, 0);
      return;
    }
    if (status === 0 || status >= 500) {
      // Not stored: the same request goes again, with the form's state by then; the
      // ones after it still wait for it.
      request.sent = false;
      show("failed", Eyeball.gettext("Failed — retrying"));
      setTimeout(function () {
        if (pending.has(id)) issue(id); else answered();
      }, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 4000);
      return;
    }
    retryDelay = 500;
    pending.delete(id);
    // The next goes once htmx has let go of this one (it does so after this event).
    setTimeout(answered, 0);
    var redirect = detail.xhr.getResponseHeader("HX-Redirect");
    if (request.refused) {
      show("refused", request.refused === 409 ? Eyeball.gettext("Not saved: changed elsewhere — fresh state shown") : Eyeball.gettext("Not saved — see the message"));
    } else if (status >= 400 || (redirect && redirect.indexOf(root.dataset.signInUrl) === 0)) {
      // Not stored, and not ours to retry blindly (signed out, an expired form token...):
      // the change is kept and sent with the next key.
      if (request.save) dirty = true; else held = request;
      stopped = true;
      show("failed", status >= 400
        ? Eyeball.gettext("Not saved (%(status)s) — reload the page, then redo the last change", { status: status })
        : Eyeball.gettext("Not saved: you are signed out — sign in again in another tab, then press a key here"));
      return;
    } else if (redirect) {
      // Done and on to the next error: htmx follows the redirect.
      pending.clear();
      dirty = false;
      show("saved", Eyeball.gettext("Saved"));
      return;
    } else if (!stopped) {
      show(busy() ? "saving" : "saved", busy() ? Eyeball.gettext("Saving…") : Eyeball.gettext("All changes saved"));
    }
  });

  function answered() {
    current = null;
    next();
    if (refreshWanted && current === null && !busy()) refresh();
  }

  // A cause added elsewhere (the live stream's "cause" event) refreshes the panel.
  document.addEventListener("htmx:sseMessage", function (event) {
    if (event.target.id === "cause-events") refresh();
  });

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
    // The colon is the reader's (Chinese writes a full-width one).
    line.replaceChildren(strong, Eyeball.gettext(": ") + (box.dataset.description || Eyeball.gettext("no definition yet (leads add one on the causes page)")));
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
    if (document.getElementById("shortcuts").open) return;
    var el = Eyeball.keyTarget(event);
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
      else if (back) { show("saving", Eyeball.gettext("Saving before going back…")); waitThen(function () { window.location.assign(back.href); }); }
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

  // Waits for the saves to be answered, which an event cannot say: polled.
  function waitThen(callback) {
    if (!busy()) { callback(); return; }
    setTimeout(function () { waitThen(callback); }, 100);
  }

  document.addEventListener("focusout", function () {
    if (refreshWanted && !busy()) setTimeout(function () {
      if (refreshWanted && !busy() && !editing()) refresh();
    }, 0);
  });

  // Shown in the page (and waited for by tests): live updates reach this screen.
  document.addEventListener("htmx:sseOpen", function () { root.dataset.live = "true"; });
  document.addEventListener("htmx:sseError", function () { root.dataset.live = "false"; });

  root.dataset.ready = "true";  // browser tests wait for this before pressing keys

  window.addEventListener("beforeunload", function (event) {
    if (busy()) { event.preventDefault(); event.returnValue = ""; }
  });
})();
